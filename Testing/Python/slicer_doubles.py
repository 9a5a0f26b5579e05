"""Test doubles for what slicer-core lacks and the module and plugins use: ``qt.QSettings``,
``slicer.app``, ``slicer.i18n``, ``slicer.ScriptedLoadableModule``, ``slicer.parameterNodeWrapper``,
``slicer.qSlicerDICOMExportable``, ``DICOMLib`` (DICOMPlugin, DICOMLoadable) and a pydicom-backed
``slicer.dicomDatabase``. Everything else (MRML, segmentations, subject hierarchy, slicer.util)
is slicer-core's real C++ and Python. Nothing here ships with the extension.

The doubles follow the real classes' contracts as far as the code under test relies on them
(names, signatures, return types: e.g. ``fileValue`` returns ``""`` for a missing tag,
``fileForInstance`` ``""`` for an unknown instance).
"""

from __future__ import annotations

import sys
import types
import unittest
from pathlib import Path
from typing import Any

import pydicom
from slicer_scene import import_slicer, new_scene


# -- qt ---------------------------------------------------------------------------------------
class QSettings:
    """``qt.QSettings`` over one dictionary shared by all instances (like one settings file)."""

    store: dict[str, Any] = {}

    def value(self, key: str, default: Any = None) -> Any:
        return self.store.get(key, default)

    def setValue(self, key: str, value: Any) -> None:  # noqa: N802 - Qt's name
        self.store[key] = value

    def contains(self, key: str) -> bool:
        return key in self.store

    def remove(self, key: str) -> None:
        self.store.pop(key, None)


# -- slicer.ScriptedLoadableModule and friends --------------------------------------------------
class ScriptedLoadableModule:
    def __init__(self, parent: Any) -> None:
        self.parent = parent


class ScriptedLoadableModuleLogic:
    def __init__(self, parent: Any = None) -> None:
        self.moduleName = type(self).__name__.removesuffix("Logic")

    def getParameterNode(self) -> Any:
        """Like the real one: a singleton vtkMRMLScriptedModuleNode tagged with the module name."""
        slicer = import_slicer()
        scene = slicer.mrmlScene
        node = scene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
        if node is None:
            node = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", self.moduleName)
            node.SetSingletonTag(self.moduleName)
        return node


class ScriptedLoadableModuleWidget:
    def __init__(self, parent: Any = None) -> None:
        self.parent = parent


class ScriptedLoadableModuleTest(unittest.TestCase):
    def delayDisplay(self, message: str, msec: int = 0) -> None:  # noqa: N802 - Slicer's name
        pass


def parameterNodeWrapper(cls: type) -> type:  # noqa: N802 - Slicer's name
    """Stand-in for Slicer's decorator: instances wrap a parameter node; annotated fields read
    their defaults (the real one stores them in the node; the logic under test does not)."""

    class Wrapped(cls):  # type: ignore[misc, valid-type]
        def __init__(self, node: Any) -> None:
            self.parameterNode = node

    Wrapped.__name__ = cls.__name__
    return Wrapped


class Choice:
    def __init__(self, choices: list[str]) -> None:
        self.choices = choices


class QSlicerDICOMExportable:
    """``slicer.qSlicerDICOMExportable``: properties and a tag map."""

    def __init__(self) -> None:
        self.name = ""
        self.tooltip = ""
        self.subjectHierarchyItemID = 0
        self.pluginClass = ""
        self.directory = ""
        self.confidence = 0.0
        self._tags: dict[str, str] = {}

    def tag(self, name: str) -> str:
        return self._tags.get(name, "")

    def setTag(self, name: str, value: str) -> None:  # noqa: N802 - Qt's name
        self._tags[name] = str(value)


# -- DICOM database -----------------------------------------------------------------------------
class PydicomDatabase:
    """``slicer.dicomDatabase`` (ctkDICOMDatabase) over files indexed with pydicom."""

    def __init__(self) -> None:
        self.instances: dict[str, str] = {}
        self.series: dict[str, list[str]] = {}
        self.studies: dict[str, list[str]] = {}
        self.patients_studies: dict[str, list[str]] = {}

    def insert(self, path: str | Path) -> None:
        path = str(path)
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        instance, series, study = str(dataset.SOPInstanceUID), str(dataset.SeriesInstanceUID), str(dataset.StudyInstanceUID)
        patient = str(dataset.get("PatientID", ""))
        self.instances[instance] = path
        files = self.series.setdefault(series, [])
        if path not in files:
            files.append(path)
        if series not in self.studies.setdefault(study, []):
            self.studies[study].append(series)
        if study not in self.patients_studies.setdefault(patient, []):
            self.patients_studies[patient].append(study)

    def importFolder(self, folder: str | Path) -> None:  # noqa: N802
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                try:
                    self.insert(path)
                except (pydicom.errors.InvalidDicomError, AttributeError):
                    continue

    def fileValue(self, path: str, tag: str) -> str:  # noqa: N802 - ctk's name
        group, element = (int(part, 16) for part in tag.split(","))
        try:
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
        except (OSError, pydicom.errors.InvalidDicomError):
            return ""
        element_ = dataset.get((group, element))
        if element_ is None or element_.VR == "SQ":
            return ""
        value = element_.value
        return "\\".join(str(v) for v in value) if isinstance(value, (list, pydicom.multival.MultiValue)) else str(value)

    def fileForInstance(self, uid: str) -> str:  # noqa: N802
        return self.instances.get(uid, "")

    def filesForSeries(self, uid: str, hits: int = -1) -> list[str]:  # noqa: N802
        files = list(self.series.get(uid, []))
        return files if hits < 0 else files[:hits]

    def seriesForStudy(self, uid: str) -> list[str]:  # noqa: N802
        return list(self.studies.get(uid, []))

    def studiesForPatient(self, patient: str) -> list[str]:  # noqa: N802
        return list(self.patients_studies.get(patient, []))

    def patients(self) -> list[str]:
        return list(self.patients_studies)


# -- DICOMLib -----------------------------------------------------------------------------------
class DICOMLoadable:
    def __init__(self) -> None:
        self.files: list[str] = []
        self.name = "Unknown"
        self.tooltip = "No further information available"
        self.warning = ""
        self.selected = False
        self.confidence = 0.5


class DICOMPlugin:
    """The parts of ``DICOMLib.DICOMPlugin`` our plugins use: tags, the examineFiles caching
    contract of examineForImport, and addSeriesInSubjectHierarchy (series item under its
    patient and study, named and tagged with the series UID as the real one does)."""

    def __init__(self) -> None:
        self.loadType = "Generic DICOM"
        self.loadableCache: dict[Any, Any] = {}
        self.tags = {
            "seriesDescription": "0008,103E",
            "seriesNumber": "0020,0011",
            "frameOfReferenceUID": "0020,0052",
            "seriesInstanceUID": "0020,000E",
            "modality": "0008,0060",
            "instanceUID": "0008,0018",
            "sopClassUID": "0008,0016",
        }

    def examineForImport(self, fileLists: list[list[str]]) -> list[Any]:  # noqa: N802, N803
        loadables = []
        for files in fileLists:
            key = tuple(files)
            if key not in self.loadableCache:
                self.loadableCache[key] = self.examineFiles(files)
            loadables += self.loadableCache[key]
        return loadables

    def examineFiles(self, files: list[str]) -> list[Any]:  # noqa: N802
        return []

    def addSeriesInSubjectHierarchy(self, loadable: Any, dataNode: Any) -> None:  # noqa: N802, N803
        slicer = import_slicer()
        database = slicer.dicomDatabase
        first = loadable.files[0]
        sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
        patient = database.fileValue(first, "0010,0020") or "Patient"
        study = database.fileValue(first, "0020,000D")
        series = database.fileValue(first, "0020,000E")
        item = sh.GetItemByDataNode(dataNode) or sh.CreateItem(sh.GetSceneItemID(), dataNode)
        uid_name = slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMUIDName()
        sh.SetItemUID(item, uid_name, series)
        slicer.vtkSlicerSubjectHierarchyModuleLogic.InsertDicomSeriesInHierarchy(sh, patient, study, series)
        sh.SetItemAttribute(item, "DICOM.ReferencedInstanceUIDs", " ".join(getattr(loadable, "referencedInstanceUIDs", [])))


def install(tmp_path: Path) -> Any:
    """A fresh scene (slicer-core) with every double installed; returns ``slicer``."""
    slicer = import_slicer()
    scene = new_scene()
    QSettings.store = {}
    qt = types.ModuleType("qt")
    qt.QSettings = QSettings  # type: ignore[attr-defined]
    sys.modules["qt"] = qt
    i18n = types.ModuleType("slicer.i18n")
    i18n.tr = lambda text: text  # type: ignore[attr-defined]
    i18n.translate = lambda context, text: text  # type: ignore[attr-defined]
    scripted = types.ModuleType("slicer.ScriptedLoadableModule")
    for cls in (ScriptedLoadableModule, ScriptedLoadableModuleLogic, ScriptedLoadableModuleWidget, ScriptedLoadableModuleTest):
        setattr(scripted, cls.__name__, cls)
    wrapper = types.ModuleType("slicer.parameterNodeWrapper")
    wrapper.parameterNodeWrapper = parameterNodeWrapper  # type: ignore[attr-defined]
    wrapper.Choice = Choice  # type: ignore[attr-defined]
    dicomlib = types.ModuleType("DICOMLib")
    dicomlib.DICOMPlugin = DICOMPlugin  # type: ignore[attr-defined]
    dicomlib.DICOMLoadable = DICOMLoadable  # type: ignore[attr-defined]
    for name, module in (("slicer.i18n", i18n), ("slicer.ScriptedLoadableModule", scripted), ("slicer.parameterNodeWrapper", wrapper)):
        sys.modules[name] = module
        setattr(slicer, name.split(".", 1)[1], module)
    sys.modules["DICOMLib"] = dicomlib
    slicer.qSlicerDICOMExportable = QSlicerDICOMExportable
    slicer.dicomDatabase = PydicomDatabase()
    slicer.app = types.SimpleNamespace(processEvents=lambda: None, temporaryPath=str(tmp_path), testingEnabled=lambda: True)
    slicer.modules.dicomPlugins = {}
    del scene
    return slicer

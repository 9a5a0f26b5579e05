"""Test doubles for what slicer-core (Slicer's C++ core and ``slicer/util.py`` from PyPI) lacks and
the module and plugins reach: ``qt`` (``QSettings``), ``ctk`` (``ctkDICOMIndexer``), ``slicer.app``,
``slicer.i18n``, ``slicer.ScriptedLoadableModule``, ``slicer.parameterNodeWrapper``, the Qt classes
``qSlicerDICOMExportable``, ``qSlicerDICOMLoadable`` and ``qSlicerSubjectHierarchyPluginHandler``,
DICOMLib's C++ ``vtkSlicerDICOMLoadable``, a pydicom-backed ``slicer.dicomDatabase``, and SlicerRT's
C++ logic behind its Python DICOM plugin. Everything else is real: MRML, segmentations, subject
hierarchy and slicer.util from slicer-core, and Slicer's own Python DICOMLib and DICOM plugins
(``slicer_sources``). Nothing here ships with the extension.

The doubles follow the real classes' contracts as far as the code under test relies on them
(names, signatures, return types: e.g. ``fileValue`` returns ``""`` for a missing tag or a
sequence, ``fileForInstance`` ``""`` for an unknown instance).
"""

from __future__ import annotations

import functools
import os
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


# -- Qt classes of Slicer's DICOM and subject hierarchy modules ---------------------------------
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

    def tags(self) -> dict[str, str]:
        return dict(self._tags)


class QSlicerDICOMLoadable:
    """``slicer.qSlicerDICOMLoadable`` (what SlicerRT's plugin returns): the loadable's properties
    and the copies from and to the C++ ``vtkSlicerDICOMLoadable``."""

    def __init__(self) -> None:
        self.name = ""
        self.tooltip = ""
        self.warning = ""
        self.files: list[str] = []
        self.selected = False
        self.confidence = 0.0
        self.referencedInstanceUIDs: list[str] = []

    def copyFromVtkLoadable(self, loadable: Any) -> None:  # noqa: N802 - Slicer's name
        self.name = loadable.GetName()
        self.tooltip = loadable.GetTooltip()
        self.warning = loadable.GetWarning()
        self.files = _strings(loadable.GetFiles())
        self.selected = loadable.GetSelected()
        self.confidence = loadable.GetConfidence()
        self.referencedInstanceUIDs = _strings(loadable.GetReferencedInstanceUIDs())


def _strings(array: Any) -> list[str]:
    return [array.GetValue(index) for index in range(array.GetNumberOfValues())]


@functools.cache
def vtk_dicom_loadable_class() -> type:
    """DICOMLib's C++ ``vtkSlicerDICOMLoadable`` (a vtkObject: it travels in a vtkCollection)."""
    import vtk

    class VtkSlicerDICOMLoadable(vtk.vtkObject):
        def __init__(self) -> None:
            super().__init__()
            self._name, self._tooltip, self._warning = "", "", ""
            self._files, self._references = vtk.vtkStringArray(), vtk.vtkStringArray()
            self._selected, self._confidence = False, 0.0

        def SetName(self, name: str) -> None:  # noqa: N802 - VTK's names below
            self._name = name

        def GetName(self) -> str:  # noqa: N802
            return self._name

        def GetTooltip(self) -> str:  # noqa: N802
            return self._tooltip

        def GetWarning(self) -> str:  # noqa: N802
            return self._warning

        def AddFile(self, path: str) -> None:  # noqa: N802
            self._files.InsertNextValue(path)

        def GetFiles(self) -> Any:  # noqa: N802
            return self._files

        def AddReferencedInstanceUID(self, uid: str) -> None:  # noqa: N802
            self._references.InsertNextValue(uid)

        def GetReferencedInstanceUIDs(self) -> Any:  # noqa: N802
            return self._references

        def SetSelected(self, selected: bool) -> None:  # noqa: N802
            self._selected = bool(selected)

        def GetSelected(self) -> bool:  # noqa: N802
            return self._selected

        def SetConfidence(self, confidence: float) -> None:  # noqa: N802
            self._confidence = float(confidence)

        def GetConfidence(self) -> float:  # noqa: N802
            return self._confidence

    return VtkSlicerDICOMLoadable


class SubjectHierarchyPluginHandler:
    """``qSlicerSubjectHierarchyPluginHandler.instance()``: the item-name options DICOMPlugin reads
    (Slicer's defaults)."""

    displayPatientIDInSubjectHierarchyItemName = True
    displayPatientBirthDateInSubjectHierarchyItemName = False
    displayStudyIDInSubjectHierarchyItemName = False
    displayStudyDateInSubjectHierarchyItemName = True

    @classmethod
    def instance(cls) -> SubjectHierarchyPluginHandler:
        return cls()


# -- DICOM database -----------------------------------------------------------------------------
class PydicomDatabase:
    """``slicer.dicomDatabase`` (ctkDICOMDatabase) over files indexed with pydicom. Headers are
    read once per file version (path, size, modification time)."""

    isOpen = True

    def __init__(self) -> None:
        self.instances: dict[str, str] = {}
        self.series: dict[str, list[str]] = {}
        self.studies: dict[str, list[str]] = {}
        self.patients_studies: dict[str, list[str]] = {}
        self._headers: dict[str, tuple[tuple[int, int], pydicom.Dataset]] = {}

    def _header(self, path: str) -> pydicom.Dataset | None:
        try:
            stat = os.stat(path)
            key = (stat.st_size, stat.st_mtime_ns)
            cached = self._headers.get(path)
            if cached is None or cached[0] != key:
                # Large values (pixel data, contour data) are deferred: read only when asked for.
                cached = (key, pydicom.dcmread(path, defer_size=1024))
                self._headers[path] = cached
        except (OSError, pydicom.errors.InvalidDicomError):
            return None
        return cached[1]

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
        dataset = self._header(path)
        element_ = dataset.get((group, element)) if dataset is not None else None
        if element_ is None or element_.VR == "SQ":
            return ""
        value = element_.value
        if isinstance(value, bytes):
            return ""
        return "\\".join(str(v) for v in value) if isinstance(value, (list, pydicom.multival.MultiValue)) else str(value)

    def fileValueExists(self, path: str, tag: str) -> bool:  # noqa: N802
        group, element = (int(part, 16) for part in tag.split(","))
        dataset = self._header(path)
        return dataset is not None and (group, element) in dataset

    def instanceValue(self, uid: str, tag: str) -> str:  # noqa: N802
        path = self.fileForInstance(uid)
        return self.fileValue(path, tag) if path else ""

    def fileForInstance(self, uid: str) -> str:  # noqa: N802
        return self.instances.get(uid, "")

    def seriesForFile(self, path: str) -> str:  # noqa: N802
        return next((series for series, files in self.series.items() if str(path) in files), "")

    def filesForSeries(self, uid: str, hits: int = -1) -> list[str]:  # noqa: N802
        files = list(self.series.get(uid, []))
        return files if hits < 0 else files[:hits]

    def seriesForStudy(self, uid: str) -> list[str]:  # noqa: N802
        return list(self.studies.get(uid, []))

    def studiesForPatient(self, patient: str) -> list[str]:  # noqa: N802
        return list(self.patients_studies.get(patient, []))

    def patients(self) -> list[str]:
        return list(self.patients_studies)


class CtkDICOMIndexer:
    """``ctk.ctkDICOMIndexer``: adds files to the (pydicom) database; done when it returns."""

    def addDirectory(self, database: PydicomDatabase, folder: str, copyFiles: bool = False) -> None:  # noqa: N802, N803
        database.importFolder(folder)

    def addFile(self, database: PydicomDatabase, path: str, copyFile: bool = False) -> None:  # noqa: N802, N803
        database.insert(path)

    def waitForImportFinished(self) -> None:  # noqa: N802
        pass


# -- SlicerRT's C++ (its Python plugin calls the module logic for everything) -----------------------
RT_KINDS = {
    "1.2.840.10008.5.1.4.1.1.481.2": "RTDOSE",
    "1.2.840.10008.5.1.4.1.1.481.5": "RTPLAN",
    "1.2.840.10008.5.1.4.1.1.481.8": "RTPLAN",
    "1.2.840.10008.5.1.4.1.1.481.3": "RTSTRUCT",
    "1.2.840.10008.5.1.4.1.1.481.1": "RTIMAGE",
}


class DicomRtImportExportLogic:
    """SlicerRT's ``vtkSlicerDicomRtImportExportModuleLogic.ExamineForLoad`` as far as the plugin's
    examine relies on it (SlicerRT ``DicomRtImportExport/Logic``): one loadable per RT file, named
    "<Series Number>: RTSTRUCT: <Structure Set Label>", confidence 1.0, selected, referencing the
    images of the first referenced series' Contour Image Sequence."""

    def ExamineForLoad(self, fileList: Any, loadables: Any) -> None:  # noqa: N802 - SlicerRT's name
        loadables.RemoveAllItems()
        loadable_class = vtk_dicom_loadable_class()
        for path in _strings(fileList):
            try:
                dataset = pydicom.dcmread(path, stop_before_pixels=True)
            except (OSError, pydicom.errors.InvalidDicomError):
                continue
            kind = RT_KINDS.get(str(dataset.get("SOPClassUID", "")))
            if kind is None:
                continue
            name = f"{dataset.SeriesNumber}: " if str(dataset.get("SeriesNumber", "")) else ""
            name += kind
            label = str(dataset.get("StructureSetLabel", "")) if kind == "RTSTRUCT" else ""
            loadable = loadable_class()
            loadable.SetName(name + (f": {label}" if label else ""))
            loadable.AddFile(path)
            loadable.SetConfidence(1.0)
            loadable.SetSelected(True)
            for uid in _first_series_images(dataset) if kind == "RTSTRUCT" else []:
                loadable.AddReferencedInstanceUID(uid)
            loadables.AddItem(loadable)


def _first_series_images(dataset: pydicom.Dataset) -> list[str]:
    for frame in dataset.get("ReferencedFrameOfReferenceSequence", [])[:1]:
        for study in frame.get("RTReferencedStudySequence", [])[:1]:
            for series in study.get("RTReferencedSeriesSequence", [])[:1]:
                return [str(item.ReferencedSOPInstanceUID) for item in series.get("ContourImageSequence", [])]
    return []


class SlicerRtCommon:
    """SlicerRT's ``vtkSlicerRtCommon.IsDoseVolumeNode``: the dose attribute its importer sets."""

    @staticmethod
    def IsDoseVolumeNode(node: Any) -> bool:  # noqa: N802 - SlicerRT's name
        return bool(node is not None and node.GetAttribute("DicomRtImport.DoseVolume"))


def install_slicer_rt_logic(slicer: Any) -> None:
    """``slicer.modules.dicomrtimportexport.logic()`` and ``vtkSlicerRtCommonPython``."""
    logic = DicomRtImportExportLogic()
    slicer.modules.dicomrtimportexport = types.SimpleNamespace(logic=lambda: logic)
    common = types.ModuleType("vtkSlicerRtCommonPython")
    common.vtkSlicerRtCommon = SlicerRtCommon  # type: ignore[attr-defined]
    sys.modules["vtkSlicerRtCommonPython"] = common


# -- installation -------------------------------------------------------------------------------
def _module(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attributes.items():
        setattr(module, key, value)
    return module


def install(tmp_path: Path) -> Any:
    """A fresh scene (slicer-core) with every double installed; returns ``slicer``."""
    slicer = import_slicer()
    scene = new_scene()
    QSettings.store = {}
    sys.modules["qt"] = _module("qt", QSettings=QSettings)
    sys.modules["ctk"] = _module("ctk", ctkDICOMIndexer=CtkDICOMIndexer)
    i18n = _module("slicer.i18n", tr=lambda text: text, translate=lambda context, text: text)
    scripted = _module(
        "slicer.ScriptedLoadableModule",
        **{
            cls.__name__: cls
            for cls in (ScriptedLoadableModule, ScriptedLoadableModuleLogic, ScriptedLoadableModuleWidget, ScriptedLoadableModuleTest)
        },
    )
    wrapper = _module("slicer.parameterNodeWrapper", parameterNodeWrapper=parameterNodeWrapper, Choice=Choice)
    for name, module in (("slicer.i18n", i18n), ("slicer.ScriptedLoadableModule", scripted), ("slicer.parameterNodeWrapper", wrapper)):
        sys.modules[name] = module
        setattr(slicer, name.split(".", 1)[1], module)
    slicer.qSlicerDICOMExportable = QSlicerDICOMExportable
    slicer.qSlicerDICOMLoadable = QSlicerDICOMLoadable
    slicer.qSlicerSubjectHierarchyPluginHandler = SubjectHierarchyPluginHandler
    slicer.dicomDatabase = PydicomDatabase()
    application_logic = scene._test_application_logic
    slicer.app = types.SimpleNamespace(
        processEvents=lambda: None,
        temporaryPath=str(tmp_path),
        testingEnabled=lambda: True,
        applicationLogic=lambda: application_logic,
    )
    slicer.modules.dicomPlugins = {}
    slicer.modules.DICOMInstance = types.SimpleNamespace()  # the DICOM module's widget: plugins park readers there
    del scene
    return slicer

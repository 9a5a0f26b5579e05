"""Slicer 5.12's own Python, run over slicer-core: DICOMLib (``DICOMPlugin``, ``DICOMLoadable``,
``DICOMUtils``, ``DICOMExportScalarVolume``), Slicer core's DICOM SEG and scalar volume plugins,
and SlicerRT's RT plugin, read from ``../shared/slicer-5.12`` (unmodified copies; see its README).
Tests skip with the reason when that folder is absent; nothing is copied into the repository.

DICOMLib's ``__init__`` is not run: it also imports the browser and network widgets (Qt, DICOMweb),
which slicer-core cannot provide. The package is assembled from its modules as that ``__init__``
does (``from .DICOMPlugin import *`` ...). What those sources need beyond slicer-core comes from
``slicer_doubles``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from conftest import NO_SHARED, SHARED
from slicer_scene import import_slicer

SLICER_SOURCES = SHARED / "slicer-5.12"
#: DICOMLib modules the plugins and tests use, in the order of DICOMLib/__init__.py.
DICOMLIB_MODULES = ("DICOMExportScalarVolume", "DICOMPlugin", "DICOMUtils")
#: Hook module name -> file, for Slicer's plugins.
SLICER_PLUGINS = {
    "DICOMScalarVolumePlugin": "DICOMPlugins/DICOMScalarVolumePlugin.py",
    "DICOMSegmentationPlugin": "DICOMPlugins/DICOMSegmentationPlugin.py",
    "DicomRtImportExportPlugin": "SlicerRT/DicomRtImportExportPlugin.py",
}
OUR_PLUGINS = ("DICOMLabelMapSegPlugin", "DICOMRtStructLabelMapPlugin", "DICOMRtStructExportPlugin")


def sources() -> Path:
    """The folder of Slicer's Python sources, or skip the test."""
    if not (SLICER_SOURCES / "DICOMLib" / "DICOMPlugin.py").exists():
        pytest.skip(f"Slicer 5.12's Python sources not found in {SLICER_SOURCES} ({NO_SHARED})")
    return SLICER_SOURCES


def install_dicomlib() -> types.ModuleType:
    """Slicer's DICOMLib package (its modules loaded once per process)."""
    folder = sources() / "DICOMLib"
    package = sys.modules.get("DICOMLib")
    if package is not None and getattr(package, "__path__", None) == [str(folder)]:
        return package
    package = types.ModuleType("DICOMLib")
    package.__path__ = [str(folder)]
    package.__file__ = str(folder / "__init__.py")
    sys.modules["DICOMLib"] = package
    for name in DICOMLIB_MODULES:
        module = importlib.import_module(f"DICOMLib.{name}")
        for key, value in vars(module).items():
            if not key.startswith("_"):
                setattr(package, key, value)
    return package


def _load(name: str, path: Path) -> types.ModuleType:
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None) == str(path):
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def register_plugins(slicer: Any, names: tuple[str, ...] = OUR_PLUGINS + tuple(SLICER_PLUGINS)) -> dict[str, Any]:
    """Run the hook classes of the named plugin modules (ours and Slicer's) as Slicer does at
    start-up: each registers its class in ``slicer.modules.dicomPlugins``. Returns the hook
    modules' parents (title, hidden, dependencies...)."""
    from slicer_doubles import install_slicer_rt_logic

    import_slicer()
    install_dicomlib()
    import slicer_core

    sys.modules.setdefault("vtkITK", slicer_core)  # Slicer's Python names for slicer-core's libraries
    sys.modules.setdefault("vtkSegmentationCorePython", slicer_core)
    if "DicomRtImportExportPlugin" in names:
        install_slicer_rt_logic(slicer)
    parents = {}
    for name in names:
        module = _load(name, sources() / SLICER_PLUGINS[name]) if name in SLICER_PLUGINS else importlib.import_module(name)
        parent = types.SimpleNamespace()
        getattr(module, name)(parent)
        parents[name] = parent
    return parents


def slicer_with_plugins(tmp_path: Path) -> Any:
    """The ``slicer`` module (slicer-core with the doubles of :mod:`slicer_doubles`, its database
    under ``tmp_path``) with every DICOM plugin registered, ours and Slicer's, as at start-up."""
    from slicer_doubles import install

    slicer = install(tmp_path)
    register_plugins(slicer)
    return slicer


def plugin(slicer: Any, name: str) -> Any:
    """A new instance of a registered plugin class, as the DICOM browser makes them."""
    return slicer.modules.dicomPlugins[name]()


def browser_choice(slicer: Any, file_lists: list[list[str]]) -> dict[str, list[tuple[str, Any]]]:
    """What the DICOM browser offers and pre-selects for these file lists, by Slicer's own code:
    ``DICOMUtils.getLoadablesFromFileLists`` (every registered plugin examines them) then
    ``selectHighestConfidenceLoadables`` (per series, the highest confidence is selected; all of
    them on a tie). Returns, per Series Instance UID, ``(plugin class name, loadable)`` for the
    selected loadables."""
    from DICOMLib import DICOMUtils

    by_plugin, _ = DICOMUtils.getLoadablesFromFileLists(file_lists)
    DICOMUtils.selectHighestConfidenceLoadables(by_plugin)
    chosen: dict[str, list[tuple[str, Any]]] = {}
    for plugin_, loadables in by_plugin.items():
        for loadable in loadables:
            if loadable.selected:
                series = slicer.dicomDatabase.fileValue(loadable.files[0], "0020,000E")
                chosen.setdefault(series, []).append((type(plugin_).__name__, loadable))
    return chosen


def export_dialog_choice(slicer: Any, item: int) -> list[tuple[str, float]]:
    """The export dialog's list for a subject hierarchy item, top (pre-selected) first: every
    registered plugin's ``examineForExport``, grouped by plugin, ordered by mean confidence, as
    Slicer's C++ ``qSlicerDICOMExportDialog::examineSelectedItem`` does (not runnable here).
    Returns ``(plugin class, mean confidence)``."""
    grouped: dict[str, list[float]] = {}
    for name in slicer.modules.dicomPlugins:
        for exportable in plugin(slicer, name).examineForExport(item):
            grouped.setdefault(exportable.pluginClass, []).append(exportable.confidence)
    means = [(name, sum(values) / len(values)) for name, values in grouped.items()]
    return sorted(means, key=lambda entry: -entry[1])


def load_series(slicer: Any, series_uids: list[str]) -> list[Any]:
    """Load series as the DICOM module does (``DICOMUtils.loadSeriesByUID``: every plugin
    examines, the highest confidence loads). Returns the nodes created."""
    from DICOMLib import DICOMUtils

    return [slicer.mrmlScene.GetNodeByID(node_id) for node_id in DICOMUtils.loadSeriesByUID(series_uids)]

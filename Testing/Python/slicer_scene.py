"""Test double for what slicer-core lacks: a MRML scene set up as the Slicer application would
(application logic, module logics registered). Nothing here ships with the extension."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

LABELMAPSEG = Path(__file__).resolve().parents[2] / "LabelMapSeg"


def import_slicer():
    """slicer-core's ``slicer`` package, or skip the test."""
    slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core==5.12.4.0)")
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip("the installed 'slicer' module is not slicer-core")
    if str(LABELMAPSEG) not in sys.path:
        sys.path.insert(0, str(LABELMAPSEG))  # LabelMapSegLib is copied next to the module by CMake, not pip-installed
    return slicer


def new_scene():
    """A scene with the application, Segmentations and Volumes logics, also set as
    ``slicer.mrmlScene`` and ``slicer.modules.segmentations`` / ``volumes`` for code that reaches them."""
    slicer = import_slicer()
    scene = slicer.vtkMRMLScene()
    application = slicer.vtkSlicerApplicationLogic()
    application.SetMRMLScene(scene)
    segmentations = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentations.SetMRMLApplicationLogic(application)
    segmentations.SetMRMLScene(scene)
    application.SetModuleLogic("Segmentations", segmentations)
    volumes = slicer.vtkSlicerVolumesLogic()
    volumes.SetMRMLApplicationLogic(application)
    volumes.SetMRMLScene(scene)
    application.SetModuleLogic("Volumes", volumes)
    slicer.mrmlScene = scene
    slicer.modules = types.SimpleNamespace(
        segmentations=types.SimpleNamespace(logic=lambda: segmentations), volumes=types.SimpleNamespace(logic=lambda: volumes)
    )
    scene._test_application_logic = application  # keep the logics alive with the scene
    scene._test_logics = (segmentations, volumes)
    return scene


def volume_node(scene, geometry, name="CT"):
    """A scalar volume node on ``geometry`` (voxels zero)."""
    slicer = import_slicer()
    import vtk
    from LabelMapSegLib.segmentations import ijk_to_ras

    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    image = vtk.vtkImageData()
    image.SetDimensions(geometry.shape[2], geometry.shape[1], geometry.shape[0])
    image.AllocateScalars(vtk.VTK_SHORT, 1)
    node.SetAndObserveImageData(image)
    node.SetIJKToRASMatrix(ijk_to_ras(geometry))
    del slicer
    return node

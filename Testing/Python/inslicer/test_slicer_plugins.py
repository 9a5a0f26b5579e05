"""The two DICOM plugins' examine / load / export on real Slicer C++ (slicer-core) and Slicer
5.12's own Python DICOMLib (``DICOMPlugin``, ``DICOMLoadable``, ``DICOMUtils``) from
../shared/slicer-5.12, with a pydicom-backed DICOM database (slicer_doubles; testing layer 4). The
CT is imported with ``DICOMUtils.importDicom`` and loaded by Slicer's own scalar volume plugin
(ITK's DICOM reader in slicer-core) through ``DICOMUtils.loadSeriesByUID``, as in the application.

Proves: Label Map SEG is offered above Slicer core's SEG plugin (0.95) with its reference series
referenced, loads onto the CT's grid, exports verified files into the database; RT Structure Sets
are offered at 1.05 when they hold CLOSEDPLANAR_XOR or the setting is on, below SlicerRT's 1.0
otherwise; failures become warnings and leave no nodes, never exceptions.
"""

from __future__ import annotations

import numpy as np
import pytest
from slicer_scene import volume_node
from slicer_sources import OUR_PLUGINS, load_series, register_plugins, slicer_with_plugins

LABEL_MAP_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7"


@pytest.fixture
def slicer(tmp_path):
    return slicer_with_plugins(tmp_path)


@pytest.fixture
def study(slicer, tmp_path):
    """Demo CT + RTSTRUCT imported into the database; the CT loaded by Slicer's scalar volume plugin."""
    from dicomlabelmap.dicom.scan import read_reference_series
    from dicomlabelmap.synthetic import write_demo_case
    from DICOMLib import DICOMUtils

    ct_folder, rtstruct = write_demo_case(tmp_path / "demo")
    assert DICOMUtils.importDicom(str(tmp_path / "demo"))
    series = read_reference_series(ct_folder)
    (ct,) = [node for node in load_series(slicer, [series.series_instance_uid]) if node.IsA("vtkMRMLScalarVolumeNode")]
    return ct, series, str(rtstruct)


def _plugin(slicer, name):
    return slicer.modules.dicomPlugins[name]()


def _series_files(slicer, series):
    return slicer.dicomDatabase.filesForSeries(series.series_instance_uid)


def _export_seg(slicer, study, tmp_path, syntax="rle"):
    import LabelMapSeg

    ct, series, rtstruct = study
    logic = LabelMapSeg.LabelMapSegLogic()
    node = logic.importRtStruct(rtstruct, ct)
    out = tmp_path / "seg"
    out.mkdir()
    paths = logic.exportLabelMapSeg(node, ct, str(out), transferSyntax=syntax)
    for path in paths:
        slicer.dicomDatabase.insert(path)
    return node, paths


def test_hook_modules_register_hidden_plugins(slicer):
    from DICOMLib import DICOMPlugin

    slicer.modules.dicomPlugins = {}
    parents = register_plugins(slicer, OUR_PLUGINS)
    assert set(slicer.modules.dicomPlugins) == set(OUR_PLUGINS)
    for name in OUR_PLUGINS:
        parent = parents[name]
        assert parent.hidden is True and "DICOM" in parent.dependencies
        assert issubclass(slicer.modules.dicomPlugins[name], DICOMPlugin)  # Slicer's own base class


def test_ct_loaded_by_slicers_plugin_is_on_our_grid(slicer, study):
    """The reference volume as Slicer's scalar volume plugin (ITK) makes it: the grid our core
    reads from the same files, and the instance UIDs our plugins look it up by."""
    from LabelMapSegLib.segmentations import geometry_from_volume_node

    ct, series, rtstruct = study
    assert geometry_from_volume_node(ct).is_close(series.geometry, 1e-4)
    assert ct.GetAttribute("DICOM.instanceUIDs").split() == [s.sop_instance_uid for s in series.slices]


def test_label_map_seg_examine_and_load(slicer, study, tmp_path):
    from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node, reference_geometry

    ct, series, rtstruct = study
    source, paths = _export_seg(slicer, study, tmp_path)
    plugin = _plugin(slicer, "DICOMLabelMapSegPlugin")
    loadables = plugin.examineForImport([paths, _series_files(slicer, series), [rtstruct]])
    assert len(loadables) == 1
    loadable = loadables[0]
    assert loadable.confidence > 0.95  # above Slicer core's DICOMSegmentationPlugin
    assert sorted(loadable.files) == sorted(paths)
    assert set(loadable.referencedInstanceUIDs) == {s.sop_instance_uid for s in series.slices}
    assert loadable.warning == ""
    count = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")
    assert plugin.load(loadable) is True
    assert slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == count + 1
    loaded = slicer.mrmlScene.GetNthNodeByClass(count, "vtkMRMLSegmentationNode")
    assert reference_geometry(loaded).is_close(series.geometry, 1e-6)
    assert loaded.GetSegmentation().GetNumberOfLayers() == len(paths)
    for a, b in zip(label_volumes_from_segmentation_node(source, ct), label_volumes_from_segmentation_node(loaded, ct), strict=True):
        np.testing.assert_array_equal(a.array, b.array)
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    assert sh.GetItemByDataNode(loaded)


def test_label_map_seg_examine_warns_when_the_reference_is_missing(slicer, tmp_path, study):
    from slicer_doubles import PydicomDatabase

    ct, series, rtstruct = study
    _, paths = _export_seg(slicer, study, tmp_path)
    slicer.dicomDatabase = PydicomDatabase()  # a database holding only the SEG
    for path in paths:
        slicer.dicomDatabase.insert(path)
    loadable = _plugin(slicer, "DICOMLabelMapSegPlugin").examineForImport([paths])[0]
    assert "not in the DICOM database" in loadable.warning
    # It still loads, on the grid of its own frames (all frames are written: not cropped).
    slicer.mrmlScene.RemoveNode(ct)
    assert _plugin(slicer, "DICOMLabelMapSegPlugin").load(loadable) is True


def test_label_map_seg_load_failure_is_a_warning_and_leaves_no_nodes(slicer, tmp_path, study):
    _, paths = _export_seg(slicer, study, tmp_path)
    plugin = _plugin(slicer, "DICOMLabelMapSegPlugin")
    loadable = plugin.examineForImport([paths])[0]
    data = bytearray(open(paths[0], "rb").read())
    open(paths[0], "wb").write(bytes(data[: len(data) // 2]))  # truncated after examination
    nodes = slicer.mrmlScene.GetNumberOfNodes()
    assert plugin.load(loadable) is False
    assert loadable.warning
    assert slicer.mrmlScene.GetNumberOfNodes() == nodes


def test_label_map_seg_export_through_the_plugin(slicer, study, tmp_path):
    from dicomlabelmap.seg.reader import read_seg

    ct, series, rtstruct = study
    import LabelMapSeg

    node = LabelMapSeg.LabelMapSegLogic().importRtStruct(rtstruct, ct)
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    item = sh.CreateItem(sh.GetSceneItemID(), node)
    plugin = _plugin(slicer, "DICOMLabelMapSegPlugin")
    (exportable,) = plugin.examineForExport(item)
    assert exportable.confidence > 1.0 and exportable.tag("LabelMapSeg TransferSyntax") == "rle"
    exportable.directory = str(tmp_path / "export")
    (tmp_path / "export").mkdir()
    exportable.setTag("LabelMapSeg TransferSyntax", "jpegls")
    exportable.setTag("SeriesDescription", "Planning structures")
    assert plugin.export([exportable]) == ""
    written = sorted((tmp_path / "export").glob("*.dcm"))
    assert len(written) == node.GetSegmentation().GetNumberOfLayers()
    contents = read_seg(written[0])
    assert contents.transfer_syntax.value == "jpegls"
    assert contents.dataset.SOPClassUID == LABEL_MAP_SOP_CLASS
    assert contents.dataset.SeriesDescription == "Planning structures"
    assert all(slicer.dicomDatabase.fileForInstance(str(read_seg(p).dataset.SOPInstanceUID)) for p in written)
    # Not from DICOM: offered with a low confidence and a reason; export says why.
    plain = volume_node(slicer.mrmlScene, series.geometry, "NRRD volume")
    node.SetReferenceImageGeometryParameterFromVolumeNode(plain)
    (exportable,) = plugin.examineForExport(item)
    assert exportable.confidence < 0.5 and "not loaded from DICOM" in exportable.tooltip
    exportable.directory = str(tmp_path / "export2")
    (tmp_path / "export2").mkdir()
    message = plugin.export([exportable])
    assert "not loaded from DICOM" in message
    assert list((tmp_path / "export2").iterdir()) == []
    # Nodes of other kinds are not offered.
    assert plugin.examineForExport(sh.CreateItem(sh.GetSceneItemID(), plain)) == []


def _rtstruct_without_xor(tmp_path, rtstruct):
    import pydicom

    dataset = pydicom.dcmread(rtstruct)
    for roi in dataset.ROIContourSequence:
        for contour in roi.get("ContourSequence", []):
            if contour.ContourGeometricType == "CLOSEDPLANAR_XOR":
                contour.ContourGeometricType = "CLOSED_PLANAR"
    dataset.SOPInstanceUID = pydicom.uid.generate_uid()
    path = tmp_path / "RS_no_xor.dcm"
    dataset.save_as(path)
    return str(path)


@pytest.mark.parametrize("setting", [None, True, False], ids=["default", "on", "off"])
def test_rtstruct_confidence_follows_xor_and_the_setting(slicer, study, tmp_path, setting):
    import qt

    ct, series, rtstruct = study
    plain = _rtstruct_without_xor(tmp_path, rtstruct)
    slicer.dicomDatabase.insert(plain)
    if setting is not None:
        qt.QSettings().setValue("LabelMapSeg/UseForRtStructureSets", setting)
    plugin = _plugin(slicer, "DICOMRtStructLabelMapPlugin")
    (with_xor,) = plugin.examineForImport([[rtstruct]])
    (without_xor,) = plugin.examineForImport([[plain]])
    assert with_xor.confidence == 1.05  # always above SlicerRT's 1.0: SlicerRT ignores the XOR type
    assert "CLOSEDPLANAR_XOR" in with_xor.tooltip and "exclusive or" in with_xor.tooltip
    assert without_xor.confidence == (0.9 if setting is False else 1.05)
    assert ("not chosen" in without_xor.tooltip) == (setting is False)
    for loadable in (with_xor, without_xor):
        assert set(loadable.referencedInstanceUIDs) == {s.sop_instance_uid for s in series.slices}
        assert loadable.warning == ""


def test_rtstruct_load_makes_a_segmentation_on_the_ct_grid(slicer, study):
    from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
    from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node, reference_geometry

    ct, series, rtstruct = study
    plugin = _plugin(slicer, "DICOMRtStructLabelMapPlugin")
    (loadable,) = plugin.examineForImport([[rtstruct]])
    assert plugin.load(loadable) is True
    node = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
    assert node.GetSegmentation().GetSourceRepresentationName() == "Binary labelmap"
    assert reference_geometry(node).is_close(series.geometry, 1e-6)
    expected = rtstruct_to_labels(rtstruct, series)
    for a, b in zip(label_volumes_from_segmentation_node(node, ct), expected.label_volumes, strict=True):
        np.testing.assert_array_equal(a.array, b.array)
    assert node.GetAttribute("LabelMapSeg.ImportReport")
    assert slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLTableNode") == 1


def test_rtstruct_load_without_the_ct_node_finds_the_series_in_the_database(slicer, study):
    from LabelMapSegLib.segmentations import reference_geometry

    ct, series, rtstruct = study
    slicer.mrmlScene.RemoveNode(ct)
    plugin = _plugin(slicer, "DICOMRtStructLabelMapPlugin")
    (loadable,) = plugin.examineForImport([[rtstruct]])
    assert plugin.load(loadable) is True
    node = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
    assert reference_geometry(node).is_close(series.geometry, 1e-6)


def test_rtstruct_load_failure_is_a_warning_and_leaves_no_nodes(slicer, study, tmp_path):
    import pydicom

    ct, series, rtstruct = study
    dataset = pydicom.dcmread(rtstruct)
    dataset.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID = "1.2.3.999"
    for roi in dataset.StructureSetROISequence:
        roi.ReferencedFrameOfReferenceUID = "1.2.3.999"
    for roi in dataset.ROIContourSequence:
        for contour in roi.get("ContourSequence", []):
            contour.ContourImageSequence = []  # nothing ties it to the CT any more
    dataset.SOPInstanceUID = pydicom.uid.generate_uid()
    broken = tmp_path / "RS_elsewhere.dcm"
    dataset.save_as(broken)
    slicer.dicomDatabase.insert(broken)
    slicer.mrmlScene.RemoveNode(ct)
    plugin = _plugin(slicer, "DICOMRtStructLabelMapPlugin")
    (loadable,) = plugin.examineForImport([[str(broken)]])
    nodes = slicer.mrmlScene.GetNumberOfNodes()
    assert plugin.load(loadable) is False
    assert "Frame of Reference" in loadable.warning or "reference series" in loadable.warning
    assert slicer.mrmlScene.GetNumberOfNodes() == nodes


def test_rtstruct_load_applies_the_label_scheme_chosen_for_the_dicom_browser(slicer, study, tmp_path):
    """With the module's "Use this label scheme for DICOM-browser imports too" on (the setting holds
    the scheme's path), the plugin imports only the ROIs the scheme selects, with its values and
    names; left-out ROIs are named in the loadable's warning, not reported as failures."""
    import json

    import qt
    from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels

    ct, series, rtstruct = study
    names = [roi.name for roi in rtstruct_to_labels(rtstruct, series).structure_set.rois]
    scheme = tmp_path / "scheme.json"
    scheme.write_text(json.dumps({"labels": [{"value": 21, "name": "kept", "aliases": [names[0]]}]}))
    qt.QSettings().setValue("LabelMapSeg/DicomRtStructLabelScheme", str(scheme))
    plugin = _plugin(slicer, "DICOMRtStructLabelMapPlugin")
    (loadable,) = plugin.examineForImport([[rtstruct]])
    assert plugin.load(loadable) is True
    node = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
    segmentation = node.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 1
    segment = segmentation.GetSegment(segmentation.GetNthSegmentID(0))
    assert (segment.GetName(), segment.GetLabelValue()) == ("kept", 21)
    assert "ROIs left out by the label scheme" in loadable.warning and names[1] in loadable.warning
    assert "not converted" not in loadable.warning
    # a scheme file that is gone makes the load fail with the reason, leaving no node
    qt.QSettings().setValue("LabelMapSeg/DicomRtStructLabelScheme", str(tmp_path / "gone.json"))
    (again,) = plugin.examineForImport([[rtstruct]])
    assert plugin.load(again) is False and "gone.json: no such file" in again.warning
    assert slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 1

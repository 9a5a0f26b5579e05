"""RT Structure Set export from Slicer segmentations (module logic and the DICOM export plugin
"RT Structure Set (LabelMapSeg, exact)") on real Slicer C++ (slicer-core) and Slicer 5.12's own
DICOMLib, with the doubles of slicer_doubles for what slicer-core lacks (testing layer 4).

Proves: every segment of a segmentation (imported from an RT Structure Set, or drawn with hard
shapes: ring with an island, one-voxel line, diagonal contact, grid border) reads back from the
exported file with our reader as exactly its voxels, for every hole style; the report says so per
ROI; a reference not from DICOM, a missing folder, an unknown hole style and a cancel leave no
file; the export plugin writes verified files into the DICOM database, is offered beside
SlicerRT's exporter (above it, below our Label Map SEG exporter), and what it writes is loaded
back by the DICOM browser as the same voxels, by the plugin Slicer's own selection picks.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from conftest import shared_file
from slicer_scene import volume_node
from slicer_sources import browser_choice, export_dialog_choice, load_series, slicer_with_plugins

HOLE_STYLES = ["keyhole", "nested", "xor"]


@pytest.fixture
def slicer(tmp_path):
    return slicer_with_plugins(tmp_path)


def _load_study(slicer, folder):
    """Import a folder into the database and load its CT with Slicer's scalar volume plugin."""
    from dicomlabelmap.dicom.scan import read_reference_series
    from DICOMLib import DICOMUtils

    assert DICOMUtils.importDicom(str(folder))
    series = read_reference_series(folder / "ct")
    (ct,) = [n for n in load_series(slicer, [series.series_instance_uid]) if n.IsA("vtkMRMLScalarVolumeNode")]
    return ct, series


@pytest.fixture
def demo(slicer, tmp_path):
    """The demo CT loaded as in Slicer, and its RT Structure Set imported as a segmentation."""
    from dicomlabelmap.synthetic import write_demo_case

    import LabelMapSeg

    _, rtstruct = write_demo_case(tmp_path / "demo")
    ct, series = _load_study(slicer, tmp_path / "demo")
    segmentation = LabelMapSeg.LabelMapSegLogic().importRtStruct(str(rtstruct), ct)
    return ct, series, segmentation


def _segment_masks(node, ct):
    """{segment name: mask on the CT grid} of a segmentation node."""
    from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node

    return {s.label: volume.array == s.number for volume in label_volumes_from_segmentation_node(node, ct) for s in volume.segments}


def _read_back(path, series):
    """{ROI name: mask} as our RT Structure Set reader reads the file."""
    from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels

    conversion = rtstruct_to_labels(path, series)
    return {raster.roi.name: raster.full_mask() for raster in conversion.rois}


def _assert_same_voxels(expected, found):
    assert sorted(expected) == sorted(found)
    for name, mask in expected.items():
        assert found[name].shape == mask.shape
        differing = int(np.count_nonzero(found[name] != mask))
        assert differing == 0, f"{name}: {differing} voxel(s) differ"


@pytest.mark.parametrize("style", HOLE_STYLES)
def test_export_reads_back_as_the_same_voxels(slicer, demo, tmp_path, style):
    import pydicom

    import LabelMapSeg

    ct, series, segmentation = demo
    logic = LabelMapSeg.LabelMapSegLogic()
    out = tmp_path / "out"
    out.mkdir()
    path = logic.exportRtStruct(segmentation, ct, str(out), holeStyle=style)
    assert path == str(out / f"RS_{segmentation.GetName()}.dcm") and sorted(out.iterdir()) == [out / f"RS_{segmentation.GetName()}.dcm"]
    expected = _segment_masks(segmentation, ct)
    _assert_same_voxels(expected, _read_back(path, series))
    report = logic.lastRtStructReport
    assert report["holes"] == style
    assert {roi["name"]: (roi["voxels"], roi["round_trip"]) for roi in report["rois"]} == {
        name: (int(np.count_nonzero(mask)), "identical") for name, mask in expected.items()
    }
    lines = logic.lastExportSummary.splitlines()
    assert lines[0].startswith(f"RS_{segmentation.GetName()}.dcm: {len(expected)} ROI(s), holes as {style}")
    assert sum("round trip: identical" in line for line in lines) == len(expected)
    dataset = pydicom.dcmread(path)
    assert dataset.Modality == "RTSTRUCT" and dataset.SeriesDescription == segmentation.GetName()
    assert dataset.StudyInstanceUID == series.study_instance_uid
    named = {
        str(i.ReferencedSOPInstanceUID)
        for roi in dataset.ROIContourSequence
        for c in roi.get("ContourSequence", [])
        for i in c.ContourImageSequence
    }
    assert named and named <= {s.sop_instance_uid for s in series.slices}  # fmt: skip
    kinds = {str(c.ContourGeometricType) for roi in dataset.ROIContourSequence for c in roi.get("ContourSequence", [])}
    assert kinds == ({"CLOSEDPLANAR_XOR"} if style == "xor" else {"CLOSED_PLANAR"})
    # A second export never replaces the first file.
    again = logic.exportRtStruct(segmentation, ct, str(out), holeStyle=style)
    assert again == str(out / f"RS_{segmentation.GetName()}_2.dcm") and len(list(out.iterdir())) == 2


def test_hard_shapes_drawn_in_slicer_read_back_exactly(slicer, demo, tmp_path):
    """Segments drawn voxel by voxel (slicer.util, as a user's editor or AI output would fill
    them): a ring with an island in its hole, a one-voxel line, two voxels touching only at a
    corner, a single voxel on the first slice and a block on the last slice at the grid border;
    names in other scripts keep their letters (ROI names, file name)."""
    import LabelMapSeg

    ct, series, _ = demo
    k, rows, columns = series.geometry.shape
    shapes = {name: np.zeros((k, rows, columns), np.uint8) for name in ("ring", "Rückenmark – 脊髓", "corner", "edges")}
    ring = shapes["ring"]
    ring[2, 10:30, 10:30] = 1
    ring[2, 14:26, 14:26] = 0
    ring[2, 18:22, 18:22] = 1  # island in the hole
    shapes["Rückenmark – 脊髓"][3, 40, 5:60] = 1  # a one-voxel line
    shapes["corner"][4, 50, 50] = shapes["corner"][4, 51, 51] = 1
    shapes["edges"][0, 0, 0] = 1
    shapes["edges"][k - 1, rows - 3 :, columns - 4 :] = 1
    node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Gezeichnet: Wirbelsäule")
    node.CreateDefaultDisplayNodes()
    node.SetReferenceImageGeometryParameterFromVolumeNode(ct)
    for name, array in shapes.items():
        segment_id = node.GetSegmentation().AddEmptySegment(name, name)
        slicer.util.updateSegmentBinaryLabelmapFromArray(array, node, segment_id, ct)
    expected = _segment_masks(node, ct)
    assert {name: int(np.count_nonzero(mask)) for name, mask in expected.items()} == {
        name: int(np.count_nonzero(array)) for name, array in shapes.items()
    }
    logic = LabelMapSeg.LabelMapSegLogic()
    for style in HOLE_STYLES:
        out = tmp_path / style
        out.mkdir()
        path = logic.exportRtStruct(node, ct, str(out), holeStyle=style)
        assert path == str(out / "RS_Gezeichnet_Wirbelsäule.dcm")
        _assert_same_voxels(expected, _read_back(path, series))
        rows_ = {roi["name"]: roi for roi in logic.lastRtStructReport["rois"]}
        assert (rows_["ring"]["holes"], rows_["ring"]["pieces"]) == (1, 2)  # one hole, the ring and its island
        header = pydicom.dcmread(path, stop_before_pixels=True)  # the node's name: whole as the name, its start as the label
        assert (header.StructureSetName, header.StructureSetLabel) == ("Gezeichnet: Wirbelsäule", "Gezeichnet: Wirb")


def test_refusals_and_cancel_leave_no_file(slicer, demo, tmp_path):
    from dicomlabelmap.errors import DicomLabelMapError, OperationCancelled, ReferenceSeriesError

    import LabelMapSeg

    ct, series, segmentation = demo
    logic = LabelMapSeg.LabelMapSegLogic()
    out = tmp_path / "out"
    out.mkdir()
    plain = volume_node(slicer.mrmlScene, series.geometry, "NRRD volume")
    with pytest.raises(ReferenceSeriesError, match="not loaded from DICOM"):
        logic.exportRtStruct(segmentation, plain, str(out))
    with pytest.raises(DicomLabelMapError, match="does not exist"):
        logic.exportRtStruct(segmentation, ct, str(tmp_path / "missing"))
    with pytest.raises(DicomLabelMapError, match="unknown hole style 'holes'"):
        logic.exportRtStruct(segmentation, ct, str(out), holeStyle="holes")

    def cancel_while_verifying(fraction, message):
        if fraction > 0.7:
            raise OperationCancelled("stop")

    with pytest.raises(OperationCancelled):
        logic.exportRtStruct(segmentation, ct, str(out), progressCallback=cancel_while_verifying)
    assert list(out.iterdir()) == []
    # ... and a reference not from DICOM is fine when the console user names the series' folder.
    path = logic.exportRtStruct(segmentation, plain, str(out), referenceDirectory=str(series.slices[0].path.parent))
    _assert_same_voxels(_segment_masks(segmentation, ct), _read_back(path, series))


def test_export_plugin_writes_into_the_database_and_loads_back(slicer, demo, tmp_path):
    """Export dialog: ours comes after Label Map SEG (1.05) and before SlicerRT's and Slicer
    core's exporters (1.0); the plugin writes the file into the database; the DICOM browser then
    picks our RT import for it and loads the same voxels."""
    ct, series, segmentation = demo
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    item = sh.GetItemByDataNode(segmentation) or sh.CreateItem(sh.GetSceneItemID(), segmentation)
    offered = export_dialog_choice(slicer, item)
    assert offered[:2] == [("DICOMLabelMapSegPlugin", 1.05), ("DICOMRtStructExportPlugin", 1.01)]
    assert sorted(offered[2:]) == [("DICOMSegmentationPlugin", 1.0), ("DicomRtImportExportPlugin", 1.0)]
    plugin = slicer.modules.dicomPlugins["DICOMRtStructExportPlugin"]()
    (exportable,) = plugin.examineForExport(item)
    assert exportable.name == "RT Structure Set (LabelMapSeg, exact)"
    assert exportable.tag("Modality") == "RTSTRUCT" and exportable.tag("LabelMapSeg HoleStyle") == "keyhole"
    exportable.directory = str(tmp_path / "export")
    (tmp_path / "export").mkdir()
    exportable.setTag("LabelMapSeg HoleStyle", "nested")
    exportable.setTag("SeriesDescription", "Planning structures")
    assert plugin.export([exportable]) == ""
    (written,) = (tmp_path / "export").iterdir()
    database = slicer.dicomDatabase
    uid = database.fileValue(str(written), "0020,000E")
    assert database.filesForSeries(uid) == [str(written)] and database.fileValue(str(written), "0008,103E") == "Planning structures"
    chosen = browser_choice(slicer, [[str(written)]])
    assert [name for name, _ in chosen[uid]] == ["DICOMRtStructLabelMapPluginClass"]
    (loaded,) = [n for n in load_series(slicer, [uid]) if n.IsA("vtkMRMLSegmentationNode")]
    _assert_same_voxels(_segment_masks(segmentation, ct), _segment_masks(loaded, ct))


def test_export_plugin_without_a_dicom_reference_says_why(slicer, demo, tmp_path):
    ct, series, segmentation = demo
    plain = volume_node(slicer.mrmlScene, series.geometry, "NRRD volume")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(plain)
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    item = sh.GetItemByDataNode(segmentation) or sh.CreateItem(sh.GetSceneItemID(), segmentation)
    plugin = slicer.modules.dicomPlugins["DICOMRtStructExportPlugin"]()
    (exportable,) = plugin.examineForExport(item)
    assert exportable.confidence < 0.5 and "not loaded from DICOM" in exportable.tooltip
    exportable.directory = str(tmp_path / "export")
    (tmp_path / "export").mkdir()
    assert "not loaded from DICOM" in plugin.export([exportable])
    assert list((tmp_path / "export").iterdir()) == []
    assert plugin.examineForExport(sh.CreateItem(sh.GetSceneItemID(), plain)) == []


@pytest.mark.parametrize("use_for_all", [True, False], ids=["setting-on", "setting-off"])
def test_exported_hole_style_and_the_browser_setting_decide_who_loads_it(slicer, demo, tmp_path, use_for_all):
    """Our keyhole file is plain CLOSED_PLANAR: with the setting off the browser leaves it to
    SlicerRT; our XOR file always comes back to LabelMapSeg (SlicerRT ignores the geometric type)."""
    import qt

    import LabelMapSeg

    ct, series, segmentation = demo
    qt.QSettings().setValue("LabelMapSeg/UseForRtStructureSets", use_for_all)
    logic = LabelMapSeg.LabelMapSegLogic()
    for style, expected in (("keyhole", "DICOMRtStructLabelMapPluginClass" if use_for_all else "DicomRtImportExportPluginClass"),
                            ("xor", "DICOMRtStructLabelMapPluginClass")):  # fmt: skip
        out = tmp_path / style
        out.mkdir()
        path = logic.exportRtStruct(segmentation, ct, str(out), holeStyle=style)
        slicer.dicomDatabase.insert(path)
        uid = slicer.dicomDatabase.fileValue(path, "0020,000E")
        assert [name for name, _ in browser_choice(slicer, [[path]])[uid]] == [expected], style


@pytest.mark.realdata
def test_lung1_segmentation_exports_exactly(slicer, tmp_path):
    """LUNG1-001: its Varian structure set imported as a segmentation on the CT (loaded by
    Slicer's scalar volume plugin), exported as an RT Structure Set, read back: the four ROIs
    (the lungs with their holes) are the same voxels."""
    from dicomlabelmap.dicom.scan import read_reference_series
    from DICOMLib import DICOMUtils

    import LabelMapSeg

    root = shared_file("nsclc-lung1-001")
    assert DICOMUtils.importDicom(str(root / "ct"))
    series = read_reference_series(root / "ct")
    (ct,) = [n for n in load_series(slicer, [series.series_instance_uid]) if n.IsA("vtkMRMLScalarVolumeNode")]
    logic = LabelMapSeg.LabelMapSegLogic()
    segmentation = logic.importRtStruct(str(next((root / "rtstruct").rglob("*.dcm"))), ct)
    expected = _segment_masks(segmentation, ct)
    assert len(expected) == 4
    path = logic.exportRtStruct(segmentation, ct, str(tmp_path))
    _assert_same_voxels(expected, _read_back(path, series))
    assert {roi["name"]: roi["round_trip"] for roi in logic.lastRtStructReport["rois"]} == dict.fromkeys(expected, "identical")
    assert sum(roi["holes"] for roi in logic.lastRtStructReport["rois"]) > 0  # the lungs' holes are written

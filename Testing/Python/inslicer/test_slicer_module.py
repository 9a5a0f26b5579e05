"""The module's Logic (the Python console API) on real Slicer C++ (slicer-core), with the test
doubles of slicer_doubles for what slicer-core lacks (testing layer 4).

Proves: RT Structure Sets land on the CT's grid with holes right; segmentation -> Label Map SEG ->
segmentation is lossless (voxels, label values, names, colours, terminology, empty segments);
labelmap export keeps the CT's exact shape and IJK-to-RAS; failures leave no nodes and no files.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_file
from slicer_doubles import install
from slicer_scene import volume_node


@pytest.fixture
def slicer(tmp_path):
    return install(tmp_path)


def _ct_node(slicer, folder, name="CT"):
    """A volume node as Slicer's scalar volume plugin leaves it: on the series' grid, with the
    DICOM.instanceUIDs attribute, its files in the DICOM database."""
    from dicomlabelmap.dicom.scan import read_reference_series

    series = read_reference_series(folder)
    slicer.dicomDatabase.importFolder(folder)
    node = volume_node(slicer.mrmlScene, series.geometry, name)
    node.SetAttribute("DICOM.instanceUIDs", " ".join(s.sop_instance_uid for s in series.slices))
    return node, series


@pytest.fixture
def demo(slicer, tmp_path):
    from dicomlabelmap.synthetic import write_demo_case

    ct_folder, rtstruct = write_demo_case(tmp_path / "demo")
    node, series = _ct_node(slicer, ct_folder)
    return node, series, rtstruct


def _logic():
    import LabelMapSeg

    return LabelMapSeg.LabelMapSegLogic()


def _segments(node):
    """(label value, layer, name, colour, terminology tag) of every segment, in order."""
    import vtk

    segmentation = node.GetSegmentation()
    rows = []
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        segment = segmentation.GetSegment(segment_id)
        tag = vtk.reference("")
        segment.GetTag("TerminologyEntry", tag)
        rows.append(
            (
                segment.GetLabelValue(),
                segmentation.GetLayerIndex(segment_id),
                segment.GetName(),
                tuple(round(c * 255) for c in segment.GetColor()),
                str(tag),
            )
        )
    return rows


def test_import_rtstruct_on_the_ct_grid_with_holes(slicer, demo):
    from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
    from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node, reference_geometry

    ct, series, rtstruct = demo
    logic = _logic()
    node = logic.importRtStruct(str(rtstruct), ct)
    expected = rtstruct_to_labels(rtstruct, series)
    assert reference_geometry(node).is_close(series.geometry, 1e-6)
    assert node.GetSegmentation().GetSourceRepresentationName() == "Binary labelmap"
    got = label_volumes_from_segmentation_node(node, ct)
    assert len(got) == len(expected.label_volumes)
    for a, b in zip(got, expected.label_volumes, strict=True):
        np.testing.assert_array_equal(a.array, b.array)
        assert [(s.number, s.label, s.color) for s in a.segments] == [(s.number, s.label, s.color) for s in b.segments]
    # The report: node attribute, table node (one row per ROI), logic attribute.
    report = json.loads(node.GetAttribute("LabelMapSeg.ImportReport"))
    assert report == logic.lastImportReport
    table = slicer.mrmlScene.GetFirstNodeByName(f"{node.GetName()} import report")
    assert table.GetNumberOfRows() == len(report["rois"]) == len(expected.rois)
    xor_rows = [row for row in report["rois"] if row["xor"]]
    assert xor_rows, "the demo case has an XOR ROI"
    # POINT contours became a markups point list at the right RAS position.
    point_rois = [roi for roi in expected.structure_set.rois if roi.points_of_type(_point())]
    assert point_rois
    markups = slicer.mrmlScene.GetFirstNodeByName(f"{node.GetName()} {point_rois[0].name}")
    lps = np.concatenate(point_rois[0].points_of_type(_point())).reshape(-1, 3)
    assert markups.GetNumberOfControlPoints() == len(lps)
    np.testing.assert_allclose(markups.GetNthControlPointPosition(0), [-lps[0, 0], -lps[0, 1], lps[0, 2]], atol=1e-6)


def _point():
    from dicomlabelmap.rtstruct.reader import ContourGeometricType

    return ContourGeometricType.POINT


def test_import_with_a_volume_not_from_dicom_uses_its_grid(slicer, demo):
    from LabelMapSegLib.segmentations import reference_geometry

    ct, series, rtstruct = demo
    plain = volume_node(slicer.mrmlScene, series.geometry, "NRRD volume")  # no DICOM attribute
    node = _logic().importRtStruct(str(rtstruct), plain)
    assert reference_geometry(node).is_close(series.geometry, 1e-6)
    assert node.GetSegmentation().GetNumberOfSegments() > 0


@pytest.mark.parametrize("syntax", ["rle", "explicit", "deflated", "jpegls", "jpeg2000", "deflated-frame"])
def test_label_map_seg_round_trip_keeps_everything(slicer, demo, tmp_path, syntax):
    from dicomlabelmap.model.segment import Segment
    from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node, reference_geometry

    ct, series, rtstruct = demo
    logic = _logic()
    node = logic.importRtStruct(str(rtstruct), ct)
    # An empty segment with a coded terminology must survive too.
    empty = slicer.vtkSegment()
    empty.SetName("Empty on purpose")
    empty.SetColor(0.1, 0.2, 0.3)
    empty.SetLabelValue(99)
    empty.SetTag("TerminologyEntry", _terminology(Segment(99, "Empty on purpose")))
    node.GetSegmentation().AddSegment(empty, "empty")
    before = _segments(node)
    out = tmp_path / syntax
    out.mkdir()
    paths = logic.exportLabelMapSeg(node, ct, str(out), transferSyntax=syntax)
    assert paths and all(p.endswith(".dcm") for p in paths)
    assert "verified" in logic.lastExportSummary and "validation error" not in logic.lastExportSummary
    loaded = logic.loadLabelMapSeg(paths, ct)
    assert reference_geometry(loaded).is_close(series.geometry, 1e-6)
    assert sorted(_segments(loaded)) == sorted(before)
    for a, b in zip(label_volumes_from_segmentation_node(node, ct), label_volumes_from_segmentation_node(loaded, ct), strict=True):
        np.testing.assert_array_equal(a.array, b.array)


def test_export_choices_show_labels_and_store_command_line_words(slicer):
    """Slicer's parameter node wrapper shows an Enum field in a combo box by ``label(member)``
    (guiConnectors.QComboBoxToEnumConnector) and stores ``member.name`` (serializers.EnumSerializer):
    the names are the command line's words, read back by name, and the words are what the
    logic's round-trip test above exports with."""
    from LabelMapSegLib.choices import TRANSFER_SYNTAXES, OverlapChoice, PhotometricChoice, TransferSyntaxChoice

    import LabelMapSeg

    for choices in (TransferSyntaxChoice, PhotometricChoice, OverlapChoice):
        label = getattr(choices, "label", lambda member: member.name)  # as the connector looks it up
        shown, stored = [label(member) for member in choices], [member.name for member in choices]
        assert stored == [member.value for member in choices]
        assert all(choices[name] is member for name, member in zip(stored, choices, strict=True))
        assert not set(shown) & set(stored) and all(member.tooltip() for member in choices)
    assert list(TRANSFER_SYNTAXES) == ["rle", "explicit", "deflated", "jpegls", "jpeg2000", "deflated-frame"]
    parameters = LabelMapSeg.LabelMapSegLogic().getParameterNode()
    assert (parameters.transferSyntax.name, parameters.photometricInterpretation.name, parameters.overlapHandling.name) == (
        "rle",
        "MONOCHROME2",
        "layers",
    )


def _terminology(segment):
    from dicomlabelmap.model.terminology import to_terminology_string

    return to_terminology_string(segment)


def test_load_without_reference_rebuilds_the_full_grid(slicer, demo, tmp_path):
    from LabelMapSegLib.segmentations import reference_geometry

    ct, series, rtstruct = demo
    logic = _logic()
    node = logic.importRtStruct(str(rtstruct), ct)
    paths = logic.exportLabelMapSeg(node, ct, str(tmp_path))
    loaded = logic.loadLabelMapSeg(paths)  # no reference volume: the SEG's own frames (all written)
    assert reference_geometry(loaded).is_close(series.geometry, 1e-4)


def test_labelmap_export_has_the_ct_shape_and_matrix(slicer, demo):
    import vtk

    ct, series, rtstruct = demo
    logic = _logic()
    node = logic.importRtStruct(str(rtstruct), ct)
    labelmaps = logic.exportLabelmapVolumes(node, ct)
    assert labelmaps
    a, b = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    ct.GetIJKToRASMatrix(b)
    segmentation = node.GetSegmentation()
    assert len(labelmaps) == segmentation.GetNumberOfLayers()
    for layer, labelmap in enumerate(labelmaps):
        assert labelmap.IsA("vtkMRMLLabelMapVolumeNode")
        assert labelmap.GetImageData().GetDimensions() == ct.GetImageData().GetDimensions()
        labelmap.GetIJKToRASMatrix(a)
        assert all(abs(a.GetElement(r, c) - b.GetElement(r, c)) < 1e-9 for r in range(4) for c in range(4))
        colors = labelmap.GetDisplayNode().GetColorNode()
        for index in range(segmentation.GetNumberOfSegments()):
            segment_id = segmentation.GetNthSegmentID(index)
            if segmentation.GetLayerIndex(segment_id) == layer:
                segment = segmentation.GetSegment(segment_id)
                assert colors.GetColorName(segment.GetLabelValue()) == segment.GetName()


def test_export_refuses_a_reference_not_from_dicom(slicer, demo, tmp_path):
    from dicomlabelmap.errors import ReferenceSeriesError

    ct, series, rtstruct = demo
    logic = _logic()
    node = logic.importRtStruct(str(rtstruct), ct)
    plain = volume_node(slicer.mrmlScene, series.geometry, "NRRD volume")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ReferenceSeriesError, match="not loaded from DICOM"):
        logic.exportLabelMapSeg(node, plain, str(out))
    assert list(out.iterdir()) == []
    # ... unless the console user names the series' folder.
    paths = logic.exportLabelMapSeg(node, plain, str(out), referenceDirectory=str(series.slices[0].path.parent))
    assert paths


def test_single_instance_refuses_layers(slicer, demo, tmp_path):
    from dicomlabelmap.errors import DicomLabelMapError

    ct, series, rtstruct = demo
    logic = _logic()
    node = logic.importRtStruct(str(rtstruct), ct)
    layers = node.GetSegmentation().GetNumberOfLayers()
    assert layers > 1, "the demo case has overlapping ROIs"
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DicomLabelMapError, match=f"{layers} layers"):
        logic.exportLabelMapSeg(node, ct, str(out), overlapHandling="single")
    assert list(out.iterdir()) == []


def test_failures_and_cancellation_leave_no_nodes(slicer, demo, tmp_path):
    from dicomlabelmap.errors import DicomLabelMapError, OperationCancelled

    ct, series, rtstruct = demo
    logic = _logic()
    count = slicer.mrmlScene.GetNumberOfNodes()

    def cancel(fraction, message):
        if fraction > 0.5:
            raise OperationCancelled("stop")

    with pytest.raises(OperationCancelled):
        logic.importRtStruct(str(rtstruct), ct, progressCallback=cancel)
    assert slicer.mrmlScene.GetNumberOfNodes() == count
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI")
    with pytest.raises(DicomLabelMapError):
        logic.loadLabelMapSeg([str(broken)], ct)
    assert slicer.mrmlScene.GetNumberOfNodes() == count
    node = logic.importRtStruct(str(rtstruct), ct)
    before = slicer.mrmlScene.GetNumberOfNodes()
    out = tmp_path / "out"
    out.mkdir()

    def cancel_second_layer(fraction, message):
        if "layer 2" in message:
            raise OperationCancelled("stop")

    with pytest.raises(OperationCancelled):
        logic.exportLabelMapSeg(node, ct, str(out), progressCallback=cancel_second_layer)
    assert list(out.iterdir()) == []  # layer 1 was written and verified, then removed
    assert slicer.mrmlScene.GetNumberOfNodes() == before


def test_convert_binary_seg_folder(slicer, tmp_path):
    from dicomlabelmap.seg.reader import read_seg

    source = shared_file("highdicom/seg_image_ct_binary_overlap.dcm")
    lines = _logic().convertSegFiles(str(source), str(tmp_path))
    assert len(lines) == 1 and "BINARY" in lines[0]
    written = sorted((tmp_path / source.stem).glob("*.dcm"))
    original = read_seg(source)
    assert len(written) == len(original.volumes)
    for path, volume in zip(written, original.volumes, strict=True):
        np.testing.assert_array_equal(read_seg(path).volumes[0].array, volume.array)


@pytest.mark.realdata
def test_lung1_user_path_rtstruct_to_label_map_seg_and_back(slicer, tmp_path):
    """LUNG1-001: RTSTRUCT -> segmentation on the CT grid -> Label Map SEG -> segmentation."""
    from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node, reference_geometry

    root = shared_file("nsclc-lung1-001")
    rtstruct = next((root / "rtstruct").rglob("*.dcm"))
    ct_folder = root / "ct"
    ct, series = _ct_node(slicer, ct_folder)
    logic = _logic()
    node = logic.importRtStruct(str(rtstruct), ct)
    assert reference_geometry(node).is_close(series.geometry, 1e-6)
    paths = logic.exportLabelMapSeg(node, ct, str(tmp_path), transferSyntax="jpegls")
    loaded = logic.loadLabelMapSeg(paths, ct)
    assert sorted(_segments(loaded)) == sorted(_segments(node))
    for a, b in zip(label_volumes_from_segmentation_node(node, ct), label_volumes_from_segmentation_node(loaded, ct), strict=True):
        assert a.array.shape == series.geometry.shape
        np.testing.assert_array_equal(a.array, b.array)


def test_import_rtstruct_with_a_label_scheme_imports_only_the_selected_rois(slicer, demo, tmp_path):
    """The module's scheme and selection fields reach the same core as --roi-map/--include/--exclude:
    only the chosen ROIs become segments, with the scheme's label values, names and colours."""
    from dicomlabelmap.model.scheme import load_scheme
    from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
    from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node

    import LabelMapSeg

    ct, series, rtstruct = demo
    names = [roi.name for roi in rtstruct_to_labels(rtstruct, series).structure_set.rois]
    scheme = tmp_path / "scheme.json"
    scheme.write_text(json.dumps({"labels": [{"value": 40, "name": "first", "aliases": [names[0]], "color": [1, 2, 3]},
                                             {"value": 41, "name": "second", "aliases": [names[1]]},
                                             {"value": 42, "name": "third", "aliases": [names[2]]}]}))  # fmt: skip
    assert LabelMapSeg.splitSelection(f" {names[0]} ; ;{names[1]}") == [names[0], names[1]]
    logic = _logic()
    node = logic.importRtStruct(str(rtstruct), ct, scheme=str(scheme), exclude=LabelMapSeg.splitSelection("second"))
    rows = _segments(node)
    assert sorted((value, name) for value, _, name, _, _ in rows) == [(40, "first"), (42, "third")]
    assert next(color for value, _, _, color, _ in rows if value == 40) == (1, 2, 3)
    expected = rtstruct_to_labels(rtstruct, series, scheme=load_scheme(scheme).with_selection(exclude=["second"]))
    got = label_volumes_from_segmentation_node(node, ct)
    expected_masks = {s.number: v.array == s.number for v in expected.label_volumes for s in v.segments}
    got_masks = {s.number: v.array == s.number for v in got for s in v.segments}
    assert sorted(got_masks) == sorted(expected_masks) == [40, 42]
    for value in expected_masks:
        np.testing.assert_array_equal(got_masks[value], expected_masks[value])
    report = logic.lastImportReport
    assert report["labels_missing"] == ["second"] and report["excluded_rois"] == [names[1]]
    assert {row["name"]: row["status"] for row in report["rois"]}[names[1]] == "excluded"
    # a scheme that selects nothing is an error and leaves no node behind
    before = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")
    with pytest.raises(Exception, match="selects none"):
        logic.importRtStruct(str(rtstruct), ct, include=["no such ROI"])
    assert slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == before

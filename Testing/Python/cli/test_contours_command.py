"""``dicomlabelmap contours`` and its Python counterpart (:mod:`dicomlabelmap.export`): label files
with their label tables and DICOM SEG series back to RT Structure Sets, exact; bad input refused in
one sentence with exit code 1 and nothing written."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from conftest import shared_file
from dicomlabelmap import rtstruct_to_labels
from dicomlabelmap.cli.common import EXIT_ERROR, EXIT_OK
from dicomlabelmap.cli.contours import format_result, write_options
from dicomlabelmap.cli.main import main
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.errors import DicomLabelMapError
from dicomlabelmap.export import is_label_file, read_labels, segmentation_to_rtstruct
from dicomlabelmap.files.labelfiles import write_label_file
from dicomlabelmap.files.labeltables import apply_itksnap_table, read_itksnap_table
from dicomlabelmap.model.labels import LabelVolume, build_label_volumes
from dicomlabelmap.model.masks import BoxMask
from dicomlabelmap.model.segment import Segment
from dicomlabelmap.rtstruct.writer import ContourWriteOptions
from dicomlabelmap.seg.reader import read_seg
from dicomlabelmap.seg.sources import seg_sources
from dicomlabelmap.seg.writer import write_label_map_segs
from dicomlabelmap.synthetic import hard_geometry, hard_masks, make_image_series, save


@pytest.fixture
def case(tmp_path):
    """A CT, the hard masks as layers on it, and their masks by name."""
    images = make_image_series(hard_geometry())
    save(images, tmp_path / "ct")
    reference = read_reference_series(tmp_path / "ct")
    masks = hard_masks(reference.geometry.shape)
    items = [(Segment(n, name, color=(n * 30, 0, 0)), BoxMask.from_full(mask)) for n, (name, mask) in enumerate(masks.items(), start=1)]
    return tmp_path, reference, build_label_volumes(reference.geometry, items), masks


def _masks(path, ct):
    conversion = rtstruct_to_labels(path, ct)
    return {raster.roi.name: raster.full_mask() for raster in conversion.rois}


def test_a_seg_nrrd_becomes_an_exact_structure_set(case, capsys):
    folder, _, volumes, masks = case
    write_label_file(folder / "labels.seg.nrrd", volumes)
    output = folder / "rs.dcm"
    assert main(["contours", str(folder / "labels.seg.nrrd"), "-r", str(folder / "ct"), "-o", str(output)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "holes as keyhole, midpoint outlines" in out and out.count("identical") == len(masks) + 1
    found = _masks(output, folder / "ct")
    assert all(np.array_equal(found[name], mask) for name, mask in masks.items())


def test_json_report_hole_style_and_shape(case, capsys):
    folder, _, volumes, masks = case
    write_label_file(folder / "labels.seg.nrrd", volumes)
    arguments = ["contours", str(folder / "labels.seg.nrrd"), "-r", str(folder / "ct"), "-o", str(folder / "rs.dcm")]
    assert main([*arguments, "--holes", "xor", "--shape", "voxel-edge", "--json", "--label", "Mine"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert (report["holes"], report["shape"], report["output"]) == ("xor", "voxel-edge", str(folder / "rs.dcm"))
    rows = {row["name"]: row for row in report["rois"]}
    assert rows["islands"]["pieces"] == 24 and rows["islands"]["holes"] == 16 and rows["islands"]["contours"] == 40
    assert all(row["round_trip"] == "identical" for row in report["rois"])
    dataset = pydicom.dcmread(folder / "rs.dcm")
    assert dataset.StructureSetLabel == "Mine"
    assert {c.ContourGeometricType for item in dataset.ROIContourSequence for c in item.ContourSequence} == {"CLOSEDPLANAR_XOR"}


def test_a_nifti_with_its_label_table(case, capsys):
    """NIfTI keeps no names: the .labels.json beside it (as rtstruct writes it) names the ROIs."""
    folder, reference, volumes, masks = case
    (layer, *_rest) = volumes
    write_label_file(folder / "labels.nii.gz", [layer])
    names = [segment.label for segment in layer.segments]
    assert main(["contours", str(folder / "labels.nii.gz"), "-r", str(folder / "ct"), "-o", str(folder / "rs.dcm")]) == EXIT_OK
    assert "segment names, colours and codes from labels.nii.gz.labels.json" in capsys.readouterr().err
    dataset = pydicom.dcmread(folder / "rs.dcm")
    assert [str(item.ROIName) for item in dataset.StructureSetROISequence] == names
    assert [list(item.ROIDisplayColor) for item in dataset.ROIContourSequence] == [list(s.color) for s in layer.segments]


def test_an_itksnap_table_a_label_table_and_no_table(case):
    """Beside a NIfTI: our .labels.json (read as encode reads it, interpreted type included), else
    ITK-SNAP's .labels.txt, else the values' own names."""
    folder, reference, volumes, masks = case
    array = masks["ring"].astype(np.uint8) * 3
    write_label_file(folder / "plain.nii.gz", [LabelVolume(array, reference.geometry, [Segment(3, "x")])], label_table=False)
    labels = read_labels(folder / "plain.nii.gz", reference)
    assert [s.label for v in labels.volumes for s in v.segments] == ["Segment 3"] and not labels.notes
    (folder / "plain.labels.txt").write_text('    3   10   20   30        1  1  1    "Ring"\n', encoding="utf-8")
    table, path = read_itksnap_table(folder / "plain.nii.gz")
    assert path == folder / "plain.labels.txt" and table == {3: ((10, 20, 30), "Ring")}
    (segment,) = apply_itksnap_table(labels.volumes, table)[0].segments
    assert (segment.label, segment.color) == ("Ring", (10, 20, 30))
    assert read_labels(folder / "plain.nii.gz", reference).notes == ["segment names and colours from plain.labels.txt"]
    entry = {"value": 3, "name": "Ring J", "present": True, "color": [1, 2, 3], "interpreted_type": "ptv", "algorithm_type": "AUTOMATIC"}
    (folder / "plain.labels.json").write_text(json.dumps({"labels": [entry]}))
    (segment,) = read_labels(folder / "plain.nii.gz", reference).volumes[0].segments
    assert (segment.label, segment.color, segment.algorithm_type.value) == ("Ring J", (1, 2, 3), "AUTOMATIC")
    assert segment.properties["RtRoiInterpretedType"] == "PTV"
    (folder / "plain.labels.json").write_text("{not json")
    with pytest.raises(DicomLabelMapError, match="plain.labels.json: not valid JSON"):
        read_labels(folder / "plain.nii.gz", reference)


def test_interpreted_types_survive_a_nifti_and_its_table(case):
    """RT Structure Set -> NIfTI + table -> contours keeps every ROI's RT ROI Interpreted Type."""
    folder, reference, volumes, masks = case
    segment = Segment(1, "Body", properties={"RtRoiInterpretedType": "EXTERNAL"})
    write_label_file(folder / "body.nii.gz", [LabelVolume(masks["border"].astype(np.uint8), reference.geometry, [segment])])
    assert json.loads((folder / "body.nii.gz.labels.json").read_text())["labels"][0]["interpreted_type"] == "EXTERNAL"
    segmentation_to_rtstruct(folder / "body.nii.gz", folder / "ct", folder / "rs.dcm")
    assert pydicom.dcmread(folder / "rs.dcm").RTROIObservationsSequence[0].RTROIInterpretedType == "EXTERNAL"


def test_a_flipped_nifti_is_reoriented(case, capsys):
    folder, reference, volumes, masks = case
    geometry = reference.geometry
    flip = np.eye(4)
    flip[0, 0], flip[0, 3] = -1, geometry.shape[2] - 1
    flipped = LabelVolume(
        (masks["thin"] * 1).astype(np.uint8)[:, :, ::-1].copy(),
        geometry.__class__.from_ijk_to_lps(geometry.shape, geometry.ijk_to_lps @ flip),
        [Segment(1, "thin")],
    )
    write_label_file(folder / "flipped.nii.gz", [flipped], label_table=False)
    assert main(["contours", str(folder / "flipped.nii.gz"), "-r", str(folder / "ct"), "-o", str(folder / "rs.dcm")]) == EXIT_OK
    assert "swapped/reversed to match (no resampling)" in capsys.readouterr().err
    assert np.array_equal(_masks(folder / "rs.dcm", folder / "ct")["Segment 1"], masks["thin"])


def test_a_label_map_seg_series_becomes_an_exact_structure_set(case):
    folder, reference, volumes, masks = case
    (folder / "seg").mkdir()
    paths = write_label_map_segs(volumes, reference, folder / "seg")
    assert len(paths) == len(volumes) > 1  # overlapping segments: one instance per layer
    result, labels = segmentation_to_rtstruct(folder / "seg", folder / "ct", folder / "rs.dcm", ContourWriteOptions())
    assert labels.reference.series_instance_uid == reference.series_instance_uid
    found = _masks(folder / "rs.dcm", folder / "ct")
    assert all(np.array_equal(found[name], mask) for name, mask in masks.items())
    assert seg_sources(pydicom.dcmread(paths[0], stop_before_pixels=True)).series_uids == {reference.series_instance_uid}


def test_a_binary_seg_from_dcmqi(tmp_path):
    """Real data: dcmqi's BINARY liver SEG on its 3-slice CT, written back as contours."""
    seg, ct = shared_file("dcmqi/liver.dcm"), shared_file("dcmqi/ct-3slice")
    assert main(["contours", str(seg), "-r", str(ct), "-o", str(tmp_path / "rs.dcm"), "--holes", "nested"]) == EXIT_OK
    expected = read_seg(seg, read_reference_series(ct)).volumes
    found = _masks(tmp_path / "rs.dcm", ct)
    for volume in expected:
        for segment in volume.segments:
            assert np.array_equal(found[segment.label], volume.array == segment.number), segment.label


def test_a_seg_drawn_on_another_series_is_refused(case, capsys):
    folder, reference, volumes, _ = case
    (folder / "seg").mkdir()
    write_label_map_segs(volumes[:1], reference, folder / "seg")
    other = make_image_series(hard_geometry(), series_description="another reconstruction")
    save(other, folder / "other")
    output = folder / "rs.dcm"
    assert main(["contours", str(folder / "seg"), "-r", str(folder / "other"), "-o", str(output)]) == EXIT_ERROR
    error = capsys.readouterr().err
    assert f"references series {reference.series_instance_uid}, not the reference series {other[0].SeriesInstanceUID}" in error
    assert error.count("\n") == 1 and not output.exists()


@pytest.mark.parametrize("problem", ["off-lattice", "missing-slice", "bad-suffix", "no-input", "exists", "folder"])
def test_bad_input_is_one_sentence_and_exit_1(case, capsys, problem):
    folder, reference, volumes, _ = case
    labels = folder / "labels.seg.nrrd"
    write_label_file(labels, volumes)
    output = folder / ("rs.nrrd" if problem == "bad-suffix" else "rs.dcm")
    if problem == "folder":
        output = folder / "out"
        output.mkdir()
    if problem == "off-lattice":
        geometry = reference.geometry
        moved = [
            LabelVolume(
                v.array, geometry.__class__(geometry.shape, geometry.origin + [0, 0.3, 0], geometry.spacing, geometry.direction), v.segments
            )
            for v in volumes
        ]
        write_label_file(labels, moved, overwrite=True)
    elif problem == "missing-slice":
        sorted(reference.slices, key=lambda s: s.position[2])[3].path.unlink()
    elif problem == "no-input":
        labels = folder / "nothing.nii.gz"
    elif problem == "exists":
        output.write_bytes(b"old")
    code = main(["contours", str(labels), "-r", str(folder / "ct"), "-o", str(output)])
    error = capsys.readouterr().err
    assert code == EXIT_ERROR and error.startswith("dicomlabelmap: error: ") and error.count("\n") == 1
    expected = {
        "off-lattice": "grid differs from the reference series' grid: origin",
        "missing-slice": "1 slice(s) missing from the series",
        "bad-suffix": "give a name ending in .dcm",
        "no-input": "nothing.nii.gz: no such file or folder",
        "exists": "exists; choose another name or use --overwrite",
        "folder": "out is a folder; give the RT Structure Set's file name",
    }[problem]
    assert expected in error
    if problem == "exists":
        assert output.read_bytes() == b"old"
    else:
        assert not output.exists() or not list(output.iterdir())
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_scheme_selection_and_skip_empty(case, capsys):
    folder, reference, volumes, masks = case
    empty = LabelVolume(np.zeros(reference.geometry.shape, np.uint8), reference.geometry, [Segment(9, "empty")])
    write_label_file(folder / "labels.seg.nrrd", [*volumes, empty])
    scheme = folder / "scheme.json"
    scheme.write_text(
        json.dumps({"labels": [{"value": 5, "name": "Border", "aliases": ["border"], "interpreted_type": "EXTERNAL"}], "unmatched": "keep"})
    )
    arguments = ["contours", str(folder / "labels.seg.nrrd"), "-r", str(folder / "ct"), "-o", str(folder / "rs.dcm")]
    assert main([*arguments, "--roi-map", str(scheme), "--exclude", "ring", "--skip-empty", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert [(row["number"], row["name"], row["interpreted_type"]) for row in report["rois"]][:2] == [
        (5, "Border", "EXTERNAL"),
        (6, "islands", ""),
    ]
    assert {entry["name"]: entry["reason"] for entry in report["left_out"]} == {
        "ring": "excluded by 'ring'",
        "empty": "empty (--skip-empty)",
    }


def test_inputs_are_told_apart(case):
    folder, _, volumes, _ = case
    write_label_file(folder / "labels.nrrd", volumes[:1])
    assert is_label_file(folder / "labels.nrrd") and not is_label_file(folder / "ct")
    with pytest.raises(DicomLabelMapError, match="no label file or DICOM Segmentation found"):
        read_labels(folder / "ct", folder / "ct")
    with pytest.raises(DicomLabelMapError, match="give one label file"):
        read_labels([folder / "labels.nrrd", folder / "labels.nrrd"], folder / "ct")


def test_a_fractional_seg_written_by_highdicom(case):
    """A FRACTIONAL SEG (PROBABILITY) written by highdicom on our CT: thresholded at
    --fractional-threshold of Maximum Fractional Value, then written as exact contours."""
    highdicom = pytest.importorskip("highdicom")
    from pydicom.sr.codedict import codes

    folder, reference, _, masks = case
    sources = [pydicom.dcmread(source.path) for source in reference.slices]
    probability = np.clip(masks["ring"] * 0.9 + masks["thin"] * 0.3 + masks["islands"] * 0.6, 0, 1).astype(np.float32)
    description = highdicom.seg.SegmentDescription(
        segment_number=1,
        segment_label="tissue",
        segmented_property_category=codes.SCT.Tissue,
        segmented_property_type=codes.SCT.Tissue,
        algorithm_type=highdicom.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = highdicom.seg.Segmentation(
        source_images=sources,
        pixel_array=probability,
        segmentation_type=highdicom.seg.SegmentationTypeValues.FRACTIONAL,
        segment_descriptions=[description],
        series_instance_uid=highdicom.UID(),
        series_number=5,
        sop_instance_uid=highdicom.UID(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="1",
        device_serial_number="1",
        max_fractional_value=200,
    )
    seg.save_as(folder / "fractional.dcm")
    for threshold, expected in ((0.5, masks["ring"] | masks["islands"]), (0.25, masks["ring"] | masks["islands"] | masks["thin"])):
        output = folder / f"rs{threshold}.dcm"
        arguments = ["contours", str(folder / "fractional.dcm"), "-r", str(folder / "ct"), "-o", str(output)]
        assert main([*arguments, "--fractional-threshold", str(threshold)]) == EXIT_OK
        assert np.array_equal(_masks(output, folder / "ct")["tissue"], expected), threshold


def test_the_report_table_and_the_options_from_words(case):
    import argparse

    folder, reference, volumes, _ = case
    arguments = argparse.Namespace(holes="nested", shape="voxel-edge", skip_empty=True, label="L", series_description="D")
    options = write_options(arguments)
    assert (options.holes.value, options.shape.value, options.skip_empty, options.structure_set_label) == (
        "nested",
        "voxel-edge",
        True,
        "L",
    )
    from dicomlabelmap.rtstruct.writer import write_rtstruct

    result = write_rtstruct(volumes, reference, folder / "rs.dcm", options)
    lines = format_result(result).splitlines()
    assert lines[0] == "RT Structure Set: 6 ROI(s), holes as nested, voxel-edge outlines"
    assert lines[2].split() == [
        "ROI",
        "Name",
        "Type",
        "Segments",
        "Contours",
        "Points",
        "Pieces",
        "Holes",
        "Slices",
        "Voxels",
        "Round",
        "trip",
    ]
    islands = next(line for line in lines if " islands " in line).split()
    assert islands[:2] == ["2", "islands"] and islands[-5:] == ["24", "16", "8", "2120", "identical"]


def test_several_seg_series_need_a_choice(case, capsys):
    folder, reference, volumes, masks = case
    for name in ("a", "b"):
        (folder / "segs" / name).mkdir(parents=True)
        write_label_map_segs(volumes[:1], reference, folder / "segs" / name)
    output = folder / "rs.dcm"
    assert main(["contours", str(folder / "segs"), "-r", str(folder / "ct"), "-o", str(output)]) == EXIT_ERROR
    error = capsys.readouterr().err
    assert "several Segmentation series found; choose one with --seg-series-uid" in error and not output.exists()
    uid = pydicom.dcmread(next((folder / "segs" / "b").glob("*.dcm"))).SeriesInstanceUID
    assert main(["contours", str(folder / "segs"), "-r", str(folder / "ct"), "-o", str(output), "--seg-series-uid", uid]) == EXIT_OK
    assert (
        main(["contours", str(folder / "segs"), "-r", str(folder / "ct"), "-o", str(folder / "x.dcm"), "--seg-series-uid", "1.2.3"])
        == EXIT_ERROR
    )
    assert "Segmentation series 1.2.3 not found" in capsys.readouterr().err

"""The SEG commands (encode, decode, convert, info, validate), the converter's fidelity and
the validator's checks."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from conftest import shared_file
from dicomlabelmap.cli.common import EXIT_ERROR, EXIT_OK
from dicomlabelmap.cli.main import main
from dicomlabelmap.files.labelfiles import read_label_file
from dicomlabelmap.seg.convert import convert_to_label_map_seg
from dicomlabelmap.seg.reader import read_seg
from dicomlabelmap.seg.validate import validate_seg
from dicomlabelmap.synthetic import write_demo_case


@pytest.fixture
def demo_seg(tmp_path, capsys):
    ct, rtstruct = write_demo_case(tmp_path / "dicom")
    labels = tmp_path / "demo.seg.nrrd"
    assert main(["rtstruct", str(rtstruct), "-r", str(ct), "-o", str(labels)]) == EXIT_OK
    capsys.readouterr()
    return ct, labels


def test_encode_then_decode_is_lossless(demo_seg, tmp_path, capsys):
    ct, labels = demo_seg
    assert main(["encode", str(labels), "-r", str(ct), "-o", str(tmp_path / "seg"), "-t", "jpegls", "--omit-empty-frames"]) == EXIT_OK
    assert "Wrote and verified 3 Label Map SEG instance(s)" in capsys.readouterr().out
    original = read_label_file(labels)
    for index, volume in enumerate(original, start=1):
        out = tmp_path / f"layer{index}.seg.nrrd"
        assert main(["decode", str(tmp_path / "seg" / f"LabelMapSEG_{index:03d}.dcm"), "-r", str(ct), "-o", str(out)]) == EXIT_OK
        (decoded,) = read_label_file(out)
        np.testing.assert_array_equal(decoded.array, volume.array)
        assert [(s.number, s.label, s.display_color(), s.type) for s in decoded.segments] == sorted(
            ((s.number, s.label, s.display_color(), s.type) for s in volume.segments), key=lambda t: t[0]
        )
        assert decoded.geometry.is_close(volume.geometry, 1e-4)


def test_info_and_validate(demo_seg, tmp_path, capsys):
    ct, labels = demo_seg
    main(["encode", str(labels), "-r", str(ct), "-o", str(tmp_path / "seg")])
    path = tmp_path / "seg" / "LabelMapSEG_001.dcm"
    capsys.readouterr()
    assert main(["info", str(path), "--json"]) == EXIT_OK
    info = json.loads(capsys.readouterr().out)
    assert info["segmentation_type"] == "LABELMAP" and info["transfer_syntax"]["name"] == "rle" and info["frames"] == 12
    assert {s["label"] for s in info["segments"]} >= {"Markers"} and info["background_segment_number"] == 0
    assert main(["validate", str(path)]) == EXIT_OK
    assert "valid (0 error(s)" in capsys.readouterr().out


def test_validate_reports_broken_rules(demo_seg, tmp_path, capsys):
    ct, labels = demo_seg
    main(["encode", str(labels), "-r", str(ct), "-o", str(tmp_path / "seg")])
    dataset = pydicom.dcmread(tmp_path / "seg" / "LabelMapSEG_001.dcm")
    dataset.SegmentsOverlap = "YES"
    dataset.SegmentSequence[1].SegmentNumber = dataset.SegmentSequence[2].SegmentNumber
    broken = tmp_path / "broken.dcm"
    dataset.save_as(broken)
    attributes = {f.attribute for f in validate_seg(broken, run_dciodvfy=False) if f.severity.value == "error"}
    assert {"SegmentsOverlap", "SegmentNumber"} <= attributes
    capsys.readouterr()
    assert main(["validate", str(broken)]) == EXIT_ERROR
    assert "INVALID" in capsys.readouterr().out
    (tmp_path / "junk.dcm").write_bytes(b"junk")
    assert validate_seg(tmp_path / "junk.dcm")[0].severity.value == "error"


@pytest.mark.realdata
def test_convert_keeps_numbers_names_colours_and_codes(tmp_path):
    """dcmqi's 5 overlapping BINARY segments: numbers kept (bin2labelsegimage renumbers)."""
    source = shared_file("dcmqi/partial_overlaps.dcm")
    contents, paths = convert_to_label_map_seg(source, tmp_path)
    original = {item.SegmentNumber: item for item in pydicom.dcmread(source).SegmentSequence}
    seen = {}
    for path in paths:
        written = read_seg(path, None)
        for segment in written.segments:
            seen[segment.number] = segment
        dataset = pydicom.dcmread(path)
        assert dataset.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.7"
    assert sorted(seen) == sorted(original) == [1, 2, 3, 4, 5]
    for number, item in original.items():
        assert seen[number].label == item.SegmentLabel
        assert seen[number].type.value == item.SegmentedPropertyTypeCodeSequence[0].CodeValue
    # the voxels: each segment's mask in the label maps equals the BINARY segment's mask
    binary = read_seg(source)
    for volume in binary.volumes:
        for segment in volume.segments:
            layer = next(read_seg(p).volumes[0] for p in paths if any(s.number == segment.number for s in read_seg(p).segments))
            np.testing.assert_array_equal(layer.array == segment.number, volume.array == segment.number)


@pytest.mark.realdata
def test_convert_command_on_1bit_rle(tmp_path, capsys):
    assert main(["convert", str(shared_file("pydicom-data/liver_rle.dcm")), "-o", str(tmp_path)]) == EXIT_OK
    assert "segments kept: 1 'Liver'" in capsys.readouterr().out
    (volume,) = read_seg(tmp_path / "LabelMapSEG_001.dcm").volumes
    assert int(np.count_nonzero(volume.array)) == 107_098


@pytest.mark.parametrize("omit_empty", [False, True], ids=["all-frames", "omit-empty"])
def test_a_multi_layer_series_reads_back_from_a_folder_or_several_files(tmp_path, capsys, omit_empty):
    """encode writes one instance per layer; decode, info and validate take the folder (or the
    files) and give every layer back on one grid, even without the reference series."""
    ct, rtstruct = write_demo_case(tmp_path / "dicom")
    labels = tmp_path / "demo.seg.nrrd"
    assert main(["rtstruct", str(rtstruct), "-r", str(ct), "-o", str(labels)]) == EXIT_OK
    layers = read_label_file(labels)
    assert len(layers) == 3
    command = ["encode", str(labels), "-r", str(ct), "-o", str(tmp_path / "seg")] + (["--omit-empty-frames"] if omit_empty else [])
    assert main(command) == EXIT_OK
    files = sorted((tmp_path / "seg").glob("*.dcm"))
    assert len(files) == 3
    capsys.readouterr()
    for sources in ([str(tmp_path / "seg")], [str(f) for f in files]):
        back = tmp_path / "back.seg.nrrd"
        assert main(["decode", *sources, "-o", str(back), "--overwrite"]) == EXIT_OK
        found = read_label_file(back)
        assert len(found) == 3
        for mine, theirs in zip(layers, found, strict=True):
            assert theirs.geometry.is_close(mine.geometry, 1e-4)
            np.testing.assert_array_equal(theirs.array, mine.array)
            assert [s.label for s in theirs.segments] == [s.label for s in mine.segments]
    capsys.readouterr()
    assert main(["info", str(tmp_path / "seg"), "--json"]) == EXIT_OK
    info = json.loads(capsys.readouterr().out)
    assert len(info["instances"]) == 3 and info["layers"] == 3 and sorted({s["layer"] for s in info["segments"]}) == [1, 2, 3]
    assert main(["validate", str(tmp_path / "seg")]) == EXIT_OK
    assert capsys.readouterr().out.count(": valid (") == 3
    # A second series in the folder: listed, and --series-uid chooses.
    assert main(["encode", str(labels), "-r", str(ct), "-o", str(tmp_path / "seg" / "other")]) == EXIT_OK
    capsys.readouterr()
    assert main(["decode", str(tmp_path / "seg"), "-o", str(tmp_path / "x.seg.nrrd")]) == EXIT_ERROR
    error = capsys.readouterr().err
    assert "several Segmentation series found; choose one with --series-uid" in error and not (tmp_path / "x.seg.nrrd").exists()
    uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID)
    assert main(["decode", str(tmp_path / "seg"), "--series-uid", uid, "-o", str(tmp_path / "x.seg.nrrd")]) == EXIT_OK
    assert len(read_label_file(tmp_path / "x.seg.nrrd")) == 3


def test_decode_reads_jpeg2000_frames_in_two_processes_and_gets_the_same_labels(tmp_path, monkeypatch, capsys):
    """The command line decodes JPEG 2000 frames with a forked helper (the library's default is
    one process; JPEG-LS decodes fast enough alone); the label map it writes is the one encoded."""
    pytest.importorskip("openjpeg")
    from conftest import axial_geometry
    from dicomlabelmap.dicom.processes import can_fork
    from dicomlabelmap.files.labelfiles import write_label_file
    from dicomlabelmap.model.labels import LabelVolume
    from dicomlabelmap.model.segment import Segment
    from dicomlabelmap.seg import reader
    from dicomlabelmap.synthetic import make_image_series, save

    if not can_fork():
        pytest.skip("two processes only where the command line forks (Linux)")
    geometry = axial_geometry(shape=(30, 48, 48))
    save(make_image_series(geometry), tmp_path / "ct")
    rng = np.random.default_rng(11)
    array = (rng.random(geometry.shape) > 0.5).astype(np.uint8) * rng.integers(1, 4, geometry.shape).astype(np.uint8)
    write_label_file(tmp_path / "in.seg.nrrd", [LabelVolume(array, geometry, [Segment(n, f"S{n}") for n in (1, 2, 3)])])
    encode = ["encode", str(tmp_path / "in.seg.nrrd"), "-r", str(tmp_path / "ct"), "-o", str(tmp_path / "seg"), "-t", "jpeg2000"]
    assert main(encode) == EXIT_OK
    helpers = []

    def counted(work, mine, theirs):
        helpers.append(len(theirs))
        return split(work, mine, theirs)

    split = reader.map_in_two_processes
    monkeypatch.setattr(reader, "map_in_two_processes", counted)
    out = tmp_path / "out.nrrd"
    assert main(["decode", str(tmp_path / "seg"), "-r", str(tmp_path / "ct"), "-o", str(out)]) == EXIT_OK
    assert helpers == [15]  # every other one of the 30 distinct frames
    (decoded,) = read_label_file(out)
    np.testing.assert_array_equal(decoded.array, array)

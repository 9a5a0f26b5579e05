"""A Label Map SEG series (one instance per label layer, as ``write_label_map_segs`` writes it)
read back onto one grid: every layer equals what was written, voxel for voxel; without a reference
the grid spans the frames of all instances, so layers whose empty frames were omitted still line
up; other files in the folders are ignored; several series must be chosen between."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from dicomlabelmap.errors import DicomLabelMapError, InvalidDicomError
from dicomlabelmap.findings import Finding, Severity
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.seg.series import SegSeries, find_seg_files, read_seg_series
from dicomlabelmap.seg.writer import SegWriteOptions, write_label_map_segs
from dicomlabelmap.synthetic import write_demo_case


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo conversion and its Label Map SEG series, written twice: with every frame, and
    with empty frames omitted."""
    root = tmp_path_factory.mktemp("segseries")
    ct, rtstruct = write_demo_case(root / "dicom")
    conversion = rtstruct_to_labels(rtstruct, [ct])
    full, omitted = root / "full", root / "omitted"
    full.mkdir()
    omitted.mkdir()
    write_label_map_segs(conversion.label_volumes, conversion.reference, full)
    write_label_map_segs(conversion.label_volumes, conversion.reference, omitted, SegWriteOptions(omit_empty_frames=True))
    return conversion, ct, full, omitted


def assert_same_layers(series: SegSeries, conversion) -> None:
    assert len(series.volumes) == len(conversion.label_volumes) == 3
    for found, written in zip(series.volumes, conversion.label_volumes, strict=True):
        np.testing.assert_array_equal(found.array, written.array)
        assert [(s.number, s.label, s.display_color()) for s in found.segments] == [
            (s.number, s.label, s.display_color()) for s in written.segments
        ]
        assert found.geometry.is_close(conversion.reference.geometry)


@pytest.mark.parametrize("folder", ["full", "omitted"])
def test_series_reads_back_voxel_for_voxel(demo, folder):
    conversion, _, full, omitted = demo
    source = full if folder == "full" else omitted
    series = read_seg_series(source)
    assert series.paths == [source / f"LabelMapSEG_00{n}.dcm" for n in (1, 2, 3)]
    assert {content.segmentation_type for content in series.contents} == {"LABELMAP"}
    assert series.geometry.shape == (12, 96, 128)  # the omitted layer alone would span slices 2-5 only
    assert [s.number for s in series.segments] == [3, 4, 5, 6, 1, 2]
    assert series.findings == []
    assert_same_layers(series, conversion)


def test_one_instance_of_omitted_frames_spans_only_its_frames(demo):
    """Alone, the rings' instance (frames 2-5 only) rebuilds a grid of its own frames; with the
    reference series it is placed on the full grid."""
    conversion, _, _, omitted = demo
    alone = read_seg_series([omitted / "LabelMapSEG_003.dcm"])
    assert alone.geometry.shape == (4, 96, 128)
    placed = read_seg_series([omitted / "LabelMapSEG_003.dcm"], conversion.reference)
    np.testing.assert_array_equal(placed.volumes[0].array, conversion.label_volumes[2].array)


def test_other_files_are_ignored_and_series_are_told_apart(demo, tmp_path):
    conversion, ct, full, omitted = demo
    shutil.copytree(ct, tmp_path / "ct")
    shutil.copytree(full, tmp_path / "a")
    shutil.copytree(omitted, tmp_path / "b")
    (tmp_path / "notes.txt").write_text("not DICOM")
    found = find_seg_files([tmp_path])
    assert len(found) == 2
    assert sorted(sorted(number for number, _ in files) for files in found.values()) == [[1, 2, 3], [1, 2, 3]]
    with pytest.raises(
        DicomLabelMapError, match=r"several Segmentation series found; choose one with --series-uid: .* \(3 file\(s\), e\.g\. "
    ):
        read_seg_series(tmp_path)
    uid = read_seg_series(full).series_instance_uid
    chosen = read_seg_series([tmp_path], series_instance_uid=uid)
    assert chosen.series_instance_uid == uid and [p.parent.name for p in chosen.paths] == ["a", "a", "a"]
    assert_same_layers(chosen, conversion)
    with pytest.raises(DicomLabelMapError, match=r"Segmentation series 1\.2\.3 not found; found: "):
        read_seg_series(tmp_path, series_instance_uid="1.2.3")


def test_what_is_not_a_segmentation(demo, tmp_path):
    _, ct, _, _ = demo
    with pytest.raises(DicomLabelMapError, match=r"no DICOM Segmentation found in .*ct$"):
        read_seg_series(ct)
    image = sorted(ct.iterdir())[0]
    with pytest.raises(InvalidDicomError, match=r"not a Segmentation \(SOP Class UID 1\.2\.840\.10008\.5\.1\.4\.1\.1\.2\)"):
        read_seg_series(image)  # a file named explicitly is an error, not skipped
    with pytest.raises(DicomLabelMapError, match=r"absent: no such file or folder"):
        find_seg_files([tmp_path / "absent"])
    text = tmp_path / "notes.dcm"
    text.write_bytes(b"")
    with pytest.raises(InvalidDicomError, match=r"notes\.dcm: not a DICOM file \(it is empty\)$"):
        find_seg_files([text])
    text.write_text('{"segmentAttributes": []}')
    with pytest.raises(InvalidDicomError, match=r"notes\.dcm: not a DICOM file \(no DICM marker"):
        find_seg_files([text])


def test_findings_name_their_file_when_there_are_several(demo):
    conversion, _, full, _ = demo
    series = read_seg_series(full)
    series.contents[1].findings.append(Finding(Severity.WARNING, "something to look at", attribute="SegmentSequence"))
    assert [str(f) for f in series.findings] == ["warning: SegmentSequence: LabelMapSEG_002.dcm: something to look at"]
    one = SegSeries(series.series_instance_uid, series.contents[1:2])
    assert [f.message for f in one.findings] == ["something to look at"]

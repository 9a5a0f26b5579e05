"""Hostile and broken input: every reader and codec either decodes or raises one of the core's
documented exceptions (DicomLabelMapError) naming the file; sizes are checked before
allocation. Mutation fuzzing (hypothesis) seeded from synthetic files runs here briefly; the
coverage-guided atheris harness (Testing/Fuzz/fuzz_readers.py) runs a short bounded pass."""

from __future__ import annotations

import logging
import os
import sys
import warnings
import zlib

import numpy as np
import pydicom
import pytest
from conftest import REPOSITORY
from dicomlabelmap.dicom.codecs import TransferSyntax, decode_frame
from dicomlabelmap.dicom.limits import set_limits
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.errors import DicomLabelMapError, InvalidDicomError, ResourceLimitError
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.rtstruct.reader import read_rtstruct
from dicomlabelmap.seg.reader import read_seg
from dicomlabelmap.seg.writer import SegWriteOptions, write_label_map_segs
from dicomlabelmap.synthetic import write_demo_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seeds")
    ct, rs = write_demo_case(folder)
    conversion = rtstruct_to_labels(rs, ct)
    segs = {}
    for syntax in TransferSyntax.writable_syntaxes():
        out = folder / syntax.value
        out.mkdir()
        (segs[syntax.value],) = write_label_map_segs(
            conversion.label_volumes[:1], conversion.reference, out, SegWriteOptions(transfer_syntax=syntax)
        )
    return {"ct": sorted(ct.iterdir())[0], "rtstruct": rs, **segs}


def _read(kind, path):
    if kind == "rtstruct":
        return read_rtstruct(path)
    if kind == "ct":
        return read_reference_series([path])
    return read_seg(path)


def _only_documented_errors(kind, data, tmp_path):
    path = tmp_path / "case.dcm"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _read(kind, path)
        except DicomLabelMapError as error:
            assert str(error)


mutations = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8)


@pytest.mark.parametrize("kind", ["rtstruct", "ct", "rle", "explicit", "deflated", "jpegls", "deflated-frame"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=mutations, cut=st.one_of(st.none(), st.floats(0, 1)))
def test_mutated_files_raise_only_documented_errors(seeds, tmp_path, kind, changes, cut):
    logging.disable(logging.CRITICAL)
    data = bytearray(seeds[kind].read_bytes())
    for where, value in changes:
        data[132 + int(where * (len(data) - 132))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    _only_documented_errors(kind, bytes(data), tmp_path)
    logging.disable(logging.NOTSET)


@pytest.mark.parametrize("syntax", [TransferSyntax.RLE, TransferSyntax.DEFLATED_FRAME, TransferSyntax.JPEG_LS, TransferSyntax.JPEG_2000])
@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=400), rows=st.integers(1, 40), columns=st.integers(1, 40), bits=st.sampled_from([1, 8, 16]))
def test_codecs_raise_only_documented_errors_on_garbage(syntax, data, rows, columns, bits):
    try:
        frame = decode_frame(data, rows, columns, bits, syntax)
    except DicomLabelMapError:
        return
    assert frame.size <= rows * columns  # never more than the frame


def test_truncated_at_many_offsets(seeds, tmp_path):
    data = seeds["rle"].read_bytes()
    whole = read_seg(seeds["rle"]).volumes[0].array
    for cut in [*np.linspace(140, len(data) - 9, 60).astype(int), len(data) - 4]:
        path = tmp_path / f"cut{cut}.dcm"
        path.write_bytes(data[:cut])
        if cut > len(data) - 8:  # only the closing Sequence Delimitation Item is cut: nothing is lost
            np.testing.assert_array_equal(read_seg(path).volumes[0].array, whole)
            continue
        with pytest.raises(DicomLabelMapError):
            read_seg(path)


def test_rle_offsets_past_the_end():
    header = np.zeros(16, "<u4")
    header[0], header[1] = 1, 10_000
    with pytest.raises(InvalidDicomError, match="offsets"):
        decode_frame(header.tobytes() + b"\x00\x00", 4, 4, 8, TransferSyntax.RLE)


def test_a_huge_declared_seg_is_refused_before_allocating(seeds, tmp_path):
    dataset = pydicom.dcmread(seeds["explicit"])
    dataset.NumberOfFrames, dataset.Rows, dataset.Columns = 100000, 65535, 65535
    path = tmp_path / "huge.dcm"
    dataset.save_as(path)
    with pytest.raises(ResourceLimitError, match="exceed"):
        read_seg(path)


def test_counts_that_lie(seeds, tmp_path):
    dataset = pydicom.dcmread(seeds["explicit"])
    dataset.NumberOfFrames = int(dataset.NumberOfFrames) + 5  # more frames than the data holds
    path = tmp_path / "lying.dcm"
    dataset.save_as(path)
    with pytest.raises(InvalidDicomError, match="frames|Pixel Data|Per-Frame|frame"):
        read_seg(path)


def test_deflate_bombs_are_refused(seeds, tmp_path):
    # Deflated Image Frame Compression: a frame never inflates past its size.
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    frame = bomb.compress(b"\x00" * 10_000_000) + bomb.flush()
    with pytest.raises(InvalidDicomError, match="more than"):
        decode_frame(frame, 64, 64, 8, TransferSyntax.DEFLATED_FRAME)
    # Deflated Explicit VR Little Endian: the whole data set is measured before pydicom inflates it.
    old = set_limits(max_bytes=2_000_000)
    try:
        source = seeds["deflated"].read_bytes()
        meta_end = 144 + int.from_bytes(source[140:144], "little")
        body = zlib.compressobj(9, zlib.DEFLATED, -15)
        path = tmp_path / "bomb.dcm"
        path.write_bytes(source[:meta_end] + body.compress(b"\x00" * 50_000_000) + body.flush())
        with pytest.raises(ResourceLimitError, match="inflates"):
            read_seg(path)
    finally:
        set_limits(**vars(old))


def test_blank_and_duplicate_uids(seeds, tmp_path):
    from dicomlabelmap.synthetic import save

    folder = tmp_path / "ct"
    folder.mkdir()
    source = seeds["ct"].parent
    for path in sorted(source.iterdir()):
        (folder / path.name).write_bytes(path.read_bytes())
    first = sorted(folder.iterdir())[0]
    duplicate = pydicom.dcmread(first)
    duplicate.save_as(folder / "duplicate.dcm")  # same SOP Instance UID again
    series = read_reference_series(folder)
    assert series.skipped.get("duplicate SOP Instance UID") == 1
    blank = pydicom.dcmread(first)
    blank.SeriesInstanceUID = ""
    blank.SOPInstanceUID = pydicom.uid.generate_uid()
    blank.ImagePositionPatient = [0, 0, 9999]
    blank.save_as(folder / "blank.dcm")
    assert read_reference_series(folder, series_instance_uid=series.series_instance_uid).geometry.shape == series.geometry.shape
    del save


def test_a_million_point_contour_is_converted_without_blowing_up(seeds, tmp_path):
    dataset = pydicom.dcmread(seeds["rtstruct"])
    contour = dataset.ROIContourSequence[0].ContourSequence[0]
    z = float(contour.ContourData[2])
    angles = np.linspace(0, 2 * np.pi, 1_000_000, endpoint=False)
    points = np.column_stack([20 * np.cos(angles), 15 * np.sin(angles), np.full(angles.size, z)])
    contour.ContourData = [f"{v:.3f}" for v in points.ravel()]
    contour.NumberOfContourPoints = angles.size
    dataset.ROIContourSequence[0].ContourSequence = [contour]
    path = tmp_path / "million.dcm"
    dataset.save_as(path)
    conversion = rtstruct_to_labels(path, seeds["ct"].parent)
    raster = conversion.rois[0]
    assert raster.converted
    # The ellipse (20 x 15 mm semi-axes) covers its area in voxels on its slice.
    (plane,) = raster.full_mask()[raster.full_mask().any(axis=(1, 2))]
    spacing = conversion.reference.geometry.spacing
    area = np.pi * 20 * 15 / (spacing[0] * spacing[1])
    assert abs(int(plane.sum()) - area) < 0.05 * area, (int(plane.sum()), area)


def test_a_contour_zigzagging_across_the_image_fails_only_its_roi(seeds, tmp_path):
    """Points bouncing across the whole image would take more row crossings to fill than the
    limit (lowered here so that the file stays small): that ROI is refused with an ERROR naming
    the limit, the others are converted."""
    dataset = pydicom.dcmread(seeds["rtstruct"])
    contour = dataset.ROIContourSequence[0].ContourSequence[0]
    x0, y0, z = (float(v) for v in contour.ContourData[:3])
    points = np.tile([[x0 - 60, y0 - 60, z], [x0 + 60, y0 + 60, z]], (20_000, 1))
    contour.ContourData = [f"{v:.1f}" for v in points.ravel()]
    contour.NumberOfContourPoints = len(points)
    path = tmp_path / "zigzag.dcm"
    dataset.save_as(path)
    old = set_limits(max_plane_crossings=1_000_000)
    try:
        conversion = rtstruct_to_labels(path, seeds["ct"].parent)
    finally:
        set_limits(**vars(old))
    first, *others = conversion.rois
    assert not first.converted
    assert any(f.severity.name == "ERROR" and "pixel-row crossings" in f.message for f in first.findings)
    assert others and all(r.converted for r in others)


def test_fuzz_harness_replays_its_seed_corpus(tmp_path):
    """The atheris harness (run it for hours by hand, see its docstring) seeds its corpus and
    every seed passes its target without an undocumented exception. The bounded in-suite
    fuzzing is the hypothesis mutation tests above."""
    sys.path.insert(0, str(REPOSITORY / "Testing" / "Fuzz"))
    import fuzz_readers

    corpus = tmp_path / "corpus"
    fuzz_readers.seed(corpus)
    seeds = sorted(corpus.iterdir())
    assert len(seeds) >= 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in seeds:
            fuzz_readers.one_input(path.read_bytes())


def test_fuzz_regressions_replay_quickly():
    """Every input the fuzzer found (Testing/Fuzz/regressions) now ends with a documented
    error or a result, in its own process so that a hang fails the test instead of blocking."""
    import subprocess

    regressions = REPOSITORY / "Testing" / "Fuzz" / "regressions"
    inputs = sorted(regressions.iterdir())
    assert inputs
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "Testing" / "Fuzz" / "fuzz_readers.py"), "--replay", str(regressions)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY / "LabelMapSeg")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{len(inputs)} input(s) passed" in result.stdout


def test_a_deflate_stream_that_stalls_does_not_hang_the_bomb_check(tmp_path):
    """Found by atheris: zlib can stop making progress on a corrupt raw deflate stream (no
    output, input not consumed, no error); the inflate-size check looped forever on it."""
    from dicomlabelmap.dicom.limits import check_deflated_file

    data = (REPOSITORY / "Testing" / "Fuzz" / "regressions" / "deflated-data-set-zlib-stall").read_bytes()[1:]
    path = tmp_path / "stall.dcm"
    path.write_bytes(data)
    check_deflated_file(path)  # returns: the stream is left to the reader to reject
    with pytest.raises(DicomLabelMapError):
        read_seg(path)


def test_atheris_bounded_run(tmp_path):
    """A short coverage-guided run (fixed seed, 3000 inputs, 10 s per input) over the seeded
    corpus: libFuzzer exits non-zero and writes a crash-/timeout- file on any undocumented
    exception or hang. The long run is the documented command in the harness."""
    import importlib.util
    import subprocess

    if importlib.util.find_spec("atheris") is None:
        pytest.skip("atheris is not installed (it builds on Linux for Python < 3.13)")
    harness = str(REPOSITORY / "Testing" / "Fuzz" / "fuzz_readers.py")
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY / "LabelMapSeg")}
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, harness, "--seed", str(corpus)], check=True, env=env, timeout=300)
    result = subprocess.run(
        [
            sys.executable,
            harness,
            str(corpus),
            "-seed=1",
            "-runs=3000",
            "-timeout=10",
            "-rss_limit_mb=4096",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    found = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-")))
    assert result.returncode == 0 and not found, (found, result.stderr[-3000:])
    assert "Done 3000 runs" in result.stderr


def test_more_rois_than_a_label_map_holds_are_refused_before_drawing(seeds):
    """65536 ROIs cannot all become segments of 16-bit label maps: refused up front, naming
    the attribute, instead of after drawing them all."""
    from dataclasses import replace

    structure_set = read_rtstruct(seeds["rtstruct"])
    roi = structure_set.rois[0]
    many = replace(structure_set, rois=[replace(roi, number=n, contours=[]) for n in range(1, 65537)])
    with pytest.raises(InvalidDicomError, match="65536 ROIs.*at most 65535") as caught:
        rtstruct_to_labels(many, seeds["ct"].parent)
    assert caught.value.attribute == "StructureSetROISequence"

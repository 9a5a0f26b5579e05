"""Odd inputs on the command line: files that are not DICOM, files cut short, a reference slice
whose pixel data is cut. Every command gives the real reason in one sentence, with the exit code
of the preamble (1: nothing written), never a traceback or pydicom's own warnings; planning,
series scanning and the readers agree on every file (one header reader)."""

from __future__ import annotations

import json
import shutil

import pydicom
import pytest
from conftest import shared_file
from dicomlabelmap.cli.common import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL
from dicomlabelmap.cli.main import main
from dicomlabelmap.files.labelfiles import read_label_file
from dicomlabelmap.synthetic import demo_geometry, demo_rois, make_image_series, make_rtstruct, save, write_demo_case
from test_read import NOT_DICOM


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The demo CT and structure set, and a Label Map SEG of them (RLE)."""
    folder = tmp_path_factory.mktemp("case")
    ct, rs = write_demo_case(folder / "dicom")
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(folder / "seg"), "--format", "labelmap-seg"]) == EXIT_OK
    return ct, rs, sorted((folder / "seg").glob("*.dcm"))[0]


def _one_error(capsys, *expected):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dicomlabelmap: error: "), captured.err
    assert not [text for text in ("Traceback", "UserWarning", "WARNING pydicom", "End of file") if text in captured.err]
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("name", sorted(NOT_DICOM))
def test_every_command_calls_a_file_that_is_not_dicom_not_a_dicom_file(case, tmp_path, capsys, name):
    ct, _, _ = case
    path = tmp_path / name
    path.write_bytes(NOT_DICOM[name])
    for arguments in (
        ["info", str(path)],
        ["validate", str(path)],
        ["decode", str(path), "-o", str(tmp_path / "x.nrrd")],
        ["convert", str(path), "-o", str(tmp_path / "out")],
        ["rtstruct", str(path), "-r", str(ct), "-o", str(tmp_path / "x.seg.nrrd")],
    ):
        assert main(arguments) == EXIT_ERROR, arguments
        _one_error(capsys, f"{path}: not a DICOM file")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing written, no folder left


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_a_seg_cut_inside_its_pixel_data(case, tmp_path, capsys, fraction):
    _, _, seg = case
    data = seg.read_bytes()
    start = data.rindex(b"\xe0\x7f\x10\x00") + 12
    present = int(fraction * (len(data) - start))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: start + present])
    reason = f"the file is truncated at byte {present} of its pixel data"
    assert main(["info", str(cut)]) == EXIT_ERROR
    _one_error(capsys, f"{cut}: {reason}")
    assert main(["decode", str(cut), "-o", str(tmp_path / "x.nrrd")]) == EXIT_ERROR
    _one_error(capsys, reason)
    assert main(["validate", str(cut)]) == EXIT_ERROR
    captured = capsys.readouterr()
    # One finding and the verdict: no dciodvfy listing of what is left of the file.
    assert captured.out.splitlines() == [
        f"error: PixelData: cannot be read: {reason} (its encapsulated frames end early)",
        f"{cut}: INVALID (1 error(s), 0 warning(s))",
    ]
    assert "End of file" not in captured.err and "dciodvfy" not in captured.out
    assert main(["validate", str(cut), "--json"]) == EXIT_ERROR
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False and [f["attribute"] for f in report["findings"]] == ["PixelData"]


@pytest.mark.parametrize("fraction", [0.2, 0.6])
def test_a_structure_set_cut_short(case, tmp_path, capsys, fraction):
    ct, rs, _ = case
    data = rs.read_bytes()
    cut = tmp_path / "RS.dcm"
    cut.write_bytes(data[: int(fraction * len(data))])
    assert main(["rtstruct", str(cut), "-r", str(ct), "-o", str(tmp_path / "x.seg.nrrd")]) == EXIT_ERROR
    line = _one_error(capsys, f"{cut}: the file is truncated at byte {int(fraction * len(data))}, inside ")
    assert "OSError" not in line and "file position" not in line
    assert not (tmp_path / "x.seg.nrrd").exists()


def test_batch_given_a_file_says_it_wants_a_folder(tmp_path, capsys):
    hello = tmp_path / "hello.txt"
    hello.write_text("hello\n")
    assert main(["batch", str(hello), str(tmp_path / "out")]) == EXIT_ERROR
    _one_error(capsys, f"{hello} is a file; batch converts every input under a folder")
    assert not (tmp_path / "out").exists()
    assert main(["batch", str(tmp_path / "nowhere"), str(tmp_path / "out")]) == EXIT_ERROR
    _one_error(capsys, f"{tmp_path / 'nowhere'}: no such folder")


def test_batch_plans_the_structure_set_without_preamble_as_rtstruct_reads_it(tmp_path, capsys):
    source = shared_file("pydicom/rtstruct.dcm")
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(source, folder / "rtstruct.dcm")
    assert main(["batch", str(folder), str(tmp_path / "out"), "--json", "-j", "1"]) == EXIT_PARTIAL
    summary = json.loads(capsys.readouterr().out)
    (result,) = summary["results"]
    assert result["kind"] == "rtstruct" and result["status"] == "failed"  # an input, not "not DICOM"
    assert "not DICOM" not in json.dumps(summary["not_converted"])
    # The reader agrees: it reads the file and only lacks the image series.
    assert main(["rtstruct", str(folder / "rtstruct.dcm"), "-r", str(folder), "-o", str(tmp_path / "x.seg.nrrd")]) == EXIT_ERROR
    assert "no image series found" in _one_error(capsys)


def _cut_slice(ct, k, keep=0.6):
    """Cut slice ``k``'s file (the demo writes slice k as CT{k+1:04d}.dcm) inside its pixel data."""
    path = ct / f"CT{k + 1:04d}.dcm"
    data = path.read_bytes()
    start = data.rindex(b"\xe0\x7f\x10\x00") + 12
    present = int(keep * (len(data) - start))
    path.write_bytes(data[: start + present])
    return path, f"the file is truncated at byte {present} of its pixel data ({len(data) - start} declared)"


@pytest.mark.parametrize("k", [5, 11])  # inside the stack, and its last slice (the grid must not shrink)
def test_a_reference_slice_cut_short_is_listed_and_refused_or_kept_empty(tmp_path, capsys, k):
    ct, rs = write_demo_case(tmp_path / "dicom")
    broken, reason = _cut_slice(ct, k)
    assert main(["series", str(ct)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "11 image(s)" in out and "skipped 1 file(s): truncated" in out and f"{broken}: {reason}" in out
    output = tmp_path / "x.seg.nrrd"
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(output)]) == EXIT_ERROR
    _one_error(capsys, f"{broken}: {reason}", "--allow-missing-slices")
    assert not output.exists()
    preview = tmp_path / "p.png"
    arguments = ["rtstruct", str(rs), "-r", str(ct), "-o", str(output), "--allow-missing-slices", "--json", "--preview", str(preview)]
    assert main(arguments) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["reference"]["shape"] == [12, 96, 128]  # the grid keeps the position of the slice cut short
    messages = [f["message"] for f in report["findings"]]
    assert f"{broken.name}: {reason}; its slice {k} is kept without an image (--allow-missing-slices) and is never referenced" in messages
    assert read_label_file(output)[0].geometry.shape == (12, 96, 128) and preview.exists()
    # A Label Map SEG cannot hold labels where it has no source image: the body lies on every slice.
    seg = tmp_path / "seg"
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(seg), "--format", "labelmap-seg", "--allow-missing-slices"]) == EXIT_ERROR
    _one_error(capsys, f"slice {k} (counted from 0, at -80, -60, {3 * k - 15} mm) holds labels but its image {broken} cannot be used")
    assert not seg.exists()


def test_a_label_map_seg_never_references_a_slice_cut_short(tmp_path, capsys):
    ct, rs = write_demo_case(tmp_path / "dicom")
    broken, _ = _cut_slice(ct, 10)  # the ring lies on slices 2-5 only
    seg = tmp_path / "seg"
    arguments = ["rtstruct", str(rs), "-r", str(ct), "-o", str(seg), "--format", "labelmap-seg", "--allow-missing-slices"]
    assert main([*arguments, "--include", "Ring (nested)"]) == EXIT_OK
    capsys.readouterr()
    (path,) = sorted(seg.glob("*.dcm"))
    dataset = pydicom.dcmread(path)
    with pydicom.config.disable_value_validation():
        cut_uid = pydicom.dcmread(broken, stop_before_pixels=True).SOPInstanceUID
    referenced = {item.ReferencedSOPInstanceUID for item in dataset.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    sources = {
        group.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        for group in dataset.PerFrameFunctionalGroupsSequence
    }
    assert len(referenced) == len(sources) == int(dataset.NumberOfFrames) == 11 and cut_uid not in referenced | sources
    assert main(["validate", str(path)]) == EXIT_OK


def test_a_series_without_frame_of_reference_needs_the_option_and_then_says_so(tmp_path, capsys):
    geometry = demo_geometry()
    images = make_image_series(geometry)
    for image in images:
        image.FrameOfReferenceUID = ""  # an anonymiser emptied it
    save(images, tmp_path / "ct", "CT")
    rs = tmp_path / "RS.dcm"
    make_rtstruct(images, geometry, demo_rois()).save_as(rs, enforce_file_format=True)
    ct, labels = tmp_path / "ct", tmp_path / "labels.seg.nrrd"
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(labels)]) == EXIT_OK  # a label file needs no Frame of Reference
    report = capsys.readouterr().out
    assert "Frame of Reference is assumed" not in report and "newly generated" not in report
    refusal = (
        "the reference series' Frame of Reference UID is missing or empty, and the SEG needs one (Type 1); give --new-frame-of-reference"
    )
    assert main(["encode", str(labels), "-r", str(ct), "-o", str(tmp_path / "seg")]) == EXIT_ERROR
    _one_error(capsys, refusal)
    assert not (tmp_path / "seg").exists()
    assert main(["encode", str(labels), "-r", str(ct), "-o", str(tmp_path / "seg"), "--new-frame-of-reference"]) == EXIT_OK
    err = capsys.readouterr().err
    uid = str(pydicom.dcmread(sorted((tmp_path / "seg").glob("*.dcm"))[0], stop_before_pixels=True).FrameOfReferenceUID)
    assert f"the Label Map SEG is written in a newly generated Frame of Reference {uid} (--new-frame-of-reference)" in err
    arguments = ["rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "seg2"), "--format", "labelmap-seg", "--json"]
    assert main(arguments) == EXIT_ERROR
    _one_error(capsys, refusal)
    assert main([*arguments, "--new-frame-of-reference"]) == EXIT_OK
    findings = json.loads(capsys.readouterr().out)["findings"]
    (said,) = [f for f in findings if f["attribute"] == "FrameOfReferenceUID"]
    assert "newly generated Frame of Reference" in said["message"] and said["severity"] == "warning"
    folder = tmp_path / "in"
    shutil.copytree(ct, folder / "ct")
    shutil.copy(rs, folder / "RS.dcm")
    assert main(["batch", str(folder), str(tmp_path / "out"), "-j", "1", "--json"]) == EXIT_PARTIAL
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["status"] == "failed" and "--new-frame-of-reference" in result["reason"]
    assert main(["batch", str(folder), str(tmp_path / "out"), "-j", "1", "--json", "--new-frame-of-reference"]) == EXIT_OK
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["status"] == "ok" and any("newly generated Frame of Reference" in w for w in result["warnings"])


def test_batch_refuses_a_series_with_a_slice_cut_short_naming_it(tmp_path, capsys):
    ct, rs = write_demo_case(tmp_path / "in")
    broken, reason = _cut_slice(ct, 0)
    assert main(["batch", str(tmp_path / "in"), str(tmp_path / "out"), "-j", "1", "--json"]) == EXIT_PARTIAL
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["status"] == "failed" and f"{broken}: {reason}" in result["reason"] and "--allow-missing-slices" in result["reason"]


def test_no_series_in_the_reference_names_what_was_found_instead(case, tmp_path, capsys):
    ct, rs, _ = case
    labels = tmp_path / "labels.seg.nrrd"
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(labels)]) == EXIT_OK
    capsys.readouterr()
    broken, reason = _cut_slice(shutil.copytree(ct, tmp_path / "one") and tmp_path / "one", 0)
    for other in sorted((tmp_path / "one").iterdir())[1:]:
        other.unlink()
    assert main(["encode", str(labels), "-r", str(tmp_path / "one"), "-o", str(tmp_path / "seg")]) == EXIT_ERROR
    _one_error(capsys, f"no image series found (1 truncated: {broken}: {reason})")

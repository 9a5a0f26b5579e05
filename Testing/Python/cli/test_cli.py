"""The command line: reports, JSON, previews, exit codes and one-sentence errors."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from conftest import find_tool
from dicomlabelmap.cli.common import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL
from dicomlabelmap.cli.main import main
from dicomlabelmap.files.labelfiles import read_label_file
from dicomlabelmap.synthetic import write_demo_case


@pytest.fixture
def demo(tmp_path):
    return write_demo_case(tmp_path / "dicom")


def test_rtstruct_json_report_and_seg_nrrd(demo, tmp_path, capsys):
    ct, rtstruct = demo
    output = tmp_path / "out.seg.nrrd"
    assert main(["rtstruct", str(rtstruct), "--reference", str(ct), "-o", str(output), "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    rows = {row["name"]: row for row in report["rois"]}
    assert rows["Island in hole (XOR)"]["xor"] == 15 and rows["Ring (keyhole)"]["keyhole"] == 4
    assert rows["Markers"]["points"] == 1 and rows["Markers"]["voxels"] == 0
    tables = [str(tmp_path / "out.seg.nrrd.labels.txt"), str(tmp_path / "out.seg.nrrd.labels.json")]  # the label tables beside it
    assert report["outputs"] == [str(output), *tables] and report["reference"]["shape"] == [12, 96, 128]
    volumes = read_label_file(output)
    assert len(volumes) == report["layers"] == 3
    names = [s.label for v in volumes for s in v.segments]
    assert sorted(names) == sorted(rows)  # the empty "Markers" segment is kept
    ring = next(v for v in volumes if any(s.label == "Ring (nested)" for s in v.segments))
    assert np.count_nonzero(ring.array == 1) == rows["Ring (nested)"]["voxels"]


def test_table_report_and_preview(demo, tmp_path, capsys):
    ct, rtstruct = demo
    preview = tmp_path / "p.png"
    code = main(["rtstruct", str(rtstruct), "-r", str(ct), "-o", str(tmp_path / "o.nii.gz"), "--split-layers", "--preview", str(preview)])
    assert code == EXIT_OK
    out = capsys.readouterr().out
    assert "Island in hole (XOR)" in out and "Findings:" in out and "encloses no voxel centre" in out
    assert preview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.glob("o*.nii.gz")) == ["o_layer1.nii.gz", "o_layer2.nii.gz", "o_layer3.nii.gz"]


def test_errors_are_one_sentence_on_stderr_and_leave_nothing(demo, tmp_path, capsys):
    ct, rtstruct = demo
    output = tmp_path / "out.nrrd"
    assert main(["rtstruct", str(rtstruct), "-r", str(ct), "-o", str(output)]) == EXIT_ERROR
    error = capsys.readouterr().err
    assert error.startswith("dicomlabelmap: error: ") and "need 3 label layers" in error and error.count("\n") == 1
    assert not output.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert main(["rtstruct", str(tmp_path / "missing.dcm"), "-r", str(ct), "-o", str(output)]) == EXIT_ERROR
    assert "missing.dcm" in capsys.readouterr().err


def test_failed_roi_gives_exit_code_3(demo, tmp_path, capsys):
    import pydicom

    ct, rtstruct = demo
    dataset = pydicom.dcmread(rtstruct)
    dataset.ROIContourSequence[0].ContourSequence[0].ContourData = list(dataset.ROIContourSequence[0].ContourSequence[0].ContourData)[:-1]
    broken = tmp_path / "broken.dcm"
    dataset.save_as(broken)
    assert main(["rtstruct", str(broken), "-r", str(ct), "-o", str(tmp_path / "o.seg.nrrd")]) == EXIT_PARTIAL
    out = capsys.readouterr().out
    assert "FAILED" in out and "not a multiple of 3" in out
    assert "Ring (nested)" not in [s.label for v in read_label_file(tmp_path / "o.seg.nrrd") for s in v.segments]


def test_an_error_finding_outside_any_roi_gives_exit_code_3(demo, tmp_path, capsys):
    """An ERROR-level finding that stands (here: a Structure Set ROI item without ROI Number,
    which is left out) means exit code 3, although every ROI that is there converted."""
    import pydicom
    from pydicom.dataset import Dataset

    ct, rtstruct = demo
    dataset = pydicom.dcmread(rtstruct)
    orphan = Dataset()
    orphan.ROIName = "No number"
    dataset.StructureSetROISequence.append(orphan)
    broken = tmp_path / "orphan.dcm"
    dataset.save_as(broken)
    assert main(["rtstruct", str(broken), "-r", str(ct), "-o", str(tmp_path / "o.seg.nrrd")]) == EXIT_PARTIAL
    assert "Structure Set ROI item 7 has no valid ROI Number; it is ignored" in capsys.readouterr().out
    assert (tmp_path / "o.seg.nrrd").is_file()  # written, as the exit code says


def test_series_listing(demo, capsys):
    ct, _ = demo
    assert main(["series", str(ct.parent), "--json"]) == EXIT_OK
    listing = json.loads(capsys.readouterr().out)
    assert listing["series"][0]["image_count"] == 12 and listing["skipped"] == {"not an image (RT Structure Set)": 1}


def test_installed_console_script_runs_the_demo(tmp_path):
    """The `dicomlabelmap` entry point installed by pip, as a user would call it."""
    script = find_tool("dicomlabelmap")
    if script is None:
        pytest.skip("the package is not installed with its console script (pip install -e .)")
    result = subprocess.run([script, "demo", str(tmp_path / "demo")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Island in hole (XOR)" in result.stdout
    assert (tmp_path / "demo" / "demo.seg.nrrd").exists() and (tmp_path / "demo" / "demo_preview.png").exists()


def test_missing_slice_is_refused_by_default_and_kept_with_allow_missing_slices(tmp_path, capsys):
    """A CT with one slice absent: refused with a hint naming the option; with it, the regular
    grid is kept, the contour on the missing position is drawn there, and the gap is reported."""
    from conftest import axial_geometry
    from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, make_image_series, make_rtstruct, save

    geometry = axial_geometry(shape=(5, 12, 12))
    images = make_image_series(geometry)
    square = [[2.5, 2.5], [6.5, 2.5], [6.5, 6.5], [2.5, 6.5]]
    roi = SyntheticRoi("Target", [SyntheticContour(k, square) for k in (1, 2, 3)])
    rtstruct = tmp_path / "RS.dcm"
    make_rtstruct(images, geometry, [roi], image_references=False).save_as(rtstruct, enforce_file_format=True)
    paths = save(images, tmp_path / "ct")
    paths[2].unlink()
    output = tmp_path / "out.nrrd"
    assert main(["rtstruct", str(rtstruct), "-r", str(tmp_path / "ct"), "-o", str(output)]) == EXIT_ERROR
    error = capsys.readouterr().err
    assert "1 slice(s) missing" in error and "--allow-missing-slices" in error and not output.exists()
    code = main(["rtstruct", str(rtstruct), "-r", str(tmp_path / "ct"), "-o", str(output), "--allow-missing-slices", "--json"])
    assert code == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["reference"]["missing_slices"] == [2] and report["reference"]["shape"] == [5, 12, 12]
    assert any("no image at slice(s) 2" in f["message"] for f in report["findings"])
    (volume,) = read_label_file(output)
    expected = np.zeros((5, 12, 12), bool)
    expected[1:4, 3:7, 3:7] = True
    assert volume.geometry.is_close(geometry) and np.array_equal(volume.array == 1, expected)


def test_unicode_roi_names_survive_every_step(tmp_path, capsys):
    """ROI names in German, Chinese and Japanese: RTSTRUCT -> .seg.nrrd -> Label Map SEG ->
    .seg.nrrd, and the report table and JSON, all with the exact names (was: UnicodeEncodeError)."""
    from conftest import axial_geometry
    from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, make_image_series, make_rtstruct, save

    names = ["Rückenmark", "脊髓", "脊髄"]
    geometry = axial_geometry(shape=(4, 12, 12))
    images = make_image_series(geometry)
    rois = [SyntheticRoi(name, [SyntheticContour(k, [[2.5, 2.5], [6.5, 2.5], [6.5, 6.5], [2.5, 6.5]])]) for k, name in enumerate(names)]
    dataset = make_rtstruct(images, geometry, rois)
    dataset.SpecificCharacterSet = "ISO_IR 192"
    rtstruct = tmp_path / "RS.dcm"
    dataset.save_as(rtstruct, enforce_file_format=True)
    save(images, tmp_path / "ct")
    labels = tmp_path / "labels.seg.nrrd"
    assert main(["rtstruct", str(rtstruct), "-r", str(tmp_path / "ct"), "-o", str(labels)]) == EXIT_OK
    table = capsys.readouterr().out
    assert all(name in table for name in names)
    assert main(["rtstruct", str(rtstruct), "-r", str(tmp_path / "ct"), "-o", str(tmp_path / "x.seg.nrrd"), "--json"]) == EXIT_OK
    assert [row["name"] for row in json.loads(capsys.readouterr().out)["rois"]] == names
    assert [s.label for v in read_label_file(labels) for s in v.segments] == names
    assert main(["encode", str(labels), "-r", str(tmp_path / "ct"), "-o", str(tmp_path / "seg")]) == EXIT_OK
    capsys.readouterr()
    (seg,) = sorted((tmp_path / "seg").glob("*.dcm"))
    import pydicom

    written = pydicom.dcmread(seg)
    assert written.SpecificCharacterSet == "ISO_IR 192"
    assert [str(item.SegmentLabel) for item in written.SegmentSequence if item.SegmentNumber != 0] == names
    back = tmp_path / "back.seg.nrrd"
    assert main(["decode", str(seg), "-r", str(tmp_path / "ct"), "-o", str(back)]) == EXIT_OK
    assert [s.label for v in read_label_file(back) for s in v.segments] == names


@pytest.mark.parametrize(
    ("arguments", "absent"),
    [
        (["--version"], ["numpy", "pydicom", "dicomlabelmap.rtstruct.conversion", "dicomlabelmap.seg.writer"]),
        (["series", "{tmp}"], ["dicomlabelmap.rtstruct.rasterize", "dicomlabelmap.seg.writer", "dicomlabelmap.seg.reader", "matplotlib"]),
        (["info", "{tmp}"], ["dicomlabelmap.rtstruct.rasterize", "dicomlabelmap.rtstruct.conversion", "dicomlabelmap.seg.writer"]),
    ],
)
def test_each_subcommand_imports_only_what_it_uses(tmp_path, arguments, absent):
    """Start-up: the command line imports a module when a subcommand needs it (python -X
    importtime shows the rest of the story); --version touches neither numpy nor pydicom."""
    import sys

    code = (
        "import sys, json\n"
        "from dicomlabelmap.cli.main import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    argv = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=False)
    loaded = set(json.loads(result.stderr.strip().splitlines()[-1]))
    assert not [name for name in absent if name in loaded], sorted(name for name in absent if name in loaded)


def test_compression_level_trades_size_for_time(demo, tmp_path):
    ct, rtstruct = demo
    for level in (0, 1, 9):
        assert (
            main(["rtstruct", str(rtstruct), "-r", str(ct), "-o", str(tmp_path / f"l{level}.seg.nrrd"), "--compression-level", str(level)])
            == EXIT_OK
        )
    sizes = [(tmp_path / f"l{level}.seg.nrrd").stat().st_size for level in (0, 1, 9)]
    assert sizes[0] > sizes[1] > sizes[2]
    arrays = [[v.array for v in read_label_file(tmp_path / f"l{level}.seg.nrrd")] for level in (0, 1, 9)]
    for other in arrays[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(arrays[0], other, strict=True))


def test_json_geometry_has_no_floating_point_noise(tmp_path, capsys):
    """Slices 0.3 mm apart at z = 0.1 + 0.3 k fit a spacing of 0.30000000000000004: the JSON
    report says 0.3 (12 significant digits), the matrix likewise, exact values stay."""
    from conftest import axial_geometry
    from dicomlabelmap.dicom.scan import read_reference_series
    from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, make_image_series, make_rtstruct, save

    geometry = axial_geometry(shape=(5, 8, 8), spacing=(0.9765625, 0.9765625, 0.3), origin=(-249.51171875, -12.0, 0.1))
    images = make_image_series(geometry)
    save(images, tmp_path / "ct")
    square = np.array([[1.5, 1.5], [5.5, 1.5], [5.5, 5.5], [1.5, 5.5]])
    make_rtstruct(images, geometry, [SyntheticRoi("box", [SyntheticContour(k, square) for k in range(5)])]).save_as(
        tmp_path / "RS.dcm", enforce_file_format=True
    )
    assert read_reference_series(tmp_path / "ct").geometry.spacing[2] == 0.30000000000000004  # the noise is there
    assert main(["rtstruct", str(tmp_path / "RS.dcm"), "-r", str(tmp_path / "ct"), "-o", str(tmp_path / "x.seg.nrrd"), "--json"]) == 0
    reference = json.loads(capsys.readouterr().out)["reference"]
    assert reference["spacing"] == [0.9765625, 0.9765625, 0.3]
    assert reference["ijk_to_lps"] == [
        [0.9765625, 0.0, 0.0, -249.5117188],  # as the CT's DS value holds it
        [0.0, 0.9765625, 0.0, -12.0],
        [0.0, 0.0, 0.3, 0.1],
        [0.0, 0.0, 0.0, 1.0],
    ]


def test_encode_decode_and_contours_take_allow_missing_slices(tmp_path, capsys):
    """The same rule as ``rtstruct``'s on every command with a reference: refused by default
    naming the option; with it, a Label Map SEG holds what lies on slices with images (labels on
    the missing one are refused, naming it), and an RT Structure Set also contours the missing
    slice (naming no image there) and reads back as the same voxels."""
    import pydicom
    from conftest import axial_geometry
    from dicomlabelmap.files.labelfiles import write_label_file
    from dicomlabelmap.model.labels import LabelVolume
    from dicomlabelmap.model.segment import Segment
    from dicomlabelmap.synthetic import make_image_series, save

    geometry = axial_geometry(shape=(5, 12, 12))
    paths = save(make_image_series(geometry), tmp_path / "ct")
    paths[2].unlink()
    ct = str(tmp_path / "ct")
    beside = np.zeros(geometry.shape, np.uint8)
    beside[[0, 1, 3, 4], 3:7, 3:7] = 1
    across = beside.copy()
    across[2, 4:6, 4:6] = 1
    for name, array in (("beside", beside), ("across", across)):
        write_label_file(tmp_path / f"{name}.seg.nrrd", [LabelVolume(array, geometry, [Segment(1, "Target")])])

    assert main(["encode", str(tmp_path / "beside.seg.nrrd"), "-r", ct, "-o", str(tmp_path / "seg")]) == EXIT_ERROR
    assert "--allow-missing-slices" in capsys.readouterr().err and not (tmp_path / "seg").exists()
    encode = ["encode", str(tmp_path / "beside.seg.nrrd"), "-r", ct, "-o", str(tmp_path / "seg"), "--allow-missing-slices"]
    assert main(encode) == EXIT_OK
    assert main(["decode", str(tmp_path / "seg"), "-r", ct, "-o", str(tmp_path / "back.nrrd")]) == EXIT_ERROR
    assert "--allow-missing-slices" in capsys.readouterr().err
    assert main(["decode", str(tmp_path / "seg"), "-r", ct, "-o", str(tmp_path / "back.nrrd"), "--allow-missing-slices"]) == EXIT_OK
    kept = "the reference series has no image at slice(s) 2 (counted from 0) of its regular grid"
    assert kept in capsys.readouterr().err  # reported without -v
    (decoded,) = read_label_file(tmp_path / "back.nrrd")
    assert decoded.geometry.shape == (5, 12, 12) and np.array_equal(decoded.array, beside)
    capsys.readouterr()
    encode = ["encode", str(tmp_path / "across.seg.nrrd"), "-r", ct, "-o", str(tmp_path / "seg2"), "--allow-missing-slices"]
    assert main(encode) == EXIT_ERROR
    error = capsys.readouterr().err
    assert "slice 2 (counted from 0, at " in error and ") holds labels" in error and not (tmp_path / "seg2").exists()

    rs = tmp_path / "RS.dcm"
    assert main(["contours", str(tmp_path / "across.seg.nrrd"), "-r", ct, "-o", str(rs)]) == EXIT_ERROR
    assert "--allow-missing-slices" in capsys.readouterr().err and not rs.exists()
    assert main(["contours", str(tmp_path / "across.seg.nrrd"), "-r", ct, "-o", str(rs), "--allow-missing-slices"]) == EXIT_OK
    captured = capsys.readouterr()
    assert "identical" in captured.out and kept in captured.err
    contours = pydicom.dcmread(rs).ROIContourSequence[0].ContourSequence
    z_without_image = {float(c.ContourData[2]) for c in contours if "ContourImageSequence" not in c}
    assert z_without_image == {float(geometry.origin[2] + 2 * geometry.spacing[2])}
    back = tmp_path / "rs.nrrd"
    assert main(["rtstruct", str(rs), "-r", ct, "-o", str(back), "--allow-missing-slices"]) == EXIT_OK
    assert np.array_equal(read_label_file(back)[0].array, across)


def test_a_closed_output_pipe_ends_quietly_with_the_files_complete(tmp_path):
    """``dicomlabelmap demo DIR | head -0``: the reader has gone before the report is printed
    (its end of the pipe is closed first: an event, not a delay). No traceback, no "Exception
    ignored" at exit, exit code 141 as for a command ended by SIGPIPE, the files complete."""
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "dicomlabelmap", "demo", str(tmp_path / "demo")], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 141, stderr
    assert b"Traceback" not in stderr and b"Exception ignored" not in stderr, stderr
    (volume,) = [v for v in read_label_file(tmp_path / "demo" / "demo.seg.nrrd") if v.segments[0].number == 1]
    assert volume.array.shape == (12, 96, 128)

"""The command line: reports, JSON, previews, exit codes and one-sentence errors."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from conftest import find_tool
from dicomlabelmap.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, main
from dicomlabelmap.labelfiles import read_label_file
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
    assert report["outputs"] == [str(output)] and report["reference"]["shape"] == [12, 96, 128]
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
    assert (tmp_path / "o_layer3.nii.gz").exists()


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

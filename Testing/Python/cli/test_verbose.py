"""``-v`` shows our own steps (files read, series chosen, per-ROI timings, files written, batch
workers) and keeps other libraries' debug output (pylibjpeg, matplotlib, PIL) out; ``-vv`` lets
it in. Run as users run it: whole processes, stderr as printed."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from dicomlabelmap.synthetic import write_demo_case

CLI = [sys.executable, "-m", "dicomlabelmap"]
#: What a log line looks like (main's format).
LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+): ")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verbose")
    ct, rs = write_demo_case(folder / "in" / "p1")
    return folder, ct, rs


def _log(arguments) -> list[tuple[str, str, str]]:
    result = subprocess.run([*CLI, *arguments], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = []
    for line in result.stderr.splitlines():
        found = LINE.match(line)
        if found:
            lines.append((found.group(1), found.group(2), line[found.end() :]))
    return lines


def test_v_shows_our_steps_and_no_library_debug_output(demo, tmp_path):
    _, ct, rs = demo
    lines = _log(["-v", "rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "x.seg.nrrd"), "--preview", str(tmp_path / "p.png")])
    ours = [text for level, name, text in lines if name.startswith("dicomlabelmap")]
    assert not [line for line in lines if line[0] == "DEBUG"], lines
    assert not [line for line in lines if not line[1].startswith("dicomlabelmap") and line[0] == "INFO"], lines
    assert "read the headers of 12 file(s): 1 image series, 0 file(s) skipped" in ours
    assert any(re.fullmatch(r"reference series [\d.]+ chosen out of 1: 12 slice\(s\), grid \(12, 96, 128\)", t) for t in ours), ours
    timings = [
        t for t in ours if re.fullmatch(r"ROI \d+ '.+': \d+ contour\(s\) on \d+ slice\(s\), \d+ voxel\(s\), converted in \d+\.\d{3} s", t)
    ]
    assert len(timings) == 6, ours  # one line per ROI of the demo
    assert (
        f"wrote and verified {tmp_path / 'x.seg.nrrd'}, {tmp_path / 'x.seg.nrrd.labels.txt'}, {tmp_path / 'x.seg.nrrd.labels.json'}" in ours
    )
    assert f"drew the preview into {tmp_path / 'p.png'}" in ours


def test_vv_lets_the_libraries_debug_output_in(demo, tmp_path):
    _, ct, rs = demo
    assert (
        subprocess.run([*CLI, "rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "seg"), "--format", "labelmap-seg"]).returncode == 0
    )
    quiet = _log(["-v", "decode", str(tmp_path / "seg"), "-o", str(tmp_path / "a.seg.nrrd")])
    loud = _log(["-vv", "decode", str(tmp_path / "seg"), "-o", str(tmp_path / "b.seg.nrrd")])
    assert {name for _, name, _ in quiet} == {"dicomlabelmap.files.labelfiles"}
    assert any(name.startswith("pylibjpeg") and level == "DEBUG" for level, name, _ in loud), loud  # RLE frames through pylibjpeg


def test_v_shows_the_batch_workers_steps(demo, tmp_path):
    folder, _, _ = demo
    lines = _log(["-v", "batch", str(folder / "in"), str(tmp_path / "out"), "-j", "1"])
    ours = [text for _, name, text in lines if name.startswith("dicomlabelmap")]
    assert any(t.startswith("looked at 13 file(s) under ") and t.endswith(": 1 input(s) to convert") for t in ours), ours
    assert any(re.fullmatch(r"worker \d+ converts .*RS_demo\.dcm", t) for t in ours), ours
    assert sum(bool(re.match(r"ROI \d+ '", t)) for t in ours) == 6  # logged by the worker process
    assert not [line for line in lines if line[0] == "DEBUG"]


def test_v_after_the_subcommand_counts_as_before_it(demo, tmp_path):
    _, ct, rs = demo
    assert (
        subprocess.run([*CLI, "rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "seg"), "--format", "labelmap-seg"]).returncode == 0
    )
    after = _log(["decode", str(tmp_path / "seg"), "-o", str(tmp_path / "a.seg.nrrd"), "-v"])
    assert {name for _, name, _ in after} == {"dicomlabelmap.files.labelfiles"}
    split = _log(["-v", "decode", "-v", str(tmp_path / "seg"), "-o", str(tmp_path / "b.seg.nrrd")])  # -v twice: -vv
    assert any(name.startswith("pylibjpeg") and level == "DEBUG" for level, name, _ in split), split
    assert _log(["decode", str(tmp_path / "seg"), "-o", str(tmp_path / "c.seg.nrrd")]) == []

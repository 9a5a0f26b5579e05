"""README's quick start stays true: its two commands are what ``.ci/run`` runs, and the three
everyday commands run as pasted after the demo, each with exit code 0 and the files it names."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import REPOSITORY
from dicomlabelmap.cli.common import EXIT_OK
from dicomlabelmap.cli.main import main

README = REPOSITORY / "README.md"


def _quick_start() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Quick start")
    return text[start : text.index("\n## ", start + 1)]


def _bash_blocks(text: str) -> list[list[str]]:
    """The command lines of each ```bash block (comments and blank lines left out)."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [[line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")] for block in blocks]


def test_the_two_commands_are_what_ci_runs():
    setup, tests, _everyday = _bash_blocks(_quick_start())
    assert len(setup) == 1 and setup[0].endswith("dicomlabelmap demo demo-output")
    assert tests == ['python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest']
    ci = (REPOSITORY / ".ci" / "run").read_text(encoding="utf-8")
    assert tests[0] in ci, ".ci/run must call README's test command"


def test_the_everyday_commands_run_as_pasted_after_the_demo(tmp_path, monkeypatch):
    *_, everyday = _bash_blocks(_quick_start())
    assert [shlex.split(line)[:2] for line in everyday] == [
        ["dicomlabelmap", "rtstruct"],
        ["dicomlabelmap", "encode"],
        ["dicomlabelmap", "contours"],
    ]
    monkeypatch.chdir(tmp_path)
    demo = subprocess.run([sys.executable, "-m", "dicomlabelmap", "demo", "demo-output"], capture_output=True, text=True)
    assert demo.returncode == EXIT_OK, demo.stderr
    for line in everyday:
        assert main(shlex.split(line)[1:]) == EXIT_OK, line
    assert Path("labels.seg.nrrd").is_file() and sorted(p.name for p in Path("SEG_DIR").iterdir())[0] == "LabelMapSEG_001.dcm"
    # the RT Structure Set written back converts to the same voxels as the label file it came from
    from dicomlabelmap.files.labelfiles import read_label_file
    from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels

    back = rtstruct_to_labels("RS_back.dcm", "demo-output/dicom/ct")
    original = read_label_file(Path("labels.seg.nrrd"))
    original_masks = {s.label: volume.array == s.number for volume in original for s in volume.segments}
    for roi in back.rois:
        assert np.array_equal(roi.full_mask(), original_masks[roi.roi.name]), roi.roi.name


def test_the_python_examples_run_as_pasted_beside_the_demo(tmp_path, monkeypatch):
    """README's "Python" section, both blocks, in a folder holding the demo's output."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## Python")
    blocks = re.findall(r"```python\n(.*?)```", text[start : text.index("\n## ", start + 1)], flags=re.S)
    assert len(blocks) == 2
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "demo-output"]) == EXIT_OK
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - README's own example
    assert len(namespace["points"]) >= 1 and Path("python.seg.nrrd").is_file()
    assert namespace["contents"].volumes[0].geometry.shape == namespace["reference"].geometry.shape

"""Optional packages are checked before any work (issue 22): a command whose output needs a
package that is not installed (matplotlib for --preview, pycocotools for COCO masks, pyjpegls and
pylibjpeg-openjpeg for -t jpegls/jpeg2000, nibabel for NIfTI) refuses at once, naming the
package, and writes nothing; the same command then runs once the package is there."""

from __future__ import annotations

import sys

import pytest
from dicomlabelmap.cli.common import EXIT_ERROR, EXIT_OK
from dicomlabelmap.cli.main import main
from test_output_locations import _rtstruct, _tree, case  # noqa: F401 - the fixture of the output location tests

#: what is missing (modules hidden) -> the package the message must name
MISSING = {
    "matplotlib": (("matplotlib",), "matplotlib"),
    "pycocotools": (("pycocotools", "pycocotools.mask"), "pycocotools"),
    "pyjpegls": (("jpeg_ls",), "pyjpegls"),
    "openjpeg": (("openjpeg",), "pylibjpeg-openjpeg"),
    "nibabel": (("nibabel",), "nibabel"),
}

CASES = [
    ("rtstruct --preview", "matplotlib", lambda c, t: _rtstruct(c, "-o", str(t / "x.seg.nrrd"), "--preview", str(t / "p.png"))),
    ("rtstruct coco-rle", "pycocotools", lambda c, t: _rtstruct(c, "-o", str(t / "c.json"), "--format", "coco-rle")),
    (
        "rtstruct labelmap-seg jpegls",
        "pyjpegls",
        lambda c, t: _rtstruct(c, "-o", str(t / "seg"), "--format", "labelmap-seg", "-t", "jpegls"),
    ),
    ("rtstruct both jpeg2000", "openjpeg", lambda c, t: _rtstruct(c, "-o", str(t / "seg"), "--format", "both", "-t", "jpeg2000")),
    ("rtstruct nii.gz", "nibabel", lambda c, t: _rtstruct(c, "-o", str(t / "x.nii.gz"), "--split-layers")),
    ("rtstruct --split-rois", "nibabel", lambda c, t: _rtstruct(c, "-o", str(t / "masks"), "--split-rois")),
    ("encode jpegls", "pyjpegls", lambda c, t: ["encode", str(c["labels"]), "-r", str(c["ct"]), "-o", str(t / "seg"), "-t", "jpegls"]),
    ("convert jpeg2000", "openjpeg", lambda c, t: ["convert", str(c["binary"]), "-o", str(t / "seg"), "-t", "jpeg2000"]),
    ("decode nii.gz", "nibabel", lambda c, t: ["decode", str(c["seg"]), "-o", str(t / "x.nii.gz"), "--split-layers"]),
    ("batch jpegls", "pyjpegls", lambda c, t: ["batch", str(c["in"]), str(t / "out"), "-t", "jpegls", "-j", "1"]),
]


@pytest.mark.parametrize(("command", "missing", "build"), CASES, ids=[c[0] for c in CASES])
def test_a_missing_optional_package_is_named_before_any_work(case, tmp_path, capsys, monkeypatch, command, missing, build):  # noqa: F811
    modules, package = MISSING[missing]
    arguments = build(case, tmp_path)
    with monkeypatch.context() as hidden:
        for module in modules:
            hidden.setitem(sys.modules, module, None)  # as if not installed
        code = main(arguments)
    error = capsys.readouterr().err
    assert code == EXIT_ERROR, error
    assert f"needs the Python package '{package}': pip install {package}" in error and error.count("\n") == 1, error
    assert _tree(tmp_path) == set()  # nothing written: no label file, no table, no folder
    # installed again, the same command runs: nothing left over refuses it
    assert main(arguments) == EXIT_OK, capsys.readouterr().err
    assert _tree(tmp_path)


def test_the_demo_without_matplotlib_says_so_and_skips_only_the_preview(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["demo", str(tmp_path / "demo")]) == EXIT_OK
    assert "no preview (drawing a preview needs the Python package 'matplotlib'" in capsys.readouterr().err
    assert (tmp_path / "demo" / "demo.seg.nrrd").is_file() and not (tmp_path / "demo" / "demo_preview.png").exists()

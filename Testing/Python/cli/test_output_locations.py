"""Every command on every kind of output location (issue 22): a read-only place, a file where a
folder is expected (the output itself or one of its parents), a folder where a file is expected,
and missing parent folders. The first three are one sentence on stderr, exit code 1, no
traceback and nothing written anywhere; missing parent folders are created and the command
succeeds."""

from __future__ import annotations

from pathlib import Path

import pytest
from dicomlabelmap.cli.common import EXIT_ERROR, EXIT_OK
from dicomlabelmap.cli.main import main
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.seg.writer import write_label_map_segs
from dicomlabelmap.synthetic import write_demo_case


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """The demo case with what each command reads: labels, a Label Map SEG series, a BINARY SEG
    (written by highdicom), and a batch input folder."""
    from test_batch import _binary_seg

    root = tmp_path_factory.mktemp("locations")
    ct, rs = write_demo_case(root / "in" / "study")
    conversion = rtstruct_to_labels(rs, [ct])
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(root / "labels.seg.nrrd")]) == EXIT_OK
    write_label_map_segs(conversion.label_volumes, conversion.reference, root / "seg")
    _binary_seg(ct, conversion.label_volumes[0], root / "binary.dcm")
    return {"ct": ct, "rs": rs, "labels": root / "labels.seg.nrrd", "seg": root / "seg", "binary": root / "binary.dcm", "in": root / "in"}


def _rtstruct(case, *words):
    return ["rtstruct", str(case["rs"]), "-r", str(case["ct"]), *words]


#: command -> (kind of output, argv builder from the case, the output path and a good place for other outputs)
COMMANDS = {
    "rtstruct": ("file", lambda c, o, good: _rtstruct(c, "-o", str(o / "x.seg.nrrd"))),
    "rtstruct --preview": ("file", lambda c, o, good: _rtstruct(c, "-o", str(good / "x.seg.nrrd"), "--preview", str(o / "p.png"))),
    "rtstruct coco-rle": ("file", lambda c, o, good: _rtstruct(c, "-o", str(o / "c.json"), "--format", "coco-rle")),
    "decode": ("file", lambda c, o, good: ["decode", str(c["seg"]), "-o", str(o / "x.seg.nrrd")]),
    "rtstruct labelmap-seg": ("folder", lambda c, o, good: _rtstruct(c, "-o", str(o / "out"), "--format", "labelmap-seg")),
    "rtstruct both": ("folder", lambda c, o, good: _rtstruct(c, "-o", str(o / "out"), "--format", "both")),
    "rtstruct --split-rois": ("folder", lambda c, o, good: _rtstruct(c, "-o", str(o / "out"), "--split-rois")),
    "encode": ("folder", lambda c, o, good: ["encode", str(c["labels"]), "-r", str(c["ct"]), "-o", str(o / "out")]),
    "convert": ("folder", lambda c, o, good: ["convert", str(c["binary"]), "-o", str(o / "out")]),
    "demo": ("folder", lambda c, o, good: ["demo", str(o / "out")]),
    "batch": ("folder", lambda c, o, good: ["batch", str(c["in"]), str(o / "out"), "-j", "1"]),
}


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _refused(arguments, capsys, watched: Path) -> str:
    before = _tree(watched)
    code = main(arguments)
    error = capsys.readouterr().err
    assert code == EXIT_ERROR, error
    assert error.startswith("dicomlabelmap: error: ") and error.count("\n") == 1 and "Traceback" not in error, error
    assert _tree(watched) == before  # nothing written, no folder left behind
    return error


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_read_only_location_is_one_sentence(case, command, read_only_folder, tmp_path, capsys):
    _, build = COMMANDS[command]
    error = _refused(build(case, read_only_folder, tmp_path), capsys, tmp_path)
    assert f"{read_only_folder}: cannot write there (" in error
    assert list(read_only_folder.iterdir()) == []


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_file_among_the_parents_is_one_sentence(case, command, tmp_path, capsys):
    _, build = COMMANDS[command]
    (tmp_path / "a-file").write_text("keep")
    error = _refused(build(case, tmp_path / "a-file", tmp_path / "good"), capsys, tmp_path)
    assert f"{tmp_path / 'a-file'} is a file, not a folder" in error
    assert (tmp_path / "a-file").read_text() == "keep"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_file_for_a_folder_or_a_folder_for_a_file_is_one_sentence(case, command, tmp_path, capsys):
    kind, build = COMMANDS[command]
    arguments = build(case, tmp_path, tmp_path / "good")
    output = Path(next(a for a in arguments if a.startswith(str(tmp_path)) and "good" not in a))
    if kind == "file":
        output.mkdir()  # a folder where the file goes
        expected = f"{output} is a folder"
    else:
        output.write_text("keep")  # a file where the folder goes
        expected = str(output)
    error = _refused(arguments, capsys, tmp_path)
    assert expected in error and ("is a file" in error or "names a file" in error or "is a folder" in error), error


@pytest.mark.parametrize("command", list(COMMANDS))
def test_missing_parent_folders_are_created(case, command, tmp_path, capsys):
    _, build = COMMANDS[command]
    location = tmp_path / "new" / "deeper"
    assert main(build(case, location, tmp_path / "good")) == EXIT_OK, capsys.readouterr().err
    assert location.is_dir() and any(location.iterdir())


def test_the_python_api_creates_the_seg_folder(case, tmp_path):
    """README's example, pasted: ``write_label_map_segs(..., "SEG_DIR", ...)`` into a folder that
    does not exist yet."""
    conversion = rtstruct_to_labels(case["rs"], [case["ct"]])
    paths = write_label_map_segs(conversion.label_volumes, conversion.reference, tmp_path / "SEG_DIR" / "sub")
    assert [p.name for p in paths] == ["LabelMapSEG_001.dcm", "LabelMapSEG_002.dcm", "LabelMapSEG_003.dcm"]
    assert all(p.is_file() for p in paths)


def test_a_failed_write_removes_the_folders_it_created(case, tmp_path):
    """A write that fails (here: a layer whose grid is not the reference's) leaves no empty
    folder behind."""
    from dicomlabelmap.errors import GeometryError
    from dicomlabelmap.model.geometry import ImageGeometry
    from dicomlabelmap.model.labels import LabelVolume

    conversion = rtstruct_to_labels(case["rs"], [case["ct"]])
    volume = conversion.label_volumes[0]
    grid = volume.geometry
    shifted = LabelVolume(volume.array, ImageGeometry(grid.shape, grid.origin + 5.0, grid.spacing, grid.direction), volume.segments)
    with pytest.raises(GeometryError):
        write_label_map_segs([shifted], conversion.reference, tmp_path / "new" / "SEG_DIR")
    assert list(tmp_path.iterdir()) == []


def test_demo_writes_over_its_own_output_only_with_overwrite_and_never_over_other_files(tmp_path, capsys):
    folder = tmp_path / "demo"
    assert main(["demo", str(folder)]) == EXIT_OK
    first = sorted(p.name for p in folder.iterdir())
    assert first == ["demo.seg.nrrd", "demo.seg.nrrd.labels.json", "demo.seg.nrrd.labels.txt", "demo_preview.png", "dicom"]
    stamp = (folder / "demo.seg.nrrd").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["demo", str(folder)]) == EXIT_ERROR
    assert "holds an earlier demo output; use --overwrite to write it again" in capsys.readouterr().err
    assert (folder / "demo.seg.nrrd").stat().st_mtime_ns == stamp
    assert main(["demo", str(folder), "--overwrite"]) == EXIT_OK
    assert sorted(p.name for p in folder.iterdir()) == first and len(list((folder / "dicom" / "ct").iterdir())) == 12
    (folder / "thesis.tex").write_text("mine")
    capsys.readouterr()
    assert main(["demo", str(folder), "--overwrite"]) == EXIT_ERROR
    assert "holds files the demo did not write (thesis.tex); give a new or empty folder" in capsys.readouterr().err
    assert (folder / "thesis.tex").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    assert main(["demo", str(tmp_path / "empty")]) == EXIT_OK  # an empty folder is fine

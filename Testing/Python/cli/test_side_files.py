"""Side files belong to their output (issue 22): label tables are named from the label file's
whole name (``lung1.seg.nrrd.labels.txt``), so outputs of several formats in one folder each keep
their own, and they are written and replaced together with their output: a run never refuses
because of a table (or ``--split-rois``' ``labels.json``) left by an earlier run, while the
output itself still needs ``--overwrite``."""

from __future__ import annotations

import json

from dicomlabelmap.cli.common import EXIT_ERROR, EXIT_OK
from dicomlabelmap.cli.main import main
from dicomlabelmap.files.labeltables import read_itksnap, table_paths
from test_output_locations import _rtstruct, case  # noqa: F401 - the fixture of the output location tests


def _files(table):
    return {entry["file"] for entry in json.loads(table.read_text(encoding="utf-8"))["labels"]}


def test_table_paths_use_the_whole_name(tmp_path):
    assert [p.name for p in table_paths(tmp_path / "lung1.seg.nrrd")] == ["lung1.seg.nrrd.labels.txt", "lung1.seg.nrrd.labels.json"]
    assert [p.name for p in table_paths(tmp_path / "lung1.nii.gz")] == ["lung1.nii.gz.labels.txt", "lung1.nii.gz.labels.json"]


def test_two_formats_under_one_name_each_keep_their_tables(case, tmp_path, capsys):  # noqa: F811
    assert main(_rtstruct(case, "-o", str(tmp_path / "lung1.seg.nrrd"))) == EXIT_OK
    assert main(_rtstruct(case, "-o", str(tmp_path / "lung1.nii.gz"), "--split-layers")) == EXIT_OK, capsys.readouterr().err
    seg_json = tmp_path / "lung1.seg.nrrd.labels.json"
    nii_json = tmp_path / "lung1.nii.gz.labels.json"
    assert _files(seg_json) == {"lung1.seg.nrrd"}
    assert _files(nii_json) == {"lung1_layer1.nii.gz", "lung1_layer2.nii.gz", "lung1_layer3.nii.gz"}
    assert read_itksnap((tmp_path / "lung1.seg.nrrd.labels.txt").read_text()) == read_itksnap(
        (tmp_path / "lung1.nii.gz.labels.txt").read_text()
    )


def test_a_leftover_table_never_refuses_the_run_but_the_output_still_needs_overwrite(case, tmp_path, capsys):  # noqa: F811
    output = tmp_path / "out.seg.nrrd"
    txt, table = table_paths(output)
    assert main(_rtstruct(case, "-o", str(output))) == EXIT_OK
    capsys.readouterr()
    # the output is there: refused without --overwrite, its tables untouched
    table.write_text('{"labels": []}', encoding="utf-8")
    assert main(_rtstruct(case, "-o", str(output))) == EXIT_ERROR
    assert "out.seg.nrrd exists; choose another name or use --overwrite" in capsys.readouterr().err
    assert table.read_text(encoding="utf-8") == '{"labels": []}'
    # the output deleted, its tables left over: the same command runs and replaces them
    output.unlink()
    assert main(_rtstruct(case, "-o", str(output))) == EXIT_OK, capsys.readouterr().err
    assert _files(table) == {"out.seg.nrrd"} and read_itksnap(txt.read_text())[1][1] == "Ring (nested)"


def test_format_both_replaces_the_tables_of_its_label_file(case, tmp_path, capsys):  # noqa: F811
    folder = tmp_path / "out"
    assert main(_rtstruct(case, "-o", str(folder), "--format", "both")) == EXIT_OK
    for seg in folder.glob("*.dcm"):
        seg.unlink()
    (folder / "labels.seg.nrrd").unlink()
    (folder / "labels.seg.nrrd.labels.json").write_text("stale", encoding="utf-8")
    assert main(_rtstruct(case, "-o", str(folder), "--format", "both")) == EXIT_OK, capsys.readouterr().err
    assert _files(folder / "labels.seg.nrrd.labels.json") == {"labels.seg.nrrd"}


def test_split_rois_replaces_its_leftover_labels_json(case, tmp_path, capsys):  # noqa: F811
    folder = tmp_path / "masks"
    assert main(_rtstruct(case, "-o", str(folder), "--split-rois", "--mask-suffix", ".nrrd")) == EXIT_OK
    masks = sorted(p.name for p in folder.glob("*.nrrd"))
    for mask in folder.glob("*.nrrd"):
        mask.unlink()
    (folder / "labels.json").write_text("stale", encoding="utf-8")
    assert main(_rtstruct(case, "-o", str(folder), "--split-rois", "--mask-suffix", ".nrrd")) == EXIT_OK, capsys.readouterr().err
    assert sorted(p.name for p in folder.glob("*.nrrd")) == masks and json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    capsys.readouterr()
    # the masks themselves are outputs: refused without --overwrite
    assert main(_rtstruct(case, "-o", str(folder), "--split-rois", "--mask-suffix", ".nrrd")) == EXIT_ERROR
    assert "exists; choose another folder or use --overwrite" in capsys.readouterr().err

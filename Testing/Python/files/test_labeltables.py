"""Label tables (issue 21): every label of the scheme in every patient's table with a ``present``
flag, one key (``labels``) in every labels.json, and ``encode`` reading a label file's table back
(names, colours, codes, algorithm), automatically or through ``--metadata``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dicomlabelmap.cli.main import main
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.files.labeltables import table_entries, table_paths
from dicomlabelmap.model.labels import LabelVolume
from dicomlabelmap.model.segment import Code, Segment, SegmentAlgorithmType
from dicomlabelmap.seg.metadata import is_label_table, load_metadata
from dicomlabelmap.seg.reader import read_seg
from test_scheme import BOXES, PATIENT_A, PATIENT_B, SCHEME, box_mask, patient

LUNG = Code("39607008", "SCT", "Lung")


def test_table_entries_list_absent_labels_and_say_what_is_present(geometry):
    array = np.zeros(geometry.shape, dtype=np.uint8)
    array[1, 2:5, 3:6] = 2
    segments = [Segment(1, "empty roi"), Segment(2, "lung", type=LUNG, algorithm_type=SegmentAlgorithmType.AUTOMATIC, algorithm_name="net")]
    entries = table_entries(
        [LabelVolume(array, geometry, segments)], [geometry_file := __import__("pathlib").Path("x.nii.gz")], [Segment(7, "gtv")]
    )
    assert [(e["value"], e["name"], e["present"], e["layer"], e["file"]) for e in entries] == [
        (1, "empty roi", False, 1, geometry_file.name),  # a segment without voxels is not present
        (2, "lung", True, 1, "x.nii.gz"),
        (7, "gtv", False, None, None),  # a label of the scheme that no ROI matched
    ]
    assert entries[1]["type"] == ["39607008", "SCT", "Lung"] and entries[1]["algorithm_type"] == "AUTOMATIC"
    assert entries[1]["algorithm_name"] == "net"


def test_every_patient_lists_every_label_of_the_scheme(tmp_path):
    """Two patients with different ROIs: the same labels, in the same order, in both tables."""
    scheme = tmp_path / "scheme.json"
    scheme.write_text(json.dumps(dict(SCHEME, overlap="priority", priority=["gtv", "heart"])))
    tables = {}
    for name, rois in (("a", PATIENT_A), ("b", PATIENT_B)):
        ct, rs = patient(tmp_path / name, rois)
        out = tmp_path / name / "labels.nrrd"
        assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(out), "--roi-map", str(scheme)]) == 0
        tables[name] = json.loads(table_paths(out)[1].read_text())["labels"]
    for table in tables.values():
        assert [(e["value"], e["name"]) for e in table] == [(1, "heart"), (3, "lung_left"), (4, "lung_right"), (7, "gtv"), (9, "bladder")]
    assert [e["present"] for e in tables["a"]] == [True, True, True, True, False]
    assert [e["present"] for e in tables["b"]] == [True, True, True, False, False]
    texts = [(tmp_path / name / "labels.nrrd.labels.txt").read_text() for name in ("a", "b")]
    assert [line.split('"')[1] for line in texts[1].splitlines() if '"' in line] == [
        "Clear Label",
        "heart",
        "lung_left",
        "lung_right",
        "gtv",
        "bladder",
    ]


def test_encode_reads_the_table_beside_a_nifti(tmp_path, capsys):
    """rtstruct -> train.nii.gz (+ train.nii.gz.labels.json) -> encode train.nii.gz: the Label Map SEG's
    segments carry the scheme's names, colours, codes and the ROIs' algorithm type."""
    pytest.importorskip("nibabel", reason="nibabel is not installed")
    ct, rs = patient(tmp_path, PATIENT_A)
    scheme = tmp_path / "scheme.json"
    scheme.write_text(json.dumps(dict(SCHEME, overlap="priority", priority=["gtv", "heart"])))
    train = tmp_path / "train.nii.gz"
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(train), "--roi-map", str(scheme)]) == 0
    capsys.readouterr()
    assert main(["encode", str(train), "-r", str(ct), "-o", str(tmp_path / "seg")]) == 0
    err = capsys.readouterr().err
    assert "from " + str(tmp_path / "train.nii.gz.labels.json") in err and "does not hold" not in err  # bladder is marked absent
    reference = read_reference_series(ct)
    (path,) = sorted((tmp_path / "seg").glob("*.dcm"))
    contents = read_seg(path, reference)
    described = {s.number: s for s in contents.segments if s.number}
    assert {n: s.label for n, s in described.items()} == {1: "heart", 3: "lung_left", 4: "lung_right", 7: "gtv"}
    assert described[1].type == Code("80891009", "SCT", "Heart") and described[1].algorithm_type is SegmentAlgorithmType.MANUAL
    assert np.abs(np.subtract(described[3].color, (0, 151, 206))).max() <= 2
    masks = {s.number: contents.volumes[0].array == s.number for s in contents.segments}
    np.testing.assert_array_equal(masks[4], box_mask(BOXES["lung_right"]) & ~box_mask(BOXES["gtv_b"]))  # gtv has priority
    # the same table given explicitly (as --metadata of another label file) is accepted too
    other = tmp_path / "model_output.nii.gz"
    other.write_bytes(train.read_bytes())
    assert (
        main(["encode", str(other), "-r", str(ct), "-o", str(tmp_path / "seg2"), "--metadata", str(tmp_path / "train.nii.gz.labels.json")])
        == 0
    )
    (again,) = sorted((tmp_path / "seg2").glob("*.dcm"))
    assert [s.label for s in read_seg(again, reference).segments if s.number] == ["heart", "lung_left", "lung_right", "gtv"]


def test_a_seg_nrrd_keeps_its_own_names_over_a_table_beside_it(tmp_path, capsys):
    ct, rs = patient(tmp_path, PATIENT_B)
    labels = tmp_path / "labels.seg.nrrd"
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(labels)]) == 0
    table = table_paths(labels)[1]
    data = json.loads(table.read_text())
    data["labels"][0]["name"] = "stale name"
    table.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["encode", str(labels), "-r", str(ct), "-o", str(tmp_path / "seg")]) == 0
    assert "label table" not in capsys.readouterr().err
    reference = read_reference_series(ct)
    names = {s.number: s.label for path in sorted((tmp_path / "seg").glob("*.dcm")) for s in read_seg(path, reference).segments if s.number}
    assert [names[n] for n in sorted(names)] == [name for name, _ in PATIENT_B]  # two layers (heart overlaps the left lung)


def test_label_tables_and_schemes_are_told_apart(tmp_path):
    assert is_label_table({"labels": [{"value": 1, "name": "a", "present": True}]})
    assert not is_label_table(SCHEME) and not is_label_table({"labels": []})
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps({"labels": [{"value": 2, "name": "x", "file": "a.nii.gz", "layer": 1}, {"value": 3, "name": "y", "file": "b.nii.gz"}]})
    )
    assert sorted(load_metadata(path).layers[0]) == [2, 3]
    assert sorted(load_metadata(path, label_file="a.nii.gz").layers[0]) == [2]  # the other layer file's values are not this file's
    path.write_text(json.dumps({"labels": [{"value": 2, "name": "x", "present": True, "colour": [1, 2, 3]}]}))
    with pytest.raises(Exception, match=r"labels\[0\]: unknown key\(s\) colour"):
        load_metadata(path)


def test_tables_are_found_by_the_whole_name_first_then_the_older_name(tmp_path):
    """``lung1.nii.gz.labels.json`` belongs to ``lung1.nii.gz``; a table written by earlier versions
    (``lung1.labels.json``) is still read when there is none of the new name; never another file's."""
    from dicomlabelmap.files.labeltables import found_table

    label_file = tmp_path / "lung1.nii.gz"
    assert found_table(label_file, ".labels.json") is None
    older = tmp_path / "lung1.labels.json"
    older.write_text("{}")
    assert found_table(label_file, ".labels.json") == older
    newer = tmp_path / "lung1.nii.gz.labels.json"
    newer.write_text("{}")
    assert found_table(label_file, ".labels.json") == newer
    assert found_table(tmp_path / "lung1.seg.nrrd", ".labels.json") == older  # same stem, older naming
    assert found_table(tmp_path / "lung2.nii.gz", ".labels.json") is None
    assert found_table(label_file, ".labels.txt") is None

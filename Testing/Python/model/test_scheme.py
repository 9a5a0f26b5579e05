"""Label schemes and training-set outputs (issue 14): one label scheme across patients whose ROIs
are named and ordered differently, each rule with exact expected masks; per-label masks, label
tables, COCO run-length masks, RT Structure Set straight to Label Map SEG, and metadata-driven
encoding checked against dcmqi."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import find_tool, shared_file
from dicomlabelmap.batch.jobs import BatchSettings, OutputFormat
from dicomlabelmap.batch.run import run_batch
from dicomlabelmap.cli.main import main
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.files.labelfiles import read_label_file
from dicomlabelmap.files.labeltables import read_itksnap
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.model.scheme import LabelScheme, SchemeError, load_scheme, scheme_from_dict
from dicomlabelmap.model.segment import Segment
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.seg.reader import read_seg
from dicomlabelmap.seg.writer import SegWriteOptions
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, make_image_series, make_rtstruct, save

SHAPE = (5, 30, 40)
LUNG_PATTERN = "(?i)^l(ef)?t?[ _-]*lung$|^lung[ _-]*l(eft)?$"
SCHEME = {
    "labels": [
        {"value": 1, "name": "heart", "aliases": ["Coeur"], "color": [200, 30, 30],
         "type": {"CodeValue": "80891009", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Heart"}},
        {"value": 3, "name": "lung_left", "aliases": ["Lung-Left", "Lung_L", "L Lung"], "pattern": LUNG_PATTERN, "color": [0, 151, 206]},
        {
            "value": 4,
            "name": "lung_right",
            "aliases": ["Lung-Right", "Lung_R"],
            "pattern": "(?i)^r(igh)?t?[ _-]*lung$|^lung[ _-]*r(igh)?t?$",
        },
        {"value": 7, "name": "gtv", "pattern": "(?i)^gtv"},
        {"value": 9, "name": "bladder"},
    ],
    "unmatched": "drop",
}  # fmt: skip

# Boxes (k range, row range, column range), inclusive, drawn as rectangles whose corners sit
# half a pixel outside: exactly these voxels are inside.
BOXES = {
    "heart": ((1, 3), (10, 19), (15, 24)),
    "lung_left": ((0, 4), (5, 24), (2, 17)),  # overlaps the heart at columns 15-17
    "lung_right": ((0, 4), (5, 24), (26, 37)),
    "gtv_a": ((2, 2), (8, 11), (4, 7)),
    "gtv_b": ((3, 3), (20, 22), (30, 33)),
    "couch": ((0, 4), (27, 28), (0, 39)),
}


def _box_contours(box) -> list[SyntheticContour]:
    (k0, k1), (r0, r1), (c0, c1) = box
    corners = [(c0 - 0.5, r0 - 0.5), (c1 + 0.5, r0 - 0.5), (c1 + 0.5, r1 + 0.5), (c0 - 0.5, r1 + 0.5)]
    return [SyntheticContour(k, corners) for k in range(k0, k1 + 1)]


def box_mask(box) -> np.ndarray:
    (k0, k1), (r0, r1), (c0, c1) = box
    mask = np.zeros(SHAPE, dtype=bool)
    mask[k0 : k1 + 1, r0 : r1 + 1, c0 : c1 + 1] = True
    return mask


def patient(folder: Path, rois: list[tuple[str, str]], seed: int = 0) -> tuple[Path, Path]:
    """A CT series and an RT Structure Set with ROIs ``(ROI name, box key)`` in that order."""
    geometry = ImageGeometry(SHAPE, [-20.0 + seed, -15.0, 40.0], [1.0, 1.0, 2.5], np.eye(3), pydicom.uid.generate_uid())
    images = make_image_series(geometry)
    for image in images:
        image.PatientID = f"P{seed}"
    ct = folder / "ct"
    save(images, ct)
    structure = make_rtstruct(images, geometry, [SyntheticRoi(name, _box_contours(BOXES[key])) for name, key in rois])
    structure.PatientID = f"P{seed}"
    structure.SpecificCharacterSet = "ISO_IR 192"
    path = folder / "RS.dcm"
    structure.save_as(path, enforce_file_format=True)
    return ct, path


PATIENT_A = [
    ("Lung_L", "lung_left"),
    ("Heart", "heart"),
    ("Lung-Right", "lung_right"),
    ("GTV-1", "gtv_a"),
    ("GTV-2", "gtv_b"),
    ("Couch", "couch"),
]
PATIENT_B = [("couch top", "couch"), ("LUNG RT", "lung_right"), ("coeur", "heart"), ("left lung", "lung_left")]


@pytest.fixture
def scheme_file(tmp_path) -> Path:
    path = tmp_path / "scheme.json"
    path.write_text(json.dumps(SCHEME))
    return path


def labels_of(conversion) -> dict[int, np.ndarray]:
    """Label value -> mask over every layer."""
    result = {}
    for volume in conversion.label_volumes:
        for segment in volume.segments:
            result[segment.number] = volume.array == segment.number
    return result


# -- matching ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "label", "by"),
    [
        ("Lung-Left", "lung_left", "name"),  # "lung_left" normalised equals "lunglEft"
        ("lung_l", "lung_left", "alias"),
        ("L  LUNG", "lung_left", "alias"),
        ("LEFT LUNG", "lung_left", "pattern"),
        ("Lt Lung", "lung_left", "pattern"),
        ("lung left", "lung_left", "name"),
        ("Lung L", "lung_left", "alias"),
        ("Lungs", None, ""),
        ("heart", "heart", "name"),
        ("COEUR", "heart", "alias"),
        ("GTVp", "gtv", "pattern"),
        ("PTV", None, ""),
    ],
)
def test_matching_aliases_case_and_patterns(name, label, by):
    scheme = scheme_from_dict(SCHEME)
    match = scheme.match(name)
    assert (match.label.name if match else None) == label
    assert (match.by if match else "") == by


def test_two_patterns_match_first_label_wins_with_a_warning(tmp_path):
    scheme = scheme_from_dict({"labels": [{"value": 2, "name": "a", "pattern": "^Lung"}, {"value": 5, "name": "b", "pattern": "Left$"}]})
    match = scheme.match("Lung Left")
    assert match.label.name == "a" and match.also == ("b",)
    ct, rs = patient(tmp_path, [("Lung Left", "lung_left")])
    conversion = rtstruct_to_labels(rs, ct, scheme=scheme)
    assert list(labels_of(conversion)) == [2]
    assert any(f.kind == "scheme_pattern_conflict" and "'b'" in f.message for f in conversion.findings)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"labels": [{"value": 1, "name": "a"}, {"value": 1, "name": "b"}]}, "value 1 is used by both"),
        ({"labels": [{"value": 1, "name": "a", "aliases": ["X-1"]}, {"value": 2, "name": "b", "aliases": ["x 1"]}]}, "belongs to both"),
        ({"labels": [{"value": 1, "name": "a", "pattern": "(["}]}, "not a valid regular expression"),
        ({"labels": [{"value": 0, "name": "a"}]}, "from 1 to 65535"),
        ({"labels": [{"value": 1, "name": "a", "colour": [1, 2, 3]}]}, "unknown key(s) colour"),
        ({"labels": [{"value": 1, "name": "a", "color": [1, 2, 300]}]}, "three whole numbers 0-255"),
        ({"labels": [], "unmatched": "ignore"}, "\"unmatched\" must be one of 'drop', 'keep', 'fail'"),
        ({"labels": [{"value": 1, "name": "a"}], "priority": ["a"]}, 'set "overlap": "priority"'),
        ({"labels": [{"value": 1, "name": "a"}], "overlap": "priority", "priority": ["z"]}, "'z' is not a label"),
        ({"labels": [{"value": 1, "name": "a", "type": {"CodeValue": "1"}}]}, "CodeMeaning"),
    ],
)
def test_wrong_schemes_are_refused_naming_the_entry(tmp_path, data, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SchemeError) as error:
        load_scheme(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_a_scheme_that_is_not_json_is_one_sentence(tmp_path, capsys):
    ct, rs = patient(tmp_path, PATIENT_B)
    bad = tmp_path / "bad.json"
    bad.write_text('{"labels": [}')
    code = main(["rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "out.nii.gz"), "--roi-map", str(bad)])
    assert code == 1
    error = capsys.readouterr().err
    assert "not valid JSON (line 1" in error and "Traceback" not in error
    assert not (tmp_path / "out.nii.gz").exists()


# -- the same labels for every patient -------------------------------------------------------------
def test_same_label_values_across_patients_whose_roi_order_and_names_differ(tmp_path, scheme_file):
    scheme = load_scheme(scheme_file)
    a = rtstruct_to_labels(*reversed(patient(tmp_path / "a", PATIENT_A, 0)), scheme=scheme)
    b = rtstruct_to_labels(*reversed(patient(tmp_path / "b", PATIENT_B, 1)), scheme=scheme)
    for conversion, present in ((a, ["heart", "lung_left", "lung_right"]), (b, ["heart", "lung_left", "lung_right"])):
        masks = labels_of(conversion)
        assert sorted(masks) == ([1, 3, 4, 7] if conversion is a else [1, 3, 4])
        for name in present:
            value = scheme.label(next(label.value for label in scheme.labels if label.name == name)).value
            np.testing.assert_array_equal(masks[value], box_mask(BOXES[name]))
        names = {s.number: s.label for volume in conversion.label_volumes for s in volume.segments}
        assert names[3] == "lung_left" and names[1] == "heart"
        colors = {s.number: s.color for volume in conversion.label_volumes for s in volume.segments}
        assert colors[3] == (0, 151, 206) and colors[1] == (200, 30, 30)
    assert a.labels_missing == ["bladder"] and b.labels_missing == ["gtv", "bladder"]
    assert [x.roi_name for x in a.assignments if x.status == "unmatched"] == ["Couch"]
    assert [x.roi_name for x in b.assignments if x.status == "unmatched"] == ["couch top"]
    heart_type = next(s.type for v in a.label_volumes for s in v.segments if s.number == 1)
    assert (heart_type.value, heart_type.meaning) == ("80891009", "Heart")


def test_rois_on_one_label_are_united_with_a_warning(tmp_path, scheme_file):
    ct, rs = patient(tmp_path, PATIENT_A)
    conversion = rtstruct_to_labels(rs, ct, scheme=load_scheme(scheme_file))
    np.testing.assert_array_equal(labels_of(conversion)[7], box_mask(BOXES["gtv_a"]) | box_mask(BOXES["gtv_b"]))
    union = [f for f in conversion.findings if f.kind == "scheme_union"]
    assert len(union) == 1 and "'GTV-1', 'GTV-2'" in union[0].message
    segment = next(s for v in conversion.label_volumes for s in v.segments if s.number == 7)
    assert json.loads(segment.properties["RoiNames"]) == ["GTV-1", "GTV-2"]


def test_unmatched_policies(tmp_path):
    ct, rs = patient(tmp_path, PATIENT_A)
    base = {"labels": [{"value": 10, "name": "heart"}, {"value": 12, "name": "lung_left", "aliases": ["Lung_L"]}]}
    dropped = rtstruct_to_labels(rs, ct, scheme=scheme_from_dict(dict(base, unmatched="drop")))
    assert sorted(labels_of(dropped)) == [10, 12]
    assert {f.roi_name for f in dropped.findings if f.kind == "scheme_unmatched"} == {"Lung-Right", "GTV-1", "GTV-2", "Couch"}
    assert len(dropped.rois) == 2  # only the selected ROIs are drawn

    kept = rtstruct_to_labels(rs, ct, scheme=scheme_from_dict(dict(base, unmatched="keep")))
    masks = labels_of(kept)
    # kept ROIs numbered after the scheme's largest value, in ROI order, under their own names
    assert sorted(masks) == [10, 12, 13, 14, 15, 16]
    names = {s.number: s.label for v in kept.label_volumes for s in v.segments}
    assert [names[n] for n in (13, 14, 15, 16)] == ["Lung-Right", "GTV-1", "GTV-2", "Couch"]
    np.testing.assert_array_equal(masks[16], box_mask(BOXES["couch"]))

    with pytest.raises(SchemeError, match=r"ROI\(s\) 'Lung-Right', 'GTV-1', 'GTV-2', 'Couch' match no label .* \(unmatched: fail\)"):
        rtstruct_to_labels(rs, ct, scheme=scheme_from_dict(dict(base, unmatched="fail")))


def test_priority_overlap_gives_one_label_map_and_says_what_moved(tmp_path, scheme_file):
    ct, rs = patient(tmp_path, PATIENT_A)
    layered = rtstruct_to_labels(rs, ct, scheme=load_scheme(scheme_file))
    assert len(layered.label_volumes) == 2  # heart and left lung overlap
    data = dict(SCHEME, overlap="priority", priority=["heart", "gtv"])
    conversion = rtstruct_to_labels(rs, ct, scheme=scheme_from_dict(data))
    (volume,) = conversion.label_volumes
    expected = np.zeros(SHAPE, dtype=np.uint8)
    # painted from the lowest priority up: lung_right, lung_left (file order), then gtv, heart
    for value, boxes in ((4, ["lung_right"]), (3, ["lung_left"]), (7, ["gtv_a", "gtv_b"]), (1, ["heart"])):
        for box in boxes:
            expected[box_mask(BOXES[box])] = value
    np.testing.assert_array_equal(volume.array, expected)
    moved = [f.message for f in conversion.findings if f.kind == "scheme_priority_overlap"]
    heart_on_lung = int((box_mask(BOXES["heart"]) & box_mask(BOXES["lung_left"])).sum())
    gtv_on_lung = int(box_mask(BOXES["gtv_a"]).sum())
    gtv_b_on_right = int(box_mask(BOXES["gtv_b"]).sum())
    assert any(
        "label 3 'lung_left'" in m and f"{heart_on_lung + gtv_on_lung:,} of its" in m and f"{heart_on_lung:,} to 'heart' (1)" in m
        for m in moved
    ), moved
    assert any("label 4 'lung_right'" in m and f"{gtv_b_on_right:,} to 'gtv' (7)" in m for m in moved), moved
    # the label masks (split files, COCO) stay whole
    masks = {segment.number: mask.full() for segment, mask in conversion.label_masks()}
    np.testing.assert_array_equal(masks[3], box_mask(BOXES["lung_left"]))


def test_include_and_exclude_select_by_roi_or_label_name(tmp_path, scheme_file):
    ct, rs = patient(tmp_path, PATIENT_A)
    only_lungs = rtstruct_to_labels(rs, ct, scheme=LabelScheme.selection(include=["lung.*"]))
    assert [s.label for v in only_lungs.label_volumes for s in v.segments] == ["Lung_L", "Lung-Right"]
    # the values a run without the selection gives: their positions in the structure set
    assert [s.number for v in only_lungs.label_volumes for s in v.segments] == [1, 3]
    no_gtv = rtstruct_to_labels(rs, ct, scheme=load_scheme(scheme_file).with_selection(exclude=["gtv"]))  # the label's name
    assert sorted(labels_of(no_gtv)) == [1, 3, 4]
    excluded = [a for a in no_gtv.assignments if a.status == "excluded"]
    assert [a.roi_name for a in excluded] == ["GTV-1", "GTV-2"] and excluded[0].reason == "excluded by 'gtv'"


@pytest.mark.parametrize(
    ("entry", "selected"),
    [
        ("lung*", ["Lung_L", "Lung-Right"]),  # shell-style glob, ignoring case
        ("LUNG?R*", ["Lung-Right"]),  # glob: ? is one character
        ("[gc]*", ["GTV-1", "GTV-2", "Couch"]),  # glob character class
        ("lung.*", ["Lung_L", "Lung-Right"]),  # regular expression matching the whole name
        ("gtv-\\d", ["GTV-1", "GTV-2"]),  # regular expression, ignoring case
        ("lung l", ["Lung_L"]),  # equal ignoring case, spaces, _ and -
        ("lung", []),  # neither equal, nor a glob match, nor a whole-name match
    ],
)
def test_an_entry_selects_by_name_glob_or_regular_expression(tmp_path, entry, selected):
    ct, rs = patient(tmp_path, PATIENT_A)
    plain = rtstruct_to_labels(rs, ct)
    values = {r.roi.name: plain.segment_number(r) for r in plain.rois}
    chosen = rtstruct_to_labels(rs, plain.reference, scheme=LabelScheme.selection(include=[entry]))
    assert [r.roi.name for r in chosen.rois] == selected
    # selecting never changes a value: each ROI keeps the one the unselected run gave it
    assert {r.roi.name: chosen.segment_number(r) for r in chosen.rois} == {name: values[name] for name in selected}
    left_out = rtstruct_to_labels(rs, plain.reference, scheme=LabelScheme.selection(exclude=[entry]))
    assert [r.roi.name for r in left_out.rois] == [name for name, _ in PATIENT_A if name not in selected]
    assert {r.roi.name: left_out.segment_number(r) for r in left_out.rois} == {r.roi.name: values[r.roi.name] for r in left_out.rois}


def test_kept_rois_keep_their_values_when_others_are_left_out(tmp_path):
    """unmatched: keep numbers the n-th unmatched ROI of the structure set max + n, counting ROIs
    the selection leaves out: excluding one never renumbers the others."""
    ct, rs = patient(tmp_path, PATIENT_A)
    scheme = scheme_from_dict({"labels": [{"value": 10, "name": "heart"}], "unmatched": "keep"})
    everything = rtstruct_to_labels(rs, ct, scheme=scheme)
    values = {r.roi.name: everything.segment_number(r) for r in everything.rois}
    assert values == {"Lung_L": 11, "Heart": 10, "Lung-Right": 12, "GTV-1": 13, "GTV-2": 14, "Couch": 15}
    some = rtstruct_to_labels(rs, everything.reference, scheme=scheme.with_selection(exclude=["lung*", "gtv-1"]))
    assert {r.roi.name: some.segment_number(r) for r in some.rois} == {"Heart": 10, "GTV-2": 14, "Couch": 15}
    masks = labels_of(some)
    np.testing.assert_array_equal(masks[15], box_mask(BOXES["couch"]))


def test_selecting_none_names_the_rois_and_no_scheme_without_one(tmp_path, scheme_file, capsys):
    ct, rs = patient(tmp_path, PATIENT_A)
    code = main(["rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "x.nrrd"), "--include", "liver*"])
    error = capsys.readouterr().err
    assert code == 1 and not (tmp_path / "x.nrrd").exists()
    assert "scheme" not in error
    assert "--include/--exclude) selects none of its 6 ROI(s): 'Lung_L', 'Heart', 'Lung-Right', 'GTV-1', 'GTV-2', 'Couch'" in error
    code = main(["rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "x.nrrd"), "--roi-map", str(scheme_file), "--include", "liver"])
    error = capsys.readouterr().err
    assert code == 1 and f"the label scheme {scheme_file} with --include/--exclude selects none of its 6 ROI(s): 'Lung_L'" in error


@pytest.mark.realdata
def test_lung1_scheme_masks_equal_the_unschemed_conversion():
    rs, ct = shared_file("nsclc-lung1-001/rtstruct/RS.dcm"), shared_file("nsclc-lung1-001/ct")
    plain = rtstruct_to_labels(rs, ct)
    reference = plain.reference
    schemed = rtstruct_to_labels(rs, reference, scheme=scheme_from_dict(SCHEME))
    by_name = {r.roi.name: r for r in plain.rois}
    masks = labels_of(schemed)
    assert sorted(masks) == [3, 4, 7]  # Spinal-Cord matches nothing: dropped
    np.testing.assert_array_equal(masks[3], by_name["Lung-Left"].mask.full())
    np.testing.assert_array_equal(masks[4], by_name["Lung-Right"].mask.full())
    np.testing.assert_array_equal(masks[7], by_name["GTV-1"].mask.full())
    assert schemed.labels_missing == ["heart", "bladder"]
    assert [a.roi_name for a in schemed.assignments if a.status == "unmatched"] == ["Spinal-Cord"]
    only_gtv = rtstruct_to_labels(rs, reference, scheme=scheme_from_dict(SCHEME).with_selection(include=["gtv"]))
    assert sorted(labels_of(only_gtv)) == [7] and len(only_gtv.rois) == 1


# -- outputs for training ------------------------------------------------------------------------------
def test_split_rois_masks_equal_the_label_masks(tmp_path, scheme_file):
    nib = pytest.importorskip("nibabel", reason="nibabel is not installed (pip install dicomlabelmap[files])")
    ct, rs = patient(tmp_path, PATIENT_A)
    out = tmp_path / "masks"
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(out), "--split-rois", "--roi-map", str(scheme_file)]) == 0
    table = json.loads((out / "labels.json").read_text())["labels"]
    assert [(m["file"], m["value"], m["roi_names"], m["present"]) for m in table] == [
        ("heart.nii.gz", 1, ["Heart"], True),
        ("lung_left.nii.gz", 3, ["Lung_L"], True),
        ("lung_right.nii.gz", 4, ["Lung-Right"], True),
        ("gtv.nii.gz", 7, ["GTV-1", "GTV-2"], True),
        (None, 9, [], False),  # bladder: a label of the scheme no ROI matched, listed as absent
    ]
    table = table[:4]
    expected = {
        "heart": box_mask(BOXES["heart"]),
        "lung_left": box_mask(BOXES["lung_left"]),
        "lung_right": box_mask(BOXES["lung_right"]),
        "gtv": box_mask(BOXES["gtv_a"]) | box_mask(BOXES["gtv_b"]),
    }
    for entry in table:
        image = nib.load(out / entry["file"])
        data = np.asarray(image.dataobj)
        assert data.dtype == np.uint8 and set(np.unique(data)) <= {0, 1}
        # NIfTI (i, j, k) -> our (k, j, i)
        np.testing.assert_array_equal(data.transpose(2, 1, 0).astype(bool), expected[entry["name"]])
        assert entry["voxels"] == int(expected[entry["name"]].sum())
    assert sorted(p.name for p in out.iterdir()) == sorted([m["file"] for m in table] + ["labels.json"])


def test_split_rois_names_are_sanitised_and_distinct(tmp_path):
    pytest.importorskip("nibabel", reason="nibabel is not installed")
    ct, rs = patient(tmp_path, [("../Rückenmark", "heart"), ("rückenmark", "gtv_a"), ("脊髓 PRV", "gtv_b")])
    out = tmp_path / "masks"
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(out), "--split-rois", "--mask-suffix", ".nrrd"]) == 0
    files = [m["file"] for m in json.loads((out / "labels.json").read_text())["labels"]]
    assert files == ["Rückenmark.nrrd", "rückenmark_2.nrrd", "脊髓_PRV.nrrd"]
    assert all((out / name).is_file() for name in files)


def test_label_tables_follow_itksnap_rules_and_match_the_file(tmp_path, scheme_file):
    nib = pytest.importorskip("nibabel", reason="nibabel is not installed")
    nrrd = pytest.importorskip("nrrd", reason="pynrrd is not installed")
    ct, rs = patient(tmp_path, PATIENT_B)
    data = dict(SCHEME, overlap="priority", priority=["heart"])
    scheme = tmp_path / "priority.json"
    scheme.write_text(json.dumps(data))
    for suffix in (".nii.gz", ".nrrd"):
        out = tmp_path / f"labels{suffix}"
        assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(out), "--roi-map", str(scheme)]) == 0
        text = (tmp_path / f"labels{suffix}.labels.txt").read_text()
        table = read_itksnap(text)
        assert table[0] == ((0, 0, 0), "Clear Label")
        assert table[1] == ((200, 30, 30), "heart") and table[3] == ((0, 151, 206), "lung_left")
        entries = {e["value"]: e for e in json.loads((tmp_path / f"labels{suffix}.labels.json").read_text())["labels"]}
        assert entries[3]["roi_names"] == ["left lung"] and entries[1]["roi_names"] == ["coeur"] and entries[3]["file"] == out.name
        if suffix == ".nii.gz":
            values = np.asarray(nib.load(out).dataobj)
        else:
            values, _ = nrrd.read(str(out))
        # every label of the scheme is listed, in both tables; "present" says which this patient has
        assert set(entries) == set(table) - {0} == {1, 3, 4, 7, 9}
        assert {v for v, e in entries.items() if e["present"]} == set(np.unique(values)) - {0} == {1, 3, 4}
        assert entries[7] == dict(entries[7], name="gtv", present=False, layer=None, file=None) and table[9][1] == "bladder"
        for path in (out, tmp_path / f"labels{suffix}.labels.txt", tmp_path / f"labels{suffix}.labels.json"):
            path.unlink()


def test_coco_rle_decodes_to_the_label_masks(tmp_path, scheme_file):
    mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools is not installed (pip install dicomlabelmap[coco])")
    ct, rs = patient(tmp_path, PATIENT_A)
    out = tmp_path / "coco.json"
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(out), "--format", "coco-rle", "--roi-map", str(scheme_file)]) == 0
    data = json.loads(out.read_text())
    reference = read_reference_series(ct)
    uids = [s.sop_instance_uid for s in reference.slices]
    assert [image["id"] for image in data["images"]] == uids
    assert [(c["id"], c["name"]) for c in data["categories"]] == [(1, "heart"), (3, "lung_left"), (4, "lung_right"), (7, "gtv")]
    decoded = {c["id"]: np.zeros(SHAPE, dtype=bool) for c in data["categories"]}
    for annotation in data["annotations"]:
        rle = dict(annotation["segmentation"], counts=annotation["segmentation"]["counts"].encode())
        plane = mask_api.decode(rle).astype(bool)
        assert annotation["area"] == int(plane.sum())
        decoded[annotation["category_id"]][uids.index(annotation["image_id"])] |= plane
    np.testing.assert_array_equal(decoded[3], box_mask(BOXES["lung_left"]))  # whole, though the heart overlaps it
    np.testing.assert_array_equal(decoded[7], box_mask(BOXES["gtv_a"]) | box_mask(BOXES["gtv_b"]))
    np.testing.assert_array_equal(decoded[1], box_mask(BOXES["heart"]))


def test_rtstruct_to_labelmap_seg_equals_rtstruct_then_encode(tmp_path, scheme_file):
    ct, rs = patient(tmp_path, PATIENT_A)
    scheme = ["--roi-map", str(scheme_file)]
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "direct"), "--format", "both", *scheme]) == 0
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "labels.seg.nrrd"), *scheme]) == 0
    assert main(["encode", str(tmp_path / "labels.seg.nrrd"), "-r", str(ct), "-o", str(tmp_path / "encoded")]) == 0
    reference = read_reference_series(ct)
    direct = sorted((tmp_path / "direct").glob("*.dcm"))
    encoded = sorted((tmp_path / "encoded").glob("*.dcm"))
    assert len(direct) == len(encoded) == 2
    for one, two in zip(direct, encoded, strict=True):
        (a,), (b,) = read_seg(one, reference).volumes, read_seg(two, reference).volumes
        np.testing.assert_array_equal(a.array, b.array)
        describe = lambda v: [(s.number, s.label, s.color, s.type, s.category) for s in sorted(v.segments, key=lambda s: s.number)]  # noqa: E731
        assert describe(a) == describe(b)
    names = {s.label for path in direct for s in read_seg(path, reference).volumes[0].segments}
    assert names == {"heart", "lung_left", "lung_right", "gtv"}
    assert (tmp_path / "direct" / "labels.seg.nrrd").is_file() and (tmp_path / "direct" / "labels.seg.nrrd.labels.txt").is_file()


# -- metadata-driven encoding --------------------------------------------------------------------------
DCMQI_METADATA = {
    "ContentCreatorName": "Doe^John",
    "ClinicalTrialSeriesID": "Session1",
    "ClinicalTrialTimePointID": "1",
    "SeriesDescription": "Liver and spine",
    "SeriesNumber": "301",
    "InstanceNumber": "1",
    "segmentAttributes": [
        [
            {
                "labelID": 1,
                "SegmentDescription": "Liver Segmentation",
                "SegmentLabel": "Liver",
                "SegmentedPropertyCategoryCodeSequence": {
                    "CodeValue": "85756007",
                    "CodingSchemeDesignator": "SCT",
                    "CodeMeaning": "Tissue",
                },
                "SegmentedPropertyTypeCodeSequence": {"CodeValue": "10200004", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Liver"},
                "SegmentAlgorithmType": "SEMIAUTOMATIC",
                "SegmentAlgorithmName": "SlicerEditor",
                "recommendedDisplayRGBValue": [221, 130, 101],
            },
            {
                "labelID": 2,
                "SegmentDescription": "Anatomical Structure",
                "SegmentedPropertyTypeCodeSequence": {
                    "CodeMeaning": "Thoracic spine",
                    "CodingSchemeDesignator": "SCT",
                    "CodeValue": "122495006",
                },
                "SegmentedPropertyCategoryCodeSequence": {
                    "CodeMeaning": "Anatomical Structure",
                    "CodingSchemeDesignator": "SCT",
                    "CodeValue": "123037004",
                },
                "AnatomicRegionSequence": {"CodeValue": "39607008", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Lung"},
                "SegmentAlgorithmType": "MANUAL",
                "recommendedDisplayRGBValue": [226, 202, 134],
            },
        ]
    ],
}


def _segment_descriptions(path: Path) -> list[tuple]:
    dataset = pydicom.dcmread(path, stop_before_pixels=True)

    def code(item, keyword):
        return (
            tuple(str(item[keyword][0].get(k, "")) for k in ("CodeValue", "CodingSchemeDesignator", "CodeMeaning"))
            if keyword in item
            else None
        )

    rows = []
    for item in dataset.SegmentSequence:
        if int(item.SegmentNumber) == 0:
            continue
        rows.append(
            (
                int(item.SegmentNumber),
                str(item.SegmentLabel),
                str(item.get("SegmentDescription", "")),
                str(item.SegmentAlgorithmType),
                str(item.get("SegmentAlgorithmName", "")),
                code(item, "SegmentedPropertyCategoryCodeSequence"),
                code(item, "SegmentedPropertyTypeCodeSequence"),
                code(item, "AnatomicRegionSequence"),
                tuple(int(v) for v in item.RecommendedDisplayCIELabValue),
            )
        )
    return sorted(rows)


@pytest.mark.realdata
def test_encode_with_dcmqi_metadata_describes_segments_as_dcmqi_does(tmp_path):
    tool = find_tool("itkimage2segimage")
    if tool is None:
        pytest.skip("itkimage2segimage is not installed (pip install dcmqi)")
    ct, labels = shared_file("dcmqi/ct-3slice"), shared_file("dcmqi/liver_spine_seg.nrrd")
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(DCMQI_METADATA))
    theirs = tmp_path / "dcmqi.dcm"
    result = subprocess.run(
        [tool, "--inputImageList", str(labels), "--inputDICOMDirectory", str(ct), "--inputMetadata", str(meta),
         "--outputDICOM", str(theirs), "--segmentationType", "labelmap"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert main(["encode", str(labels), "-r", str(ct), "-o", str(tmp_path / "ours"), "--metadata", str(meta)]) == 0
    (ours,) = sorted((tmp_path / "ours").glob("*.dcm"))
    mine, dcmqi = _segment_descriptions(ours), _segment_descriptions(theirs)
    # CIELab: both convert the same sRGB (different implementations: a few units of 65535 apart)
    assert [row[:-1] for row in mine] == [row[:-1] for row in dcmqi]
    for a, b in zip(mine, dcmqi, strict=True):
        assert np.abs(np.subtract(a[-1], b[-1])).max() <= 4
    assert mine[1][1] == "Anatomical Structure"  # no SegmentLabel: its SegmentDescription, as dcmqi
    header = pydicom.dcmread(ours, stop_before_pixels=True)
    assert (header.SeriesDescription, int(header.SeriesNumber), str(header.ContentCreatorName)) == ("Liver and spine", 301, "Doe^John")
    reference = read_reference_series(ct)
    np.testing.assert_array_equal(read_seg(ours, reference).volumes[0].array, read_seg(theirs, reference).volumes[0].array)


def test_encode_with_a_scheme_as_metadata_and_notes_for_what_does_not_match(tmp_path, scheme_file, capsys):
    nib = pytest.importorskip("nibabel", reason="nibabel is not installed")
    ct, _ = patient(tmp_path, PATIENT_B)
    reference = read_reference_series(ct)
    array = np.zeros(SHAPE, dtype=np.uint8)
    array[box_mask(BOXES["lung_left"])] = 3
    array[box_mask(BOXES["lung_right"])] = 4
    array[box_mask(BOXES["gtv_b"])] = 5  # not in the scheme
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ reference.geometry.ijk_to_lps
    nib.save(nib.Nifti1Image(array.transpose(2, 1, 0), affine), tmp_path / "model.nii.gz")
    assert main(["encode", str(tmp_path / "model.nii.gz"), "-r", str(ct), "-o", str(tmp_path / "seg"), "--metadata", str(scheme_file)]) == 0
    notes = capsys.readouterr().err
    assert "label 5 ('Segment 5') has no entry" in notes and "describes label 1 ('heart'), which the label map does not hold" in notes
    (path,) = sorted((tmp_path / "seg").glob("*.dcm"))
    (volume,) = read_seg(path, reference).volumes
    np.testing.assert_array_equal(volume.array, array)
    described = {s.number: (s.label, s.color) for s in volume.segments}
    assert described[3][0] == "lung_left" and described[4][0] == "lung_right" and described[5][0] == "Segment 5"
    assert np.abs(np.subtract(described[3][1], (0, 151, 206))).max() <= 2


def test_dcmqi_metadata_with_a_repeated_label_is_refused(tmp_path):
    from dicomlabelmap.seg.metadata import load_metadata

    data = json.loads(json.dumps(DCMQI_METADATA))
    data["segmentAttributes"][0][1]["labelID"] = 1
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SchemeError, match=r"labelID 1 is described twice in segmentAttributes\[0\]"):
        load_metadata(path)


# -- the whole archive ---------------------------------------------------------------------------------
def test_batch_gives_every_patient_the_same_labels(tmp_path, scheme_file):
    root = tmp_path / "in"
    patient(root / "a", PATIENT_A, 0)
    patient(root / "b", PATIENT_B, 1)
    out = tmp_path / "out"
    summary = run_batch(root, out, BatchSettings(SegWriteOptions(), tuple(OutputFormat), scheme=load_scheme(scheme_file)), jobs=1)
    assert [r.status for r in summary.results] == ["ok", "ok"]
    by_patient = {Path(r.input).parent.name: r for r in summary.results}
    assert by_patient["a"].labels_missing == ["bladder"] and by_patient["b"].labels_missing == ["gtv", "bladder"]
    counts = summary.to_dict()["labels"]
    assert counts["heart"] == {"found": 2, "missing": 0} and counts["gtv"] == {"found": 1, "missing": 1}
    for result in summary.results:
        volumes = read_label_file(Path(result.output_dir) / "labels.seg.nrrd")
        names = {s.number: s.label for v in volumes for s in v.segments}
        assert names[1] == "heart" and names[3] == "lung_left" and names[4] == "lung_right"
        masks = {s.number: v.array == s.number for v in volumes for s in v.segments}
        np.testing.assert_array_equal(masks[3], box_mask(BOXES["lung_left"]))
    assert "labels (" in summary.table() and "heart in 2" in summary.table()
    # a re-run with the same scheme does nothing; with another scheme it converts again
    again = run_batch(root, out, BatchSettings(SegWriteOptions(), tuple(OutputFormat), scheme=load_scheme(scheme_file)), jobs=1)
    assert [r.status for r in again.results] == ["skipped (done before)"] * 2
    assert again.results[0].labels_missing == summary.results[0].labels_missing
    changed = run_batch(
        root,
        out,
        BatchSettings(SegWriteOptions(), (OutputFormat.SEG_NRRD,), scheme=load_scheme(scheme_file).with_selection(exclude=["gtv"])),
        jobs=1,
    )
    assert [r.status for r in changed.results] == ["ok", "ok"]


def test_batch_command_line_with_roi_map(tmp_path, scheme_file, capsys):
    root = tmp_path / "in"
    patient(root / "a", PATIENT_A, 0)
    code = main(["batch", str(root), str(tmp_path / "out"), "--roi-map", str(scheme_file), "--exclude", "gtv", "-j", "1", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["labels"]["gtv"] == {"found": 0, "missing": 1}
    assert summary["results"][0]["labels_found"] == ["heart", "lung_left", "lung_right"] or sorted(
        summary["results"][0]["labels_found"]
    ) == [
        "heart",
        "lung_left",
        "lung_right",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("ORGAN", "ORGAN"), (" ptv ", "PTV"), ("EXTERNAL", "EXTERNAL"), ("MY_TYPE 2", "MY_TYPE 2"), (None, "")],
)
def test_interpreted_type_becomes_a_segment_property(value, expected):
    """The optional key ``interpreted_type`` (RT ROI Interpreted Type, PS3.3 C.8.8.8.1): upper-cased,
    kept as the segment property the RT Structure Set writer reads."""
    entry = {"value": 1, "name": "Body"} | ({} if value is None else {"interpreted_type": value})
    (label,) = scheme_from_dict({"labels": [entry]}).labels
    assert label.interpreted_type == expected
    described = label.describe(Segment(1, "body", properties={"RoiNumber": "4"}))
    assert described.properties == ({"RoiNumber": "4"} | ({"RtRoiInterpretedType": expected} if expected else {}))


@pytest.mark.parametrize("value", ["organ-at-risk", "A_VERY_LONG_TYPE_NAME", 3, ""])
def test_a_wrong_interpreted_type_is_refused(value):
    with pytest.raises(SchemeError, match=r'labels\[0\] \(Body\): "interpreted_type" must be an RT ROI Interpreted Type'):
        scheme_from_dict({"labels": [{"value": 1, "name": "Body", "interpreted_type": value}]})

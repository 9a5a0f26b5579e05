"""Training data sets (issue 21): nnU-Net v2 raw and Decathlon layouts from an archive whose
patients name their ROIs differently. Each rule the frameworks document is checked here without
them (nnunetv2's ``verify_dataset_integrity`` and MONAI's ``load_decathlon_datalist`` need torch;
they were run by hand on a generated LUNG1-001 data set, see README): required keys, labels
consecutive from background 0, one label file per case, label values declared, image and label on
one grid; plus stable case ids, the manifest, required labels, the seeded split, resume,
interrupts, Dask and bad inputs."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from dicomlabelmap.batch.datasets import (
    Case,
    DatasetLayout,
    DatasetSpec,
    LabelValue,
    case_id,
    choose_cases,
    dataset_scheme,
    required_labels,
)
from dicomlabelmap.batch.jobs import InputKind, JobResult, JobStatus
from dicomlabelmap.cli.dataset import WORK_FOLDER
from dicomlabelmap.cli.main import main
from dicomlabelmap.errors import DicomLabelMapError
from dicomlabelmap.model.scheme import SchemeError, scheme_from_dict
from test_operations import CLI, interruptible, wait_for_first_result
from test_scheme import BOXES, PATIENT_A, PATIENT_B, SCHEME, box_mask, patient

nib = pytest.importorskip("nibabel", reason="nibabel is not installed (pip install dicomlabelmap[files])")

PATIENT_C = [("Lt Lung", "lung_left"), ("GTV", "gtv_b"), ("Rt-Lung", "lung_right"), ("Heart", "heart")]
DATA_SCHEME = dict(SCHEME, overlap="priority", priority=["gtv", "heart"])


@pytest.fixture
def archive(tmp_path):
    root = tmp_path / "archive"
    for index, (name, rois) in enumerate((("a", PATIENT_A), ("b", PATIENT_B), ("c", PATIENT_C))):
        patient(root / name, rois, index)
    scheme = tmp_path / "scheme.json"
    scheme.write_text(json.dumps(DATA_SCHEME))
    return root, scheme


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    image = nib.load(path)
    return np.asarray(image.dataobj).transpose(2, 1, 0), image.affine


def check_nnunet_rules(folder: Path) -> dict:
    """nnU-Net v2's documented dataset rules (what verify_dataset_integrity checks)."""
    data = json.loads((folder / "dataset.json").read_text())
    assert {"labels", "channel_names", "numTraining", "file_ending"} <= set(data)
    values = sorted(data["labels"].values())
    assert data["labels"]["background"] == 0 and values == list(range(len(values)))  # consecutive from 0
    ending = data["file_ending"]
    labels = sorted(p.name[: -len(ending)] for p in (folder / "labelsTr").iterdir() if p.name.endswith(ending))
    images = sorted(p.name for p in (folder / "imagesTr").iterdir())
    assert len(labels) == data["numTraining"] and images == [
        f"{case}_{c:04d}{ending}" for case in labels for c in range(len(data["channel_names"]))
    ]
    for case in labels:
        label, label_affine = load(folder / "labelsTr" / f"{case}{ending}")
        image, image_affine = load(folder / "imagesTr" / f"{case}_0000{ending}")
        assert set(np.unique(label)) <= set(values)  # only declared labels
        assert label.shape == image.shape and np.array_equal(label_affine, image_affine)  # one grid
        assert np.issubdtype(label.dtype, np.integer)
    return data


def check_decathlon_rules(folder: Path) -> dict:
    """What MONAI's load_decathlon_datalist reads: training items with image and label paths
    relative to dataset.json, test items as image paths."""
    data = json.loads((folder / "dataset.json").read_text())
    assert data["numTraining"] == len(data["training"]) and data["numTest"] == len(data["test"])
    assert data["labels"]["0"] == "background" and sorted(int(v) for v in data["labels"]) == list(range(len(data["labels"])))
    for item in data["training"]:
        assert set(item) == {"image", "label"}
        label, label_affine = load(folder / item["label"])
        image, image_affine = load(folder / item["image"])
        assert label.shape == image.shape and np.array_equal(label_affine, image_affine)
    assert all(isinstance(item, str) and (folder / item).is_file() for item in data["test"])
    return data


def manifest(folder: Path) -> dict[str, dict]:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as handle:
        return {row["rtstruct_file"].split("/")[-2]: row for row in csv.DictReader(handle)}


def test_an_nnunet_data_set_from_differently_named_rois(archive, tmp_path, capsys):
    root, scheme = archive
    out = tmp_path / "nnUNet_raw"
    assert main(["dataset", str(root), str(out), "--roi-map", str(scheme), "--id", "12", "--name", "Chest", "-j", "2"]) == 0
    folder = out / "Dataset012_Chest"
    data = check_nnunet_rules(folder)
    # the scheme's values 1, 3, 4, 7, 9 become 1..5, the map written beside dataset.json
    assert data["labels"] == {"background": 0, "heart": 1, "lung_left": 2, "lung_right": 3, "gtv": 4, "bladder": 5}
    assert data["channel_names"] == {"0": "CT"} and data["numTraining"] == 3 and data["file_ending"] == ".nii.gz"
    values = json.loads((folder / "label_values.json").read_text())["labels"]
    assert [(v["name"], v["scheme_value"], v["dataset_value"]) for v in values] == [
        ("heart", 1, 1), ("lung_left", 3, 2), ("lung_right", 4, 3), ("gtv", 7, 4), ("bladder", 9, 5)
    ]  # fmt: skip
    rows = manifest(folder)
    assert sorted(rows) == ["a", "b", "c"] and all(row["split"] == "train" for row in rows.values())
    for name in ("a", "b", "c"):
        label, _ = load(folder / rows[name]["label"])
        # the same label values whatever the ROIs were called; gtv (priority) wins over the lungs
        np.testing.assert_array_equal(label == 2, box_mask(BOXES["lung_left"]) & ~(label == 4) & ~(label == 1))
        np.testing.assert_array_equal(label == 3, box_mask(BOXES["lung_right"]) & ~(label == 4))
        assert rows[name]["case"] == case_id({"patient_id": f"P{'abc'.index(name)}", **_uids(rows[name])})
        assert rows[name]["patient_id"] == f"P{'abc'.index(name)}" and rows[name]["modality"] == "CT"
    assert rows["b"]["labels_missing"] == "gtv;bladder" and rows["c"]["labels_present"] == "heart;lung_left;lung_right;gtv"
    gtv_c, _ = load(folder / rows["c"]["label"])
    np.testing.assert_array_equal(gtv_c == 4, box_mask(BOXES["gtv_b"]))
    assert (out / WORK_FOLDER / "Dataset012_Chest" / "batch_summary.json").is_file()
    assert "3 training case(s), 0 held-out case(s), modality CT" in capsys.readouterr().out


def _uids(row: dict) -> dict:
    return {"series_instance_uid": row["series_instance_uid"], "rtstruct_sop_instance_uid": row["rtstruct_sop_instance_uid"]}


def test_a_decathlon_data_set_with_required_labels_and_a_held_out_split(archive, tmp_path):
    root, scheme = archive
    out = tmp_path / "msd"
    arguments = ["dataset", str(root), str(out), "--roi-map", str(scheme), "--layout", "msd", "--id", "3", "--name", "Chest"]
    assert main([*arguments, "--require", "GTV", "--test-fraction", "0.5", "--seed", "4", "-j", "2"]) == 0
    folder = out / "Task03_Chest"
    data = check_decathlon_rules(folder)
    assert data["modality"] == {"0": "CT"} and data["labels"]["4"] == "gtv"
    rows = manifest(folder)
    assert rows["b"]["split"] == "left out" and rows["b"]["reason"] == "lacks required label(s) gtv"
    assert sorted(rows[name]["split"] for name in ("a", "c")) == ["test", "train"]  # round(0.5 * 2) = 1 held out
    test_case = next(row for row in rows.values() if row["split"] == "test")
    assert data["test"] == [f"./imagesTs/{test_case['case']}.nii.gz"] and (folder / "labelsTs" / f"{test_case['case']}.nii.gz").is_file()
    # a re-run gives the same ids and the same split, and replaces the folder whole
    stamp = (folder / "dataset.json").stat().st_ino
    assert main([*arguments, "--require", "gtv", "--test-fraction", "0.5", "--seed", "4", "-j", "2"]) == 0
    assert manifest(folder) == rows and (folder / "dataset.json").stat().st_ino != stamp
    assert main([*arguments, "--require", "gtv", "--keep-incomplete", "-j", "1"]) == 0  # kept, still listed as lacking gtv
    kept = manifest(folder)
    assert kept["b"]["split"] == "train" and kept["b"]["labels_missing"] == "gtv;bladder"
    assert not (folder / "imagesTs").exists()  # the old held-out files are gone with the old folder


def test_choose_cases_rules():
    def result(name, patient="P1", series="1.2.3", rtstruct="1.2.4", modality="CT", found=("heart",), status=JobStatus.OK):
        source = {"patient_id": patient, "series_instance_uid": series, "rtstruct_sop_instance_uid": rtstruct, "modality": modality}
        return JobResult(f"/in/{name}/RS.dcm", InputKind.RTSTRUCT, status, f"/out/{name}", labels_found=list(found), source=source)

    results = [
        result("a"),
        result("b"),  # the same structure set on the same series: one case
        result("c", rtstruct="9.9"),
        result("d", patient="P 2/x", rtstruct="9.8", modality="MR"),
        result("e", rtstruct="9.7", found=()),
        result("f", status=JobStatus.FAILED),
    ]
    spec = DatasetSpec(DatasetLayout.NNUNET, 1, "X", require=("heart",))
    report = choose_cases(results, spec)
    assert [c.result.input.split("/")[2] for c in report.cases] == sorted(
        ["a", "c"], key=lambda n: case_id(results["ac".index(n) * 2].source)
    )
    reasons = {c.result.input.split("/")[2]: c.reason for c in report.left_out}
    assert reasons["b"].startswith("the same structure set on the same series as case P1_")
    assert reasons["d"] == "modality MR differs from the data set's CT" and reasons["e"] == "lacks required label(s) heart"
    assert [r.input for r in report.failed] == ["/in/f/RS.dcm"]
    assert case_id(results[3].source).startswith("P_2_x_") and case_id(results[0].source) == case_id(dict(results[0].source))
    # the held-out draw depends on the case ids and the seed only, not on the order found
    many = [result(f"p{i}", patient=f"P{i}", rtstruct=f"1.{i}") for i in range(10)]
    spec = DatasetSpec(DatasetLayout.MSD, 1, "X", test_fraction=0.3, seed=7)
    first = {c.id for c in choose_cases(many, spec).test}
    assert len(first) == 3 and first == {c.id for c in choose_cases(many[::-1], spec).test}
    assert first != {c.id for c in choose_cases(many, DatasetSpec(DatasetLayout.MSD, 1, "X", test_fraction=0.3, seed=8)).test}
    assert isinstance(report.cases[0], Case)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"unmatched": "keep"}, '"unmatched": "keep" gives each patient labels of its own'),
        ({"labels": [{"value": 1, "name": "Background"}]}, "the label name 'background' is value 0 in a data set"),
        ({"labels": []}, "a data set needs a label scheme with labels"),
    ],
)
def test_schemes_a_data_set_cannot_use_are_refused(changes, message):
    with pytest.raises(SchemeError, match=message):
        dataset_scheme(scheme_from_dict(dict(SCHEME, **changes)))


def test_the_data_set_scheme_is_consecutive_with_the_priority_kept():
    consecutive, values = dataset_scheme(scheme_from_dict(dict(SCHEME, unmatched="fail")))
    assert [(label.name, label.value) for label in consecutive.labels] == [
        ("heart", 1),
        ("lung_left", 2),
        ("lung_right", 3),
        ("gtv", 4),
        ("bladder", 5),
    ]
    assert consecutive.overlap.value == "priority" and consecutive.unmatched.value == "fail"
    ordered, _ = dataset_scheme(scheme_from_dict(DATA_SCHEME))
    assert ordered.priority_order() == [4, 1, 2, 3, 5]  # gtv, heart, then the others in value order
    assert required_labels(["GTV", "lung left"], values, "s") == ("gtv", "lung_left")
    with pytest.raises(SchemeError, match=r"--require liver: not a label of s \(labels: heart, lung_left"):
        required_labels(["liver"], [LabelValue("heart", 1, 1), LabelValue("lung_left", 3, 2)], "s")
    with pytest.raises(DicomLabelMapError, match="--id 1000: a nnunet data set id is a whole number from 1 to 999"):
        DatasetSpec(DatasetLayout.NNUNET, 1000, "X")
    with pytest.raises(DicomLabelMapError, match="--name 'a b'"):
        DatasetSpec(DatasetLayout.NNUNET, 1, "a b")


def test_bad_inputs_fail_alone_and_foreign_folders_are_kept(archive, tmp_path, capsys):
    root, scheme = archive
    data = (root / "b" / "RS.dcm").read_bytes()
    (root / "b" / "RS.dcm").write_bytes(data[: len(data) // 3])
    out = tmp_path / "raw"
    (out / "Dataset002_Other").mkdir(parents=True)
    arguments = ["dataset", str(root), str(out), "--roi-map", str(scheme), "-j", "2"]
    assert main([*arguments, "--id", "2"]) == 1
    assert "already holds Dataset002_Other with id 2; nnU-Net needs one data set per id" in capsys.readouterr().err
    (out / "Dataset001_LabelMapSeg").mkdir()
    (out / "Dataset001_LabelMapSeg" / "mine.txt").write_text("someone's")
    assert main(arguments) == 1
    assert "was not made by dicomlabelmap" in capsys.readouterr().err and (out / "Dataset001_LabelMapSeg" / "mine.txt").exists()
    shutil.rmtree(out / "Dataset001_LabelMapSeg")
    assert main(arguments) == 3  # written, but an input failed
    rows = manifest(out / "Dataset001_LabelMapSeg")
    failed = [row for row in rows.values() if row["split"] == "failed"]
    assert len(failed) == 1 and failed[0]["reason"] and check_nnunet_rules(out / "Dataset001_LabelMapSeg")["numTraining"] == 2


def test_an_interrupted_data_set_leaves_the_old_one_and_a_rerun_completes(tmp_path):
    from test_operations import _batch_input

    source = _batch_input(tmp_path, 8)
    scheme = tmp_path / "scheme.json"
    scheme.write_text(json.dumps({"labels": [{"value": v + 1, "name": f"r{v}"} for v in range(6)], "overlap": "priority"}))
    out = tmp_path / "raw"
    command = [*CLI, "dataset", str(source), str(out), "--roi-map", str(scheme), "-j", "2"]
    process = interruptible(command)
    wait_for_first_result(out / WORK_FOLDER / "Dataset001_LabelMapSeg")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the data set was finished before the signal (a very fast machine)")
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert not (out / "Dataset001_LabelMapSeg").exists() and not [p for p in out.iterdir() if p.name.startswith(".labelmapseg")]
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    data = check_nnunet_rules(out / "Dataset001_LabelMapSeg")
    assert data["numTraining"] == 8 and "skipped (done before)" in again.stdout


def test_the_data_set_on_dask_equals_the_local_one(archive, tmp_path):
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    root, scheme = archive
    for folder, run in (("local", ["-j", "2"]), ("dask", ["--scheduler", "local:2"])):
        assert main(["dataset", str(root), str(tmp_path / folder), "--roi-map", str(scheme), *run]) == 0
    local, dask = (tmp_path / name / "Dataset001_LabelMapSeg" for name in ("local", "dask"))
    assert sorted(p.name for p in (local / "labelsTr").iterdir()) == sorted(p.name for p in (dask / "labelsTr").iterdir())
    for path in (local / "labelsTr").iterdir():
        np.testing.assert_array_equal(load(path)[0], load(dask / "labelsTr" / path.name)[0])
    assert json.loads((local / "dataset.json").read_text()) == json.loads((dask / "dataset.json").read_text())

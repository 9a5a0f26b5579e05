"""``batch`` writes everything ``rtstruct`` writes (issue 21): label files of any type with their
tables, one mask per label, COCO masks, previews and the image, each equal to what ``rtstruct``
writes for the same input; a re-run asking for other outputs converts again; bad inputs and
selections fail alone with one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dicomlabelmap.batch.jobs import RESULT_FILE
from dicomlabelmap.batch.run import run_batch
from dicomlabelmap.batch.settings import BatchSettings, OutputFormat
from dicomlabelmap.batch.writers import IMAGE_STEM, LABELS_STEM, MASK_FOLDER, nothing_selected, source_of
from dicomlabelmap.cli.main import main
from dicomlabelmap.errors import DicomLabelMapError
from dicomlabelmap.files.labelfiles import read_label_file
from dicomlabelmap.model.scheme import LabelScheme, scheme_from_dict
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.seg.writer import SegWriteOptions
from test_scheme import BOXES, PATIENT_A, PATIENT_B, SCHEME, box_mask, patient

PRIORITY_SCHEME = dict(SCHEME, overlap="priority", priority=["gtv", "heart"])


@pytest.fixture
def two_patients(tmp_path):
    root = tmp_path / "in"
    a = patient(root / "a", PATIENT_A, 0)
    b = patient(root / "b", PATIENT_B, 1)
    return root, {"a": a, "b": b}


def by_patient(summary) -> dict:
    return {Path(result.input).parent.name: result for result in summary.results}


def test_every_output_of_rtstruct_for_every_input(two_patients, tmp_path):
    nib = pytest.importorskip("nibabel", reason="nibabel is not installed")
    pytest.importorskip("pycocotools", reason="pycocotools is not installed")
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    root, cases = two_patients
    settings = BatchSettings(
        SegWriteOptions(),
        (OutputFormat.LABEL_FILE, OutputFormat.COCO_RLE, OutputFormat.LABELMAP_SEG),
        scheme=scheme_from_dict(PRIORITY_SCHEME),
        label_suffix=".nii.gz",
        split_rois=True,
        preview=True,
        image_suffix=".nii.gz",
    )
    summary = run_batch(root, tmp_path / "out", settings, jobs=2)
    assert [r.status for r in summary.results] == ["ok", "ok"]
    for name, result in by_patient(summary).items():
        ct, rs = cases[name]
        folder = Path(result.output_dir)
        expected = rtstruct_to_labels(rs, ct, scheme=scheme_from_dict(PRIORITY_SCHEME))
        assert sorted(result.outputs) == sorted(
            [
                "LabelMapSEG_001.dcm", "coco.json", "image.nii.gz", "labels.nii.gz.labels.json", "labels.nii.gz.labels.txt",
                "labels.nii.gz",
                MASK_FOLDER, "preview.png",
            ]
        )  # fmt: skip
        (labels,) = read_label_file(folder / f"{LABELS_STEM}.nii.gz")
        np.testing.assert_array_equal(labels.array, expected.label_volumes[0].array)
        table = json.loads((folder / "labels.nii.gz.labels.json").read_text())["labels"]
        assert [e["value"] for e in table] == [1, 3, 4, 7, 9]  # every label of the scheme, in every patient
        masks = json.loads((folder / MASK_FOLDER / "labels.json").read_text())["labels"]
        for entry, (_, mask) in zip([m for m in masks if m["file"]], expected.label_masks(), strict=True):
            np.testing.assert_array_equal(read_label_file(folder / MASK_FOLDER / entry["file"])[0].array, mask.full())
        coco = json.loads((folder / "coco.json").read_text())
        assert {c["id"] for c in coco["categories"]} == {s.number for s, _ in expected.label_masks()}
        image, label_file = nib.load(folder / f"{IMAGE_STEM}.nii.gz"), nib.load(folder / "labels.nii.gz")
        assert np.array_equal(image.affine, label_file.affine) and image.shape == label_file.shape
        assert all(np.array_equal(nib.load(folder / MASK_FOLDER / m["file"]).affine, image.affine) for m in masks if m["file"])
        assert np.asarray(image.dataobj).dtype == np.int16
        assert (folder / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        saved = json.loads((folder / RESULT_FILE).read_text())
        assert saved["source"] == source_of(expected) and saved["source"]["patient_id"] == f"P{'ab'.index(name)}"
        assert saved["source"]["rtstruct_sop_instance_uid"] == expected.structure_set.sop_instance_uid
    # the per-label masks of patient A equal the scheme's own (whole, before priority)
    masks_a = Path(by_patient(summary)["a"].output_dir) / MASK_FOLDER
    (heart,) = read_label_file(masks_a / "heart.nii.gz")
    np.testing.assert_array_equal(heart.array.astype(bool), box_mask(BOXES["heart"]))


def test_a_rerun_asking_for_other_outputs_converts_again(two_patients, tmp_path):
    root, _ = two_patients
    out = tmp_path / "out"
    plain = BatchSettings(SegWriteOptions(), (OutputFormat.SEG_NRRD,))
    assert [r.status for r in run_batch(root, out, plain, jobs=1).results] == ["ok", "ok"]
    assert [r.status for r in run_batch(root, out, plain, jobs=1).results] == ["skipped (done before)"] * 2
    with_image = BatchSettings(SegWriteOptions(), (OutputFormat.SEG_NRRD,), image_suffix=".nrrd")
    again = run_batch(root, out, with_image, jobs=1)
    assert [r.status for r in again.results] == ["ok", "ok"]  # not skipped: the image was not written before
    assert all((Path(r.output_dir) / "image.nrrd").is_file() for r in again.results)
    assert [r.status for r in run_batch(root, out, with_image, jobs=1).results] == ["skipped (done before)"] * 2


def test_overlapping_labels_in_a_one_layer_file_fail_that_input_alone(two_patients, tmp_path):
    """Patient A's GTV-1 lies inside its left lung: a .nii.gz holds one layer, so that input fails
    with the reason (no folder), patient B (no GTV) converts; --split-layers writes both."""
    pytest.importorskip("nibabel", reason="nibabel is not installed")
    root, _ = two_patients
    scheme = scheme_from_dict(
        {
            "labels": [
                {"value": 3, "name": "lung_left", "aliases": ["Lung_L", "left lung"]},
                {"value": 7, "name": "gtv", "pattern": "(?i)^gtv"},
            ]
        }
    )
    settings = BatchSettings(SegWriteOptions(), (OutputFormat.LABEL_FILE,), scheme=scheme, label_suffix=".nii.gz")
    results = by_patient(run_batch(root, tmp_path / "out", settings, jobs=1))
    assert results["b"].status == "ok"
    assert results["a"].status == "failed" and "overlap" in results["a"].reason and "--split-layers" in results["a"].reason
    assert not Path(results["a"].output_dir).exists()
    split = BatchSettings(SegWriteOptions(), (OutputFormat.LABEL_FILE,), scheme=scheme, label_suffix=".nii.gz", split_layers=True)
    results = by_patient(run_batch(root, tmp_path / "out", split, jobs=1))
    assert results["a"].status == "ok" and "labels_layer2.nii.gz" in results["a"].outputs


def test_a_scheme_matching_nothing_gives_empty_labels_and_a_selection_matching_nothing_fails(two_patients, tmp_path):
    root, cases = two_patients
    nothing = scheme_from_dict({"labels": [{"value": 5, "name": "liver"}, {"value": 6, "name": "spleen"}]})
    settings = BatchSettings(SegWriteOptions(), (OutputFormat.SEG_NRRD,), scheme=nothing)
    summary = run_batch(root, tmp_path / "out", settings, jobs=1)
    assert [r.status for r in summary.results] == ["ok", "ok"]
    for result in summary.results:
        assert result.labels_missing == ["liver", "spleen"] and result.labels_found == []
        assert any("selects none of its" in w and "every label of the scheme is missing" in w for w in result.warnings)
        (volume,) = read_label_file(Path(result.output_dir) / "labels.seg.nrrd")
        assert not volume.array.any()
    selection = BatchSettings(SegWriteOptions(), (OutputFormat.SEG_NRRD,), scheme=LabelScheme.selection(include=["liver*"]))
    failed = by_patient(run_batch(root, tmp_path / "out2", selection, jobs=1))
    assert failed["b"].status == "failed"
    assert (
        failed["b"].reason
        == "the selection (--include/--exclude) selects none of its 4 ROI(s): 'couch top', 'LUNG RT', 'coeur', 'left lung'"
    )
    conversion = rtstruct_to_labels(cases["b"][1], cases["b"][0], scheme=LabelScheme.selection(include=["liver*"]))
    with pytest.raises(DicomLabelMapError, match="selects none"):
        nothing_selected(conversion)


def test_batch_command_line_writes_every_output_type(two_patients, tmp_path, capsys):
    pytest.importorskip("nibabel", reason="nibabel is not installed")
    root, _ = two_patients
    out = tmp_path / "out"
    arguments = ["batch", str(root), str(out), "--roi-map", str(_scheme_file(tmp_path)), "--format", "label-file", "--format", "both"]
    arguments += ["--label-suffix", ".nrrd", "--image", ".nrrd", "--split-rois", "--mask-suffix", ".nrrd", "-j", "1", "--json"]
    assert main(arguments) == 0
    summary = json.loads(capsys.readouterr().out)
    for result in summary["results"]:
        names = set(result["outputs"])
        assert {"labels.nrrd", "labels.nrrd.labels.json", "labels.seg.nrrd", "labels.seg.nrrd.labels.json", "image.nrrd", "masks"} <= names
        assert "LabelMapSEG_001.dcm" in names  # each label file keeps its own tables
    with pytest.raises(SystemExit):  # a closed set: argparse refuses (exit code 2)
        main(["batch", str(root), str(out), "--label-suffix", ".png"])


def _scheme_file(tmp_path: Path) -> Path:
    path = tmp_path / "scheme.json"
    path.write_text(json.dumps(PRIORITY_SCHEME))
    return path


def test_settings_refuse_unknown_file_types():
    with pytest.raises(DicomLabelMapError, match=r"batch image type '\.png': use one of \.nii\.gz, \.nrrd, \.nii"):
        BatchSettings(SegWriteOptions(), image_suffix=".png")
    settings = BatchSettings(SegWriteOptions(), (OutputFormat.SEG_NRRD, OutputFormat.LABEL_FILE), label_suffix=".seg.nrrd")
    assert settings.label_file_suffixes() == [".seg.nrrd"]  # the same file is written once

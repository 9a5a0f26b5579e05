"""``batch --format rtstruct``: every SEG under a folder (a Label Map SEG series of several layers
as one input, BINARY SEGs) and the label files a CSV lists beside their reference series become RT
Structure Sets, exact, with the batch's guarantees (a folder per input, complete or absent; one bad
input never stops the rest; a re-run skips finished inputs and converts again when the contour
options change)."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from dicomlabelmap import rtstruct_to_labels
from dicomlabelmap.batch.jobs import RESULT_FILE, BatchSettings, InputKind, OutputFormat
from dicomlabelmap.batch.plan import plan_label_list
from dicomlabelmap.batch.run import run_batch
from dicomlabelmap.batch.writers import RTSTRUCT_FILE
from dicomlabelmap.cli.common import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL
from dicomlabelmap.cli.main import main
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.files.labelfiles import write_label_file
from dicomlabelmap.model.labels import LabelVolume, build_label_volumes
from dicomlabelmap.model.masks import BoxMask
from dicomlabelmap.model.segment import Segment
from dicomlabelmap.rtstruct.writer import ContourWriteOptions, HoleStyle
from dicomlabelmap.seg.writer import SegWriteOptions, write_label_map_segs
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, hard_geometry, hard_masks, make_image_series, make_rtstruct, save
from test_batch import _binary_seg


@pytest.fixture
def segs(tmp_path):
    """A CT with a Label Map SEG series of several layers (overlapping masks), a BINARY SEG and an RT
    Structure Set beside it."""
    root = tmp_path / "in"
    images = make_image_series(hard_geometry())
    save(images, root / "ct")
    reference = read_reference_series(root / "ct")
    masks = hard_masks(reference.geometry.shape)
    items = [(Segment(n, name), BoxMask.from_full(mask)) for n, (name, mask) in enumerate(masks.items(), start=1)]
    volumes = build_label_volumes(reference.geometry, items)
    (root / "labelmap").mkdir()
    assert len(write_label_map_segs(volumes, reference, root / "labelmap")) == len(volumes) > 1
    binary = _binary_seg(root / "ct", volumes[0], root / "SEG_binary.dcm")
    rtstruct = make_rtstruct(images, hard_geometry(), [SyntheticRoi("Box", [SyntheticContour(2, [[3, 3], [9, 3], [9, 9], [3, 9]])])])
    rtstruct.save_as(root / "RS_in.dcm", enforce_file_format=True)
    return root, reference, volumes, masks, binary


def _settings(*formats, holes=HoleStyle.KEYHOLE):
    chosen = tuple(OutputFormat(f) for f in formats)
    inputs = (
        (InputKind.SEG, InputKind.LABEL_FILE)
        if chosen == (OutputFormat.RTSTRUCT,)
        else (InputKind.RTSTRUCT, InputKind.SEG, InputKind.LABEL_FILE)
    )
    return BatchSettings(SegWriteOptions(), chosen, inputs=inputs, contour_options=ContourWriteOptions(holes))


def _read(path, reference):
    return {raster.roi.name: raster.full_mask() for raster in rtstruct_to_labels(path, reference).rois}


def test_every_seg_becomes_an_exact_structure_set(segs, tmp_path):
    root, reference, volumes, masks, binary = segs
    summary = run_batch(root, tmp_path / "out", _settings("rtstruct"), jobs=1)
    assert [r.status.value for r in summary.results] == ["ok", "ok"] and summary.not_converted == {
        "rtstruct inputs (not converted in this run)": 1
    }
    by_input = {r.input.rsplit("/", 2)[-2] if "labelmap" in r.input else "binary": r for r in summary.results}
    series = by_input["labelmap"]
    assert series.outputs == [RTSTRUCT_FILE] and (tmp_path / "out" / series.output_dir.rsplit("/", 1)[-1] / RESULT_FILE).exists()
    found = _read(f"{series.output_dir}/{RTSTRUCT_FILE}", reference)
    assert set(found) == set(masks) and all(np.array_equal(found[name], mask) for name, mask in masks.items())
    binary_found = _read(f"{by_input['binary'].output_dir}/{RTSTRUCT_FILE}", reference)
    layer = volumes[0]
    for position, number in enumerate(binary, start=1):
        assert np.array_equal(binary_found[f"label {number}"], layer.array == number), position
    report = json.loads((tmp_path / "out" / series.output_dir.rsplit("/", 1)[-1] / RESULT_FILE).read_text())["report"]
    assert report["holes"] == "keyhole" and all(row["round_trip"] == "identical" for row in report["rois"])


def test_rtstruct_beside_labelmap_seg_and_the_options_decide_a_rerun(segs, tmp_path):
    root, reference, volumes, masks, binary = segs
    summary = run_batch(root, tmp_path / "out", _settings("labelmap-seg", "rtstruct"), jobs=1)
    kinds = sorted((r.kind.value, tuple(sorted(r.outputs))) for r in summary.results if r.status.value == "ok")
    assert kinds == [
        ("rtstruct", ("LabelMapSEG_001.dcm",)),
        ("seg", ("LabelMapSEG_001.dcm", RTSTRUCT_FILE)),  # the BINARY SEG: both
        ("seg", (RTSTRUCT_FILE,)),  # the Label Map SEG series: already one
    ]
    again = run_batch(root, tmp_path / "out", _settings("labelmap-seg", "rtstruct"), jobs=1)
    assert {r.status.value for r in again.results} == {"skipped (done before)"}
    nested = run_batch(root, tmp_path / "out", _settings("labelmap-seg", "rtstruct", holes=HoleStyle.NESTED), jobs=1)
    assert {r.status.value for r in nested.results} == {"ok"}  # other contour options: converted again


def test_a_csv_of_label_files_beside_their_reference(segs, tmp_path, capsys):
    root, reference, volumes, masks, _ = segs
    lists = tmp_path / "lists"
    (lists / "a").mkdir(parents=True)
    write_label_file(lists / "a" / "case_a.nii.gz", [volumes[0]])
    geometry = reference.geometry
    shifted = geometry.__class__(geometry.shape, geometry.origin + [0, 0.5, 0], geometry.spacing, geometry.direction)
    (lists / "b").mkdir()
    write_label_file(lists / "b" / "case_b.nii.gz", [LabelVolume(volumes[1].array, shifted, volumes[1].segments)])
    (lists / "cases.csv").write_text(f"labels,reference\na/case_a.nii.gz,{root / 'ct'}\nb/case_b.nii.gz,{root / 'ct'}\n", encoding="utf-8")
    jobs = plan_label_list(lists / "cases.csv", tmp_path / "out")
    assert [(job.kind, job.path.rsplit("/", 1)[-1]) for job in jobs] == [
        (InputKind.LABEL_FILE, "case_a.nii.gz"),
        (InputKind.LABEL_FILE, "case_b.nii.gz"),
    ]
    code = main(["batch", str(lists / "cases.csv"), str(tmp_path / "out"), "--format", "rtstruct", "-j", "1", "--shape", "voxel-edge"])
    assert code == EXIT_PARTIAL
    table = capsys.readouterr().out
    assert "label-file" in table and "grid differs from the reference series' grid" in table
    (done,) = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("case_a")]
    found = _read(done / RTSTRUCT_FILE, reference)
    assert all(np.array_equal(found[s.label], volumes[0].array == s.number) for s in volumes[0].segments)  # names from case_a.labels.json
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith("case_b") or p.name.endswith(".partial")]
    dataset = pydicom.dcmread(done / RTSTRUCT_FILE)
    assert (
        dataset.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0].SeriesInstanceUID
        == reference.series_instance_uid
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("labels\nx.nii.gz\n", "needs a header row with the columns labels,reference"),
        ("labels,reference\nx.nii.gz,\n", "row 2: both labels and reference"),
    ],
)
def test_bad_lists_and_lists_without_rtstruct_are_refused(tmp_path, capsys, text, message):
    (tmp_path / "cases.csv").write_text(text)
    assert main(["batch", str(tmp_path / "cases.csv"), str(tmp_path / "out"), "--format", "rtstruct"]) == EXIT_ERROR
    assert message in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "cases.csv"), str(tmp_path / "out")]) == EXIT_ERROR
    assert "a list of label files is written as RT Structure Sets; add --format rtstruct" in capsys.readouterr().err


def test_the_cli_words_become_settings(tmp_path):
    from dicomlabelmap.cli.batch import settings
    from dicomlabelmap.cli.main import build_parser

    arguments = build_parser().parse_args(["batch", "in", "out", "--format", "rtstruct", "--holes", "xor"])
    chosen = settings(arguments)
    assert chosen.formats == (OutputFormat.RTSTRUCT,) and chosen.inputs == (InputKind.SEG, InputKind.LABEL_FILE)
    assert chosen.contour_options.holes is HoleStyle.XOR and chosen.outputs_key()["rtstruct"] == ["xor", "midpoint"]
    assert not chosen.writes_label_map_seg_for_segs
    default = settings(build_parser().parse_args(["batch", "in", "out"]))
    assert default.writes_label_map_seg_for_segs and "rtstruct" not in default.outputs_key() and EXIT_OK == 0

"""Training data sets from a batch: nnU-Net v2 raw data sets and Medical Segmentation Decathlon
folders (what MONAI's ``load_decathlon_datalist`` reads), built from the per-input folders of a
batch run (``dicomlabelmap dataset``).

Rules (README, "Data sets for nnU-Net and MONAI"):

* **Labels.** The scheme's labels, in ascending value, become 1, 2, 3, ... (nnU-Net requires
  consecutive values); the map from scheme values to data-set values is written beside
  ``dataset.json`` (``label_values.json``). Elsewhere values stay the scheme's. Overlapping
  labels are resolved by the scheme's priority (one label per voxel): ``overlap`` is taken as
  ``priority`` whatever the scheme says. ``unmatched: keep`` is refused (each patient would
  bring labels of its own).
* **Cases.** One case per converted RT Structure Set, its id ``<patient>_<hash>`` from the
  Patient ID (letters, digits and ``-`` kept, anything else ``_``) and a hash of the image
  series' and the structure set's UIDs: the same on every re-run and every machine. The same
  structure set on the same series found twice is one case (the other is listed, left out).
  Cases whose modality differs from the most common one are left out (one channel name per
  data set).
* **Required labels** (``--require NAME``): cases without voxels of a required label are listed
  in the manifest and left out, unless ``keep_incomplete``.
* **Held-out cases** (``--test-fraction F``): ``round(F * cases)`` case ids drawn with
  ``random.Random(seed)`` from the sorted ids go to ``imagesTs``/``labelsTs``: the same split on
  every re-run with the same cases.
* **Files.** nnU-Net: ``imagesTr/<case>_0000.nii.gz``, ``labelsTr/<case>.nii.gz``,
  ``dataset.json`` (``channel_names``, ``labels`` with ``background`` 0, ``numTraining``,
  ``file_ending``). Decathlon: ``imagesTr/<case>.nii.gz``, ``labelsTr/<case>.nii.gz``,
  ``dataset.json`` (``modality``, ``labels``, ``training: [{image, label}]``, ``test``). Both:
  ``manifest.csv``/``manifest.json`` (each case's DICOM source, split, labels, or why it was
  left out) and ``label_values.json``. Image and label files are hard links to the batch's
  verified files (copies across file systems). The folder is built beside its target and swapped
  in whole: a re-run or an interrupt leaves the old data set or the new one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import DicomLabelMapError, OutputError
from ..model.scheme import LabelScheme, Overlap, SchemeError, Unmatched, normalized
from ..outputs import STAGING_PREFIX, new_file_mode, os_errors_named, replace_folder
from .jobs import JobResult, JobStatus
from .settings import BatchSettings, InputKind, OutputFormat
from .writers import IMAGE_STEM, LABELS_STEM

FILE_ENDING = ".nii.gz"
MANIFEST, LABEL_VALUES, DATASET_JSON = "manifest", "label_values.json", "dataset.json"
_MANIFEST_COLUMNS = (
    "case", "split", "reason", "patient_id", "study_instance_uid", "series_instance_uid", "frame_of_reference_uid", "modality",
    "rtstruct_sop_instance_uid", "rtstruct_series_instance_uid", "structure_set_label", "rtstruct_file", "image", "label",
    "labels_present", "labels_missing",
)  # fmt: skip


class DatasetLayout(str, Enum):
    """The folder layout of a data set."""

    NNUNET = "nnunet"
    MSD = "msd"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class DatasetSpec:
    """What data set to build (typed once from the command line)."""

    layout: DatasetLayout
    dataset_id: int
    name: str
    require: tuple[str, ...] = ()
    keep_incomplete: bool = False
    test_fraction: float = 0.0
    seed: int = 0
    description: str = ""

    def __post_init__(self) -> None:
        limit = 999 if self.layout is DatasetLayout.NNUNET else 99
        if not 1 <= self.dataset_id <= limit:
            raise DicomLabelMapError(f"--id {self.dataset_id}: a {self.layout.value} data set id is a whole number from 1 to {limit}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", self.name):
            raise DicomLabelMapError(f"--name {self.name!r}: use letters, digits, - and _ (it becomes the folder name)")
        if not 0.0 <= self.test_fraction < 1.0:
            raise DicomLabelMapError(f"--test-fraction {self.test_fraction}: give a fraction from 0 up to (not including) 1")

    @property
    def folder_name(self) -> str:
        """``Dataset001_Name`` (nnU-Net) or ``Task01_Name`` (Decathlon)."""
        if self.layout is DatasetLayout.NNUNET:
            return f"Dataset{self.dataset_id:03d}_{self.name}"
        return f"Task{self.dataset_id:02d}_{self.name}"


@dataclass
class LabelValue:
    """One label of the data set: its name, its value in the scheme and in the data set."""

    name: str
    scheme_value: int
    dataset_value: int


def dataset_scheme(scheme: LabelScheme) -> tuple[LabelScheme, list[LabelValue]]:
    """The scheme a data set is converted with: the same labels numbered 1, 2, ... in ascending
    scheme value, ``overlap: priority`` (the scheme's priority order kept), and the value map.

    Raises
    ------
    SchemeError
        A scheme without labels, with ``unmatched: keep``, or with a label named ``background``.
    """
    if not scheme.labels:
        raise SchemeError(f"{scheme.source}: a data set needs a label scheme with labels (--roi-map)")
    if scheme.unmatched is Unmatched.KEEP:
        raise SchemeError(
            f'{scheme.source}: "unmatched": "keep" gives each patient labels of its own; a data set needs the same labels in every '
            'case: use "drop" or "fail"'
        )
    for label in scheme.labels:
        if normalized(label.name) == "background":
            raise SchemeError(f"{scheme.source}: the label name 'background' is value 0 in a data set; rename label {label.value}")
    ordered = sorted(scheme.labels, key=lambda label: label.value)
    values = [LabelValue(label.name, label.value, index) for index, label in enumerate(ordered, start=1)]
    new_value = {value.scheme_value: value.dataset_value for value in values}
    consecutive = replace(
        scheme,
        labels=[replace(label, value=new_value[label.value]) for label in ordered],
        overlap=Overlap.PRIORITY,
        priority=[new_value[value] for value in scheme.priority_order()],
    )
    return consecutive, values


def dataset_settings(base: BatchSettings, scheme: LabelScheme) -> BatchSettings:
    """The batch settings of a data set's conversions: ``labels.nii.gz`` and ``image.nii.gz`` per
    RT Structure Set, with the data set's scheme (SEG inputs are not converted)."""
    return replace(
        base,
        formats=(OutputFormat.LABEL_FILE,),
        scheme=scheme,
        label_suffix=FILE_ENDING,
        split_layers=False,
        split_rois=False,
        preview=False,
        image_suffix=FILE_ENDING,
        inputs=(InputKind.RTSTRUCT,),
    )


def case_id(source: dict[str, str]) -> str:
    """A case id stable across re-runs: the sanitised Patient ID and a hash of the image series'
    and the structure set's UIDs."""
    patient = re.sub(r"[^A-Za-z0-9-]+", "_", source.get("patient_id", "")).strip("_")[:40] or "patient"
    key = f"{source.get('series_instance_uid', '')}|{source.get('rtstruct_sop_instance_uid', '')}"
    return f"{patient}_{hashlib.sha1(key.encode()).hexdigest()[:8]}"


@dataclass
class Case:
    """One converted RT Structure Set in the data set, or left out of it (``reason``)."""

    id: str
    result: JobResult
    split: str = "train"
    reason: str = ""

    def row(self, image: str = "", label: str = "") -> dict[str, Any]:
        return {
            "case": self.id,
            "split": self.split,
            "reason": self.reason,
            **{key: self.result.source.get(key, "") for key in _MANIFEST_COLUMNS[3:11]},
            "rtstruct_file": self.result.input,
            "image": image,
            "label": label,
            "labels_present": self.result.labels_found,
            "labels_missing": self.result.labels_missing,
        }


@dataclass
class DatasetReport:
    """What went into the data set and what was left out, and why."""

    folder: Path
    cases: list[Case] = field(default_factory=list)
    left_out: list[Case] = field(default_factory=list)
    failed: list[JobResult] = field(default_factory=list)
    modality: str = ""

    @property
    def training(self) -> list[Case]:
        return [case for case in self.cases if case.split == "train"]

    @property
    def test(self) -> list[Case]:
        return [case for case in self.cases if case.split == "test"]

    def table(self) -> str:
        lines = [
            f"Data set {self.folder}: {len(self.training)} training case(s), {len(self.test)} held-out case(s), modality {self.modality}"
        ]
        lines += [f"  left out: {case.id} ({case.result.input}): {case.reason}" for case in self.left_out]
        lines += [f"  failed: {result.input}: {result.reason}" for result in self.failed]
        return "\n".join(lines)


def choose_cases(results: list[JobResult], spec: DatasetSpec) -> DatasetReport:
    """Cases from batch results: ids, duplicates, modality, required labels, the test split."""
    report = DatasetReport(Path())
    seen: dict[str, Case] = {}
    for result in sorted(results, key=lambda r: r.input):
        if not result.status.done:
            report.failed.append(result)
            continue
        case = Case(case_id(result.source), result)
        if case.id in seen:
            case.reason = f"the same structure set on the same series as case {case.id} ({seen[case.id].result.input})"
            report.left_out.append(case)
            continue
        seen[case.id] = case
    modalities = Counter(case.result.source.get("modality", "") for case in seen.values())
    report.modality = modalities.most_common(1)[0][0] if modalities else ""
    for case in seen.values():
        missing = [name for name in spec.require if name not in case.result.labels_found]
        if case.result.source.get("modality", "") != report.modality:
            case.reason = f"modality {case.result.source.get('modality') or 'unknown'} differs from the data set's {report.modality}"
        elif missing and not spec.keep_incomplete:
            case.reason = f"lacks required label(s) {', '.join(missing)}"
        (report.left_out if case.reason else report.cases).append(case)
    count = round(spec.test_fraction * len(report.cases))
    held_out = set(random.Random(spec.seed).sample(sorted(case.id for case in report.cases), count)) if count else set()
    for case in report.cases:
        case.split = "test" if case.id in held_out else "train"
    for case in report.left_out:
        case.split = "left out"
    report.cases.sort(key=lambda case: case.id)
    return report


def write_dataset(
    results: list[JobResult], spec: DatasetSpec, values: list[LabelValue], out_dir: Path, scheme_source: str, overwrite: bool = False
) -> DatasetReport:
    """Build the data set folder ``out_dir/<folder_name>`` from the batch ``results`` (see the
    module's rules); it replaces an earlier data set folder whole.

    Raises
    ------
    DicomLabelMapError
        No case for the data set; a folder of that name that this tool did not make (without
        ``overwrite``); another nnU-Net data set with the same id.
    """
    report = choose_cases(results, spec)
    report.folder = target = out_dir / spec.folder_name
    if not report.cases:
        reasons = "; ".join(f"{c.result.input}: {c.reason}" for c in report.left_out) or "no RT Structure Set was converted"
        raise DicomLabelMapError(f"no case for the data set {target.name} ({reasons})")
    _check_target(target, spec, overwrite)
    with os_errors_named(out_dir):
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{target.name}-", dir=out_dir))
        mode = new_file_mode()
        os.chmod(staging, mode | (mode & 0o444) >> 2)  # a folder: x where r (0755 under umask 022)
    try:
        rows = _link_cases(report, spec, staging)
        rows += [case.row() for case in report.left_out]
        rows += [dict(dict.fromkeys(_MANIFEST_COLUMNS, ""), split="failed", reason=r.reason, rtstruct_file=r.input) for r in report.failed]
        _write_json(staging / DATASET_JSON, _dataset_json(report, spec, values))
        _write_json(staging / LABEL_VALUES, {"scheme": scheme_source, "labels": [vars(value) for value in values]})
        _write_manifest(staging, rows)
        replace_folder(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _check_target(target: Path, spec: DatasetSpec, overwrite: bool) -> None:
    if target.exists() and not (target / f"{MANIFEST}.json").is_file() and not overwrite:
        raise OutputError(f"{target} exists and was not made by dicomlabelmap; choose another --id/--name or use --overwrite")
    if spec.layout is DatasetLayout.NNUNET and target.parent.is_dir():
        prefix = f"Dataset{spec.dataset_id:03d}_"
        others = sorted(p.name for p in target.parent.iterdir() if p.is_dir() and p.name.startswith(prefix) and p != target)
        if others:
            raise OutputError(f"{target.parent} already holds {others[0]} with id {spec.dataset_id}; nnU-Net needs one data set per id")


def _link_cases(report: DatasetReport, spec: DatasetSpec, staging: Path) -> list[dict[str, Any]]:
    rows = []
    for case in report.cases:
        suffix = "Tr" if case.split == "train" else "Ts"
        channel = "_0000" if spec.layout is DatasetLayout.NNUNET else ""
        image = f"images{suffix}/{case.id}{channel}{FILE_ENDING}"
        label = f"labels{suffix}/{case.id}{FILE_ENDING}"
        folder = Path(case.result.output_dir)
        for source, name in ((folder / f"{IMAGE_STEM}{FILE_ENDING}", image), (folder / f"{LABELS_STEM}{FILE_ENDING}", label)):
            destination = staging / name
            destination.parent.mkdir(exist_ok=True)
            try:
                os.link(source, destination)
            except OSError:  # another file system, or links not allowed: a copy
                shutil.copy2(source, destination)
        rows.append(case.row(image, label))
    return rows


def _dataset_json(report: DatasetReport, spec: DatasetSpec, values: list[LabelValue]) -> dict[str, Any]:
    description = spec.description or f"RT Structure Sets converted by dicomlabelmap ({len(report.cases)} case(s))"
    if spec.layout is DatasetLayout.NNUNET:
        return {
            "name": spec.folder_name,
            "description": description,
            "channel_names": {"0": report.modality},
            "labels": {"background": 0, **{value.name: value.dataset_value for value in values}},
            "numTraining": len(report.training),
            "file_ending": FILE_ENDING,
            "numTest": len(report.test),
        }
    return {
        "name": spec.folder_name,
        "description": description,
        "tensorImageSize": "3D",
        "modality": {"0": report.modality},
        "labels": {"0": "background", **{str(value.dataset_value): value.name for value in values}},
        "numTraining": len(report.training),
        "numTest": len(report.test),
        "training": [
            {"image": f"./imagesTr/{case.id}{FILE_ENDING}", "label": f"./labelsTr/{case.id}{FILE_ENDING}"} for case in report.training
        ],
        "test": [f"./imagesTs/{case.id}{FILE_ENDING}" for case in report.test],
    }


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_manifest(folder: Path, rows: list[dict[str, Any]]) -> None:
    _write_json(folder / f"{MANIFEST}.json", {"cases": rows})
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(_MANIFEST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: ";".join(value) if isinstance(value, list) else value for key, value in row.items()})
    (folder / f"{MANIFEST}.csv").write_text(text.getvalue(), encoding="utf-8")


def required_labels(names: list[str], values: list[LabelValue], source: str) -> tuple[str, ...]:
    """``--require`` names as the scheme's label names (compared as scheme names are)."""
    by_key = {normalized(value.name): value.name for value in values}
    unknown = [name for name in names if normalized(name) not in by_key]
    if unknown:
        raise SchemeError(f"--require {unknown[0]}: not a label of {source} (labels: {', '.join(v.name for v in values)})")
    return tuple(dict.fromkeys(by_key[normalized(name)] for name in names))


def results_of(summary_results: list[JobResult]) -> list[JobResult]:
    """The RT Structure Set results a data set is built from (SEG inputs are not)."""
    return [result for result in summary_results if result.kind is InputKind.RTSTRUCT and result.status is not JobStatus.NOT_RUN]

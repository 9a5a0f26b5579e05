"""Planning a batch: every file under the input folder is classified from its header (RT
Structure Set, BINARY/FRACTIONAL SEG, reference image, or skipped with the reason), and each
input is matched to the files of its reference series.

Header records are small plain data, so that planning can run on Dask workers too
(:mod:`.cluster`) and only the records travel back.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pydicom

from ..dicom.read import read_header
from ..dicom.slices import non_image_reason, walk_files
from ..dicom.uids import LABEL_MAP_SEGMENTATION_STORAGE, RT_STRUCTURE_SET_STORAGE, SEGMENTATION_STORAGE
from ..errors import DATA_ERRORS, DicomLabelMapError, InvalidDicomError, NotDicomError, ResourceLimitError, TruncatedFileError
from .jobs import InputKind, Job

logger = logging.getLogger(__name__)

_NAME_LIMIT = 64


def safe_name(text: str, fallback: str = "unnamed") -> str:
    """A file or folder name from free text (Series Description, ROI name): letters, digits,
    ``-``, ``_`` and ``.`` only, no leading dot (so never ``..``), at most 64 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    cleaned = re.sub(r"_+", "_", cleaned)[:_NAME_LIMIT].rstrip("._-")
    return cleaned or fallback


def plan(
    input_dir: Path, output_dir: Path, skipped_files: list[tuple[str, str]] | None = None, label_maps: bool = False
) -> tuple[list[Job], dict[str, int]]:
    """Find the inputs and their reference series (headers only; deflated files are measured
    before they are inflated). Files left aside go into ``skipped_files`` with their reason."""
    records = scan_tree(str(input_dir), str(output_dir))
    jobs, other = jobs_from_records(records, output_dir, skipped_files, label_maps)
    logger.info("looked at %d file(s) under %s: %d input(s) to convert", len(records), input_dir, len(jobs))
    return jobs, other


def plan_label_list(csv_file: Path, output_dir: Path) -> list[Job]:
    """Jobs for the label files a CSV lists beside their reference series: a header row with the
    columns ``labels`` and ``reference`` (a folder or file of the image series), one label file
    per row; relative paths are relative to the CSV's folder.

    Raises
    ------
    DicomLabelMapError
        When the CSV cannot be read or lacks a column (the message names the file and the row).
    """
    import csv

    try:
        with open(csv_file, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeError, csv.Error) as error:
        raise DicomLabelMapError(f"{csv_file}: cannot read the list of label files ({error})") from None
    if not rows or not {"labels", "reference"} <= set(rows[0]):
        raise DicomLabelMapError(
            f"{csv_file}: a list of label files needs a header row with the columns labels,reference and a row per file"
        )
    jobs = []
    for number, row in enumerate(rows, start=2):
        if not (row.get("labels") or "").strip() or not (row.get("reference") or "").strip():
            raise DicomLabelMapError(f"{csv_file}, row {number}: both labels and reference must be given")
        labels = (csv_file.parent / row["labels"].strip()).resolve()
        reference = (csv_file.parent / row["reference"].strip()).resolve()
        digest = hashlib.sha1(str(labels).encode()).hexdigest()[:8]
        stem = labels.name.split(".")[0]
        jobs.append(Job(InputKind.LABEL_FILE, str(labels), [str(reference)], str(output_dir / f"{safe_name(stem, 'labels')}_{digest}")))
    return jobs


def scan_tree(folder: str, exclude: str = "") -> list[dict[str, Any]]:
    """The header record (:func:`header_record`) of every file under ``folder`` except those
    under ``exclude`` (the output folder): small plain data, cheap to send between processes."""
    excluded = Path(exclude) if exclude else None
    return [header_record(path) for path in walk_files(Path(folder)) if excluded is None or excluded not in path.parents]


def scan_files(paths: list[str]) -> list[dict[str, Any]]:
    """The header records of the given files."""
    return [header_record(Path(path)) for path in paths]


def header_record(path: Path) -> dict[str, Any]:
    """What planning needs from one file: its role (``rtstruct``, ``seg``, ``image``, or
    ``skipped`` with the reason and its counting group) and a few header values."""
    record: dict[str, Any] = {"path": str(path)}
    problem = None
    try:
        dataset = read_header(path)
    except TruncatedFileError as error:
        # A structure set or SEG cut short is still an input (its job fails with this reason); an
        # image is still part of its series, whose reader refuses it or keeps its slice empty.
        if error.header is None:
            return record | {"role": "skipped", "group": "truncated", "reason": error.reason}
        dataset, problem = error.header, error.reason
    except NotDicomError as error:
        return record | {"role": "skipped", "group": "not DICOM", "reason": error.reason}
    except ResourceLimitError as error:
        return record | {"role": "skipped", "group": "exceeds resource limits", "reason": f"exceeds resource limits ({error.reason})"}
    except InvalidDicomError as error:
        return record | {"role": "skipped", "group": "unreadable", "reason": error.reason}
    try:
        return record | _classify(dataset, problem)
    except DATA_ERRORS as error:
        return record | {"role": "skipped", "group": "unreadable", "reason": f"unreadable header ({error})"}


def _classify(dataset: pydicom.Dataset, problem: str | None) -> dict[str, Any]:
    sop_class = str(dataset.get("SOPClassUID", ""))
    found = {"series": str(dataset.get("SeriesInstanceUID", "")), "study": str(dataset.get("StudyInstanceUID", ""))}
    if sop_class == RT_STRUCTURE_SET_STORAGE:
        role = InputKind.RTSTRUCT.value
    elif sop_class == SEGMENTATION_STORAGE and str(dataset.get("SegmentationType", "")) in ("BINARY", "FRACTIONAL"):
        role = InputKind.SEG.value
    elif problem is not None and non_image_reason(dataset) is not None:
        return {"role": "skipped", "group": "truncated", "reason": problem}
    elif sop_class == LABEL_MAP_SEGMENTATION_STORAGE:
        # An input only when RT Structure Sets are asked (jobs_from_records' label_maps)
        return (
            found | _input_values(dataset, "seg") | {"role": "skipped", "group": "already Label Map SEG", "reason": "already Label Map SEG"}
        )
    elif "ImagePositionPatient" in dataset or "PerFrameFunctionalGroupsSequence" in dataset or "Rows" in dataset:
        return found | {"role": "image"}
    else:
        reason = f"other DICOM ({dataset.get('Modality', 'no modality')})"
        return found | {"role": "skipped", "group": reason, "reason": reason}
    return found | _input_values(dataset, role) | {"role": role}


def _input_values(dataset: pydicom.Dataset, role: str) -> dict[str, Any]:
    return {
        "referenced": _referenced_series(dataset),
        "references_nothing": role == InputKind.RTSTRUCT.value and _references_nothing(dataset),
        "description": str(dataset.get("StructureSetLabel", "") or dataset.get("SeriesDescription", "") or role),
        "date": str(dataset.get("StructureSetDate", "") or dataset.get("SeriesDate", "") or dataset.get("StudyDate", "")),
        "patient": str(dataset.get("PatientID", "")),
    }


def jobs_from_records(
    records: Iterable[dict[str, Any]], output_dir: Path, skipped_files: list[tuple[str, str]] | None = None, label_maps: bool = False
) -> tuple[list[Job], dict[str, int]]:
    """The jobs (inputs matched to their reference series) from header records, in path order.
    ``label_maps``: Label Map SEGs are inputs too (when RT Structure Sets are written from SEGs)."""
    skipped_files = skipped_files if skipped_files is not None else []
    companions: dict[str, list[str]] = {}
    if label_maps:  # a Label Map SEG series (one instance per layer) is one input, its first file standing for it
        records, companions = _label_map_inputs(list(records))
    images_by_series: dict[str, list[str]] = defaultdict(list)
    series_by_study: dict[str, set[str]] = defaultdict(set)
    inputs: list[dict[str, Any]] = []
    other: Counter[str] = Counter()
    for record in sorted(records, key=lambda r: r["path"]):
        role = record["role"]
        if role == "skipped":
            other[record["group"]] += 1
            skipped_files.append((record["path"], record["reason"]))
        elif role == "image":
            images_by_series[record["series"]].append(record["path"])
            series_by_study[record["study"]].add(record["series"])
        else:
            inputs.append(record)
    jobs = []
    for record in inputs:
        kind = InputKind(record["role"])
        referenced = record["referenced"]
        if kind is InputKind.SEG:
            reference = [f for uid in referenced for f in images_by_series.get(uid, [])]
        else:  # the series of the same study; the converter picks by Frame of Reference / references
            candidates = [uid for uid in referenced if uid in images_by_series] or sorted(series_by_study.get(record["study"], set()))
            if not candidates and record.get("references_nothing"):
                candidates = _beside(record["path"], images_by_series)
            reference = [f for uid in candidates for f in images_by_series[uid]]
        digest = hashlib.sha1(str(Path(record["path"]).resolve()).encode()).hexdigest()[:8]
        # Readable from the input (patient, label or description, date), unique by the hash of its path.
        parts = [safe_name(record["patient"], "patient"), safe_name(record["description"]), safe_name(record["date"], "")]
        name = "_".join(part for part in parts if part) + f"_{digest}"
        jobs.append(Job(kind, record["path"], reference, str(output_dir / name), companions.get(record["path"], [])))
    return jobs, dict(other)


def _label_map_inputs(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Label Map SEG records as SEG inputs, one per series: the first file (by path) is the input,
    the others its companions; the others' records are dropped."""
    by_series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record.get("group") == "already Label Map SEG" and "referenced" in record:
            by_series[record["series"] or record["path"]].append(record)
    companions: dict[str, list[str]] = {}
    first_of: dict[str, dict[str, Any]] = {}
    for members in by_series.values():
        members.sort(key=lambda r: r["path"])
        companions[members[0]["path"]] = [r["path"] for r in members[1:]]
        first_of[members[0]["path"]] = members[0]
    grouped = {r["path"] for members in by_series.values() for r in members}
    kept = [r for r in records if r["path"] not in grouped] + [dict(r, role=InputKind.SEG.value) for r in first_of.values()]
    return kept, companions


def _beside(path: str, images_by_series: dict[str, list[str]]) -> list[str]:
    """For a structure set that references nothing (and shares no study with a series): the
    series with images in its folder (or below), else the only series of the whole input. The
    converter takes a single one only when the contours lie on its grid (rtstruct.reference)."""
    folder = Path(path).parent
    near = sorted(uid for uid, files in images_by_series.items() if any(folder in Path(f).parents for f in files))
    return near or (list(images_by_series) if len(images_by_series) == 1 else [])


def _references_nothing(dataset: pydicom.Dataset) -> bool:
    """No Frame of Reference, series or image referenced anywhere in a structure set."""
    if _referenced_series(dataset):
        return False
    if any(item.get("FrameOfReferenceUID") for item in dataset.get("ReferencedFrameOfReferenceSequence", [])):
        return False
    if any(item.get("ReferencedFrameOfReferenceUID") for item in dataset.get("StructureSetROISequence", [])):
        return False
    return not any(
        contour.get("ContourImageSequence") for roi in dataset.get("ROIContourSequence", []) for contour in roi.get("ContourSequence", [])
    )


def _referenced_series(dataset: pydicom.Dataset) -> list[str]:
    uids = [str(i.SeriesInstanceUID) for i in dataset.get("ReferencedSeriesSequence", []) if "SeriesInstanceUID" in i]
    for frame in dataset.get("ReferencedFrameOfReferenceSequence", []):
        for study in frame.get("RTReferencedStudySequence", []):
            uids += [str(s.SeriesInstanceUID) for s in study.get("RTReferencedSeriesSequence", []) if "SeriesInstanceUID" in s]
    return uids

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

from ..dicom.limits import check_deflated_file
from ..dicom.slices import walk_files
from ..dicom.uids import LABEL_MAP_SEGMENTATION_STORAGE, RT_STRUCTURE_SET_STORAGE, SEGMENTATION_STORAGE
from ..errors import DicomLabelMapError
from .jobs import InputKind, Job

logger = logging.getLogger(__name__)

_NAME_LIMIT = 64


def safe_name(text: str, fallback: str = "unnamed") -> str:
    """A file or folder name from free text (Series Description, ROI name): letters, digits,
    ``-``, ``_`` and ``.`` only, no leading dot (so never ``..``), at most 64 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    cleaned = re.sub(r"_+", "_", cleaned)[:_NAME_LIMIT].rstrip("._-")
    return cleaned or fallback


def plan(input_dir: Path, output_dir: Path, skipped_files: list[tuple[str, str]] | None = None) -> tuple[list[Job], dict[str, int]]:
    """Find the inputs and their reference series (headers only; deflated files are measured
    before they are inflated). Files left aside go into ``skipped_files`` with their reason."""
    records = scan_tree(str(input_dir), str(output_dir))
    jobs, other = jobs_from_records(records, output_dir, skipped_files)
    logger.info("looked at %d file(s) under %s: %d input(s) to convert", len(records), input_dir, len(jobs))
    return jobs, other


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
    try:
        check_deflated_file(path)
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        sop_class = str(dataset.get("SOPClassUID", ""))
    except DicomLabelMapError as error:
        return record | {
            "role": "skipped",
            "group": "exceeds resource limits",
            "reason": f"exceeds resource limits ({getattr(error, 'reason', error)})",
        }
    except Exception as error:  # noqa: BLE001 - anything unreadable is "not DICOM" here
        return record | {
            "role": "skipped",
            "group": "not DICOM or unreadable header",
            "reason": f"not DICOM or unreadable header ({type(error).__name__})",
        }
    record |= {"series": str(dataset.get("SeriesInstanceUID", "")), "study": str(dataset.get("StudyInstanceUID", ""))}
    if sop_class == RT_STRUCTURE_SET_STORAGE:
        role = InputKind.RTSTRUCT.value
    elif sop_class == SEGMENTATION_STORAGE and str(dataset.get("SegmentationType", "")) in ("BINARY", "FRACTIONAL"):
        role = InputKind.SEG.value
    elif sop_class == LABEL_MAP_SEGMENTATION_STORAGE:
        return record | {"role": "skipped", "group": "already Label Map SEG", "reason": "already Label Map SEG"}
    elif "ImagePositionPatient" in dataset or "PerFrameFunctionalGroupsSequence" in dataset or "Rows" in dataset:
        return record | {"role": "image"}
    else:
        reason = f"other DICOM ({dataset.get('Modality', 'no modality')})"
        return record | {"role": "skipped", "group": reason, "reason": reason}
    return record | {
        "role": role,
        "referenced": _referenced_series(dataset),
        "description": str(dataset.get("StructureSetLabel", "") or dataset.get("SeriesDescription", "") or role),
        "date": str(dataset.get("StructureSetDate", "") or dataset.get("SeriesDate", "") or dataset.get("StudyDate", "")),
        "patient": str(dataset.get("PatientID", "")),
    }


def jobs_from_records(
    records: Iterable[dict[str, Any]], output_dir: Path, skipped_files: list[tuple[str, str]] | None = None
) -> tuple[list[Job], dict[str, int]]:
    """The jobs (inputs matched to their reference series) from header records, in path order."""
    skipped_files = skipped_files if skipped_files is not None else []
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
            reference = [f for uid in candidates for f in images_by_series[uid]]
        digest = hashlib.sha1(str(Path(record["path"]).resolve()).encode()).hexdigest()[:8]
        # Readable from the input (patient, label or description, date), unique by the hash of its path.
        parts = [safe_name(record["patient"], "patient"), safe_name(record["description"]), safe_name(record["date"], "")]
        name = "_".join(part for part in parts if part) + f"_{digest}"
        jobs.append(Job(kind, record["path"], reference, str(output_dir / name)))
    return jobs, dict(other)


def _referenced_series(dataset: pydicom.Dataset) -> list[str]:
    uids = [str(i.SeriesInstanceUID) for i in dataset.get("ReferencedSeriesSequence", []) if "SeriesInstanceUID" in i]
    for frame in dataset.get("ReferencedFrameOfReferenceSequence", []):
        for study in frame.get("RTReferencedStudySequence", []):
            uids += [str(s.SeriesInstanceUID) for s in study.get("RTReferencedSeriesSequence", []) if "SeriesInstanceUID" in s]
    return uids

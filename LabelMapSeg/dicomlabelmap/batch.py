"""Batch conversion of a folder tree: every RT Structure Set and every BINARY/FRACTIONAL SEG is
matched to its reference series and converted, in worker processes, one bad file never
stopping the others.

* Each input gets its own output folder, named from sanitised DICOM attributes plus a short
  hash of the input's path (unique, never a path separator or ``..``). A ``result.json`` is
  written there last, after every output was verified; a re-run skips inputs that have one.
* Workers are separate processes (a crash in a codec library or a huge input cannot take the
  batch down), each running one job and then replaced (bounded memory: at most ``jobs``
  conversions in memory at a time).
* The summary (``batch_summary.json`` and a readable table) lists successes, warnings and
  failures with their reasons, and files that are not DICOM or not convertible.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydicom

from .errors import DATA_ERRORS, DicomLabelMapError, GeometryError, OutputError, ReferenceSeriesError
from .outputs import atomic_output
from .series import walk_files
from .uids import LABEL_MAP_SEGMENTATION_STORAGE, SEGMENTATION_STORAGE

if TYPE_CHECKING:
    from .cluster import ClusterSpec
    from .scheme import LabelScheme

logger = logging.getLogger(__name__)

RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
#: Status of an input an interrupted batch did not finish.
NOT_RUN = "not run (interrupted)"
RESULT_FILE = "result.json"
SUMMARY_FILE = "batch_summary.json"
_NAME_LIMIT = 64


def safe_name(text: str, fallback: str = "unnamed") -> str:
    """A file or folder name from free text (Series Description, ROI name): letters, digits,
    ``-``, ``_`` and ``.`` only, no leading dot (so never ``..``), at most 64 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    cleaned = re.sub(r"_+", "_", cleaned)[:_NAME_LIMIT].rstrip("._-")
    return cleaned or fallback


@dataclass
class Job:
    """One input to convert."""

    kind: str  # "rtstruct" or "seg"
    path: str
    #: Files the reference series is searched in (RTSTRUCT), or the reference series' files (SEG).
    reference_files: list[str]
    output_dir: str
    formats: tuple[str, ...]
    transfer_syntax: str
    #: Accept reference series with missing slices (grid kept, positions empty).
    allow_missing_slices: bool = False
    #: The label scheme for RT Structure Sets (same labels for every patient).
    scheme: LabelScheme | None = None


@dataclass
class JobResult:
    input: str
    kind: str
    status: str  # "ok", "failed", "skipped (done before)"
    output_dir: str = ""
    outputs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    reason: str = ""
    #: With a label scheme: the labels this input holds, and those it lacks.
    labels_found: list[str] = field(default_factory=list)
    labels_missing: list[str] = field(default_factory=list)


@dataclass
class BatchSummary:
    results: list[JobResult]
    not_converted: dict[str, int]
    #: ``(path, reason)`` of every file that is neither an input nor a reference image.
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    scheme: LabelScheme | None = None

    def to_dict(self) -> dict[str, Any]:
        counts = Counter(r.status for r in self.results)
        return {
            "counts": dict(counts),
            "not_converted": self.not_converted,
            "skipped_files": [{"file": path, "reason": reason} for path, reason in self.skipped_files],
            "output_folders": {r.input: r.output_dir for r in self.results},
            **({"labels": self.label_counts()} if self.scheme is not None else {}),
            "results": [asdict(r) for r in self.results],
        }

    def label_counts(self) -> dict[str, dict[str, int]]:
        """Per label of the scheme: in how many converted inputs it was found / missing."""
        labels = [label.name for label in self.scheme.labels] if self.scheme is not None else []
        done = [r for r in self.results if r.status == "ok" or r.status.startswith("skipped")]
        return {
            name: {"found": sum(name in r.labels_found for r in done), "missing": sum(name in r.labels_missing for r in done)}
            for name in labels
        }

    def table(self) -> str:
        rows = [("status", "kind", "input", "outputs / reason")]
        for result in self.results:
            detail = result.reason if result.status == "failed" else f"{len(result.outputs)} file(s), {len(result.warnings)} warning(s)"
            if result.status != "failed" and self.scheme is not None and result.kind == "rtstruct":
                detail += f"; labels missing: {', '.join(result.labels_missing) or 'none'}"
            rows.append((result.status, result.kind, result.input, detail))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = ["  ".join(f"{cell:<{widths[i]}}" for i, cell in enumerate(row[:3])) + "  " + row[3] for row in rows]
        lines.insert(1, "-" * len(lines[0]))
        if self.scheme is not None:
            counts = self.label_counts()
            lines.append(f"labels ({self.scheme.source}): " + ", ".join(f"{name} in {c['found']}" for name, c in counts.items()))
        skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(self.not_converted.items()))
        if skipped:
            lines.append(f"not converted: {skipped}")
            lines += [f"  {path}: {reason}" for path, reason in self.skipped_files if not reason.startswith("reference image")]
        return "\n".join(lines)


def plan(
    input_dir: Path, output_dir: Path, formats: tuple[str, ...], transfer_syntax: str, skipped_files: list[tuple[str, str]] | None = None
) -> tuple[list[Job], dict[str, int]]:
    """Find the inputs and their reference series (headers only; deflated files are measured
    before they are inflated). Files left aside go into ``skipped_files`` with their reason."""
    records = scan_tree(str(input_dir), str(output_dir))
    return jobs_from_records(records, output_dir, formats, transfer_syntax, skipped_files)


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
    from .limits import check_deflated_file

    record: dict[str, Any] = {"path": str(path)}
    try:
        check_deflated_file(path)
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        sop_class = str(dataset.get("SOPClassUID", ""))
    except DicomLabelMapError as error:
        return record | {"role": "skipped", "group": "exceeds resource limits", "reason": f"exceeds resource limits ({getattr(error, 'reason', error)})"}
    except Exception as error:  # noqa: BLE001 - anything unreadable is "not DICOM" here
        return record | {"role": "skipped", "group": "not DICOM or unreadable header", "reason": f"not DICOM or unreadable header ({type(error).__name__})"}
    record |= {"series": str(dataset.get("SeriesInstanceUID", "")), "study": str(dataset.get("StudyInstanceUID", ""))}
    if sop_class == RT_STRUCTURE_SET_STORAGE:
        role = "rtstruct"
    elif sop_class == SEGMENTATION_STORAGE and str(dataset.get("SegmentationType", "")) in ("BINARY", "FRACTIONAL"):
        role = "seg"
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
    records: Iterable[dict[str, Any]],
    output_dir: Path,
    formats: tuple[str, ...],
    transfer_syntax: str,
    skipped_files: list[tuple[str, str]] | None = None,
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
        referenced = record["referenced"]
        if record["role"] == "seg":
            reference = [f for uid in referenced for f in images_by_series.get(uid, [])]
        else:  # the series of the same study; the converter picks by Frame of Reference / references
            candidates = [uid for uid in referenced if uid in images_by_series] or sorted(series_by_study.get(record["study"], set()))
            reference = [f for uid in candidates for f in images_by_series[uid]]
        digest = hashlib.sha1(str(Path(record["path"]).resolve()).encode()).hexdigest()[:8]
        # Readable from the input (patient, label or description, date), unique by the hash of its path.
        parts = [safe_name(record["patient"], "patient"), safe_name(record["description"]), safe_name(record["date"], "")]
        name = "_".join(part for part in parts if part) + f"_{digest}"
        jobs.append(Job(record["role"], record["path"], reference, str(output_dir / name), formats, transfer_syntax))
    return jobs, dict(other)


def _referenced_series(dataset: pydicom.Dataset) -> list[str]:
    uids = [str(i.SeriesInstanceUID) for i in dataset.get("ReferencedSeriesSequence", []) if "SeriesInstanceUID" in i]
    for frame in dataset.get("ReferencedFrameOfReferenceSequence", []):
        for study in frame.get("RTReferencedStudySequence", []):
            uids += [str(s.SeriesInstanceUID) for s in study.get("RTReferencedSeriesSequence", []) if "SeriesInstanceUID" in s]
    return uids


def run_job(job: Job) -> JobResult:
    """Convert one input (in a worker process); never raises."""
    result = JobResult(job.path, job.kind, "failed", job.output_dir)
    try:
        _convert(job, result)
        result.status = "ok"
    except DicomLabelMapError as error:
        result.reason = str(error)
    except DATA_ERRORS + (MemoryError,) as error:
        result.reason = f"{type(error).__name__}: {error}"
    return result


def _staging(folder: Path) -> Path:
    """Where a job's outputs are written before the folder is renamed into place."""
    return folder.with_name(folder.name + ".partial")


def _convert(job: Job, result: JobResult) -> None:
    from .codecs import TransferSyntax
    from .seg_writer import SegWriteOptions, write_label_map_segs

    folder = Path(job.output_dir)
    staging = _staging(folder)
    _remove_tree(staging)
    staging.mkdir(parents=True)
    options = SegWriteOptions(transfer_syntax=TransferSyntax(job.transfer_syntax))
    try:
        if job.kind == "rtstruct":
            from .conversion import rtstruct_to_labels

            if not job.reference_files:
                raise DicomLabelMapError("no image series found for it in the input folder")
            conversion = rtstruct_to_labels(job.path, job.reference_files, allow_missing_slices=job.allow_missing_slices, scheme=job.scheme)
            if not conversion.rois and conversion.assignments:
                raise DicomLabelMapError(f"the label scheme selects none of its {len(conversion.assignments)} ROIs")
            result.warnings = [str(f) for f in conversion.findings]
            result.labels_found, result.labels_missing = conversion.labels_found, conversion.labels_missing
            if "seg.nrrd" in job.formats:
                from .labelfiles import write_label_file

                write_label_file(staging / "labels.seg.nrrd", conversion.label_volumes)
            if "labelmap-seg" in job.formats:
                write_label_map_segs(conversion.label_volumes, conversion.reference, staging, options)
            report = conversion.to_dict()
        else:
            from .seg_convert import convert_to_label_map_seg
            from .series import read_reference_series

            reference, note = None, "reference series not found"
            if job.reference_files:
                try:
                    reference = read_reference_series(job.reference_files, allow_missing_slices=job.allow_missing_slices)
                except (ReferenceSeriesError, GeometryError) as error:
                    note = f"reference series unusable ({error})"
            try:
                contents, _ = convert_to_label_map_seg(job.path, staging, reference, options)
            except GeometryError as error:  # the series found does not fit this SEG: use its own frames
                note = f"reference series does not fit ({error})"
                reference = None
                contents, _ = convert_to_label_map_seg(job.path, staging, None, options)
            result.warnings = [str(f) for f in contents.findings]
            if reference is None:
                result.warnings.append(f"{note}: the grid was rebuilt from the SEG's own frames")
            report = {"segmentation_type": contents.segmentation_type, "segments": len(contents.segments)}
        outputs = sorted(p.name for p in staging.iterdir())
        with atomic_output(staging / RESULT_FILE) as temporary:
            temporary.write_text(
                json.dumps(
                    {
                        "input": job.path,
                        "outputs": outputs,
                        "warnings": result.warnings,
                        "labels_found": result.labels_found,
                        "labels_missing": result.labels_missing,
                        "scheme": _scheme_key(job),
                        "report": report,
                    }
                )
            )
        _remove_tree(folder)
        os.replace(staging, folder)  # the folder appears complete, with its result.json, or not at all
        result.outputs = outputs
    finally:
        _remove_tree(staging)


def _scheme_key(job: Job) -> Any:
    """What identifies the scheme a job ran with (a changed scheme makes a re-run convert again)."""
    if job.scheme is None:
        return None
    return json.loads(json.dumps(job.scheme.to_dict() | {"labels": [asdict(label) for label in job.scheme.labels]}))


def _remove_tree(folder: Path) -> None:
    """Remove a folder and everything in it (a staging folder may hold a killed writer's own
    staging folder)."""
    if folder.is_dir():
        shutil.rmtree(folder)


def run_batch(
    input_dir: str | Path,
    output_dir: str | Path,
    formats: Iterable[str] = ("labelmap-seg",),
    transfer_syntax: str = "rle",
    jobs: int = 2,
    on_result: Callable[[JobResult, int, int], None] | None = None,
    overwrite: bool = False,
    allow_missing_slices: bool = False,
    scheme: LabelScheme | None = None,
    cluster: ClusterSpec | None = None,
    runner: Callable[[Job], JobResult] = run_job,
) -> BatchSummary:
    """Convert every RT Structure Set and BINARY/FRACTIONAL SEG under ``input_dir``.

    ``formats``: ``"labelmap-seg"`` and/or ``"seg.nrrd"`` (RT Structure Sets only).
    ``on_result(result, done, total)`` is called as each input finishes (progress bars).
    Inputs whose output folder is complete from an earlier run are skipped, unless
    ``overwrite`` (then converted again; each folder is replaced only once its new
    contents are complete). ``allow_missing_slices``: see
    :meth:`~dicomlabelmap.series.SeriesScan.select`. ``scheme``: a label scheme applied to
    every RT Structure Set (same labels for every patient; the summary counts the labels found).
    An earlier run's result is reused only when it was made with the same scheme.
    ``cluster``: plan and convert on a Dask cluster (:mod:`~dicomlabelmap.cluster`) instead of
    ``jobs`` local worker processes. ``runner`` converts one job (tests replace it).
    """
    source, target = Path(input_dir), Path(output_dir)
    if not source.is_dir():
        raise OutputError(f"{source}: no such folder")
    target.mkdir(parents=True, exist_ok=True)
    started = time.time()
    skipped_files: list[tuple[str, str]] = []
    results: list[JobResult] = []
    pending: list[Job] = []
    finished_now: list[JobResult] = []
    not_converted: dict[str, int] = {}
    planned = False
    stack = ExitStack()
    try:
        with stack:
            client = None
            if cluster is not None:
                from .cluster import cluster_client, plan_on_cluster

                client = stack.enter_context(cluster_client(cluster))
                records = plan_on_cluster(client, source, target.resolve())
                work, not_converted = jobs_from_records(records, target.resolve(), tuple(formats), transfer_syntax, skipped_files)
            else:
                work, not_converted = plan(source, target.resolve(), tuple(formats), transfer_syntax, skipped_files)
            planned = True
            for job in work:
                job.allow_missing_slices = allow_missing_slices
                job.scheme = scheme if job.kind == "rtstruct" else None
            for job in work:
                done = Path(job.output_dir) / RESULT_FILE
                earlier = json.loads(done.read_text()) if done.exists() and not overwrite else None
                if earlier is not None and earlier.get("scheme") == _scheme_key(job):
                    results.append(
                        JobResult(
                            job.path,
                            job.kind,
                            "skipped (done before)",
                            job.output_dir,
                            earlier["outputs"],
                            earlier["warnings"],
                            labels_found=earlier.get("labels_found", []),
                            labels_missing=earlier.get("labels_missing", []),
                        )
                    )
                else:
                    pending.append(job)
            total = len(work)
            if on_result is not None:
                for index, earlier_result in enumerate(results, start=1):
                    on_result(earlier_result, index, total)

            def notify(result: JobResult) -> None:
                finished_now.append(result)
                if on_result is not None:
                    on_result(result, len(results) + len(finished_now), total)

            if client is not None:
                from .cluster import run_on_cluster

                run_on_cluster(client, pending, notify, cluster, runner)  # type: ignore[arg-type]
            else:
                _run_pool(pending, jobs, notify, runner)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: the workers are stopped (the pool's killed, the local cluster shut
        # down); what finished stays, the rest is listed as not run (a re-run converts it), and
        # no staging folder is left.
        if not planned:
            raise KeyboardInterrupt("interrupted while looking for inputs; nothing was converted") from None
        done_inputs = {result.input for result in finished_now}
        for job in pending:
            if job.path not in done_inputs:
                _remove_tree(_staging(Path(job.output_dir)))
                finished_now.append(_finished_unreported(job, started) or JobResult(job.path, job.kind, NOT_RUN, job.output_dir, reason="interrupted before it finished"))
        summary = BatchSummary(sorted(results + finished_now, key=lambda r: r.input), not_converted, skipped_files, scheme)
        _write_summary(target, summary)
        kept = sum(result.status == "ok" for result in finished_now)
        raise KeyboardInterrupt(f"{kept} input(s) finished in this run are kept; the summary ({target / SUMMARY_FILE}) lists the rest as not run") from None
    summary = BatchSummary(sorted(results + finished_now, key=lambda r: r.input), not_converted, skipped_files, scheme)
    _write_summary(target, summary)
    return summary


def _finished_unreported(job: Job, started: float) -> JobResult | None:
    """The result of a job whose worker completed its folder (result.json written in this run)
    while the batch was being interrupted, before its result came back."""
    done = Path(job.output_dir) / RESULT_FILE
    try:
        if done.stat().st_mtime < started - 1:
            return None
        earlier = json.loads(done.read_text())
    except (OSError, ValueError):
        return None
    return JobResult(
        job.path,
        job.kind,
        "ok",
        job.output_dir,
        earlier.get("outputs", []),
        earlier.get("warnings", []),
        labels_found=earlier.get("labels_found", []),
        labels_missing=earlier.get("labels_missing", []),
    )


def _write_summary(target: Path, summary: BatchSummary) -> None:
    with atomic_output(target / SUMMARY_FILE, overwrite=True) as temporary:
        temporary.write_text(json.dumps(summary.to_dict(), indent=1))


def _run_pool(
    jobs: list[Job],
    workers: int,
    notify: Callable[[JobResult], None],
    runner: Callable[[Job], JobResult] = run_job,
    collected: list[JobResult] | None = None,
) -> list[JobResult]:
    """Run ``jobs`` in worker processes. When a worker dies (crash, out-of-memory kill) the pool
    breaks and cannot say which job killed it: the jobs it left unfinished are then run again
    one at a time, each in a fresh process, so that only the culprit fails. Results go into
    ``collected`` as they arrive (so that an interrupt keeps them)."""
    results: list[JobResult] = collected if collected is not None else []

    def done(result: JobResult) -> None:
        results.append(result)
        notify(result)

    for job in _pool_round(jobs, workers, runner, done):
        for lost in _pool_round([job], 1, runner, done):
            _remove_tree(_staging(Path(lost.output_dir)))
            done(JobResult(lost.path, lost.kind, "failed", lost.output_dir, reason="the worker process died while converting it (crash or out of memory)"))
    return results


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and kill the workers (their staging folders are removed by
    the caller): an interrupted batch stops within seconds."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)


def _pool_round(jobs: list[Job], workers: int, runner: Callable[[Job], JobResult], done: Callable[[JobResult], None]) -> list[Job]:
    """One pool over ``jobs``; returns the jobs left without a result because the pool broke."""
    if not jobs:
        return []
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no inherited state, same on every platform
    lost: list[Job] = []
    pool = ProcessPoolExecutor(max_workers=max(1, workers), mp_context=context, max_tasks_per_child=1)
    try:
        futures = {pool.submit(runner, job): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                result = future.result()
            except BrokenProcessPool:
                lost.append(job)
                continue
            except Exception as error:  # a bug, not bad input: still only this job fails
                logger.exception("converting %s", job.path)
                result = JobResult(job.path, job.kind, "failed", job.output_dir, reason=f"internal error {type(error).__name__}: {error}")
            done(result)
    except BaseException:
        _stop(pool)  # no waiting for workers: an interrupt stops the batch now
        raise
    pool.shutdown(wait=True)
    return sorted(lost, key=lambda job: job.path)

"""Batch conversion of a folder tree: every RT Structure Set and every BINARY/FRACTIONAL SEG is
matched to its reference series and converted, in worker processes, one bad file never
stopping the others.

* Each input gets its own output folder, named from sanitised DICOM attributes plus a short
  hash of the input's path (unique, never a path separator or ``..``). A ``result.json`` is
  written there last, after every output was verified; a re-run skips inputs that have one.
* Workers are separate processes (a crash in a codec library or a huge input cannot take the
  batch down), each running one job and then replaced (bounded memory: at most ``jobs``
  conversions in memory at a time); or tasks on a Dask cluster (:mod:`.cluster`).
* The summary (``batch_summary.json`` and a readable table) lists successes, warnings and
  failures with their reasons, and files that are not DICOM or not convertible.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DicomLabelMapError, OutputError
from ..files.report import display_text, display_width, pad
from ..outputs import atomic_output, check_output_folder, make_folders, remove_empty_folders, signals_held
from .jobs import RESULT_FILE, BatchSettings, InputKind, Job, JobResult, JobStatus, OutputFormat, remove_tree, run_job, staging_folder
from .plan import jobs_from_records, plan, plan_label_list
from .pool import Runner, run_pool

if TYPE_CHECKING:
    from ..model.scheme import LabelScheme
    from .cluster import ClusterSpec

SUMMARY_FILE = "batch_summary.json"


@dataclass
class BatchSummary:
    results: list[JobResult]
    not_converted: dict[str, int]
    #: ``(path, reason)`` of every file that is neither an input nor a reference image.
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    scheme: LabelScheme | None = None

    def to_dict(self) -> dict[str, Any]:
        counts = Counter(r.status.value for r in self.results)
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
        done = [r for r in self.results if r.status.done]
        return {
            name: {"found": sum(name in r.labels_found for r in done), "missing": sum(name in r.labels_missing for r in done)}
            for name in labels
        }

    def table(self) -> str:
        rows = [("status", "kind", "input", "outputs / reason")]
        for result in self.results:
            failed = result.status is JobStatus.FAILED
            detail = result.reason if failed else f"{len(result.outputs)} file(s), {len(result.warnings)} finding(s)"
            if result.errors:
                detail += f", {result.errors} ERROR(s): an ROI failed"
            if not failed and self.scheme is not None and result.kind is InputKind.RTSTRUCT:
                detail += f"; labels missing: {', '.join(result.labels_missing) or 'none'}"
            rows.append((result.status.value, result.kind.value, result.input, detail))
        rows = [(display_text(a), display_text(b), display_text(c), display_text(d)) for a, b, c, d in rows]
        # columns measured as a terminal shows them: an input path in Chinese takes two columns a character
        widths = [max(display_width(row[i]) for row in rows) for i in range(3)]
        lines = ["  ".join(pad(cell, widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3] for row in rows]
        lines.insert(1, "-" * display_width(lines[0]))
        if self.scheme is not None:
            counts = self.label_counts()
            lines.append(f"labels ({self.scheme.source}): " + ", ".join(f"{name} in {c['found']}" for name, c in counts.items()))
        skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(self.not_converted.items()))
        if skipped:
            lines.append(f"not converted: {skipped}")
            lines += [f"  {path}: {reason}" for path, reason in self.skipped_files if not reason.startswith("reference image")]
        return "\n".join(lines)

    @property
    def failed(self) -> bool:
        """An input failed, or an input was converted with an ERROR-level finding (an ROI failed)."""
        return any(r.status is JobStatus.FAILED or r.errors for r in self.results)


def run_batch(
    input_dir: str | Path,
    output_dir: str | Path,
    settings: BatchSettings,
    jobs: int = 2,
    on_result: Callable[[JobResult, int, int], None] | None = None,
    overwrite: bool = False,
    cluster: ClusterSpec | None = None,
    runner: Runner = run_job,
) -> BatchSummary:
    """Convert every RT Structure Set and BINARY/FRACTIONAL SEG under ``input_dir`` (and every
    Label Map SEG when RT Structure Sets are asked), or the label files a ``.csv`` lists
    (:func:`~dicomlabelmap.batch.plan.plan_label_list`, with ``--format rtstruct``).

    ``settings``: what is written (formats, Label Map SEG options) and the label scheme applied
    to every RT Structure Set (same labels for every patient; the summary counts the labels
    found). ``on_result(result, done, total)`` is called as each input finishes (progress bars).
    Inputs whose output folder is complete from an earlier run are skipped, unless ``overwrite``
    (then converted again; each folder is replaced only once its new contents are complete). An
    earlier run's result is reused only when it was made with the same scheme. ``cluster``:
    plan and convert on a Dask cluster (:mod:`.cluster`) instead of ``jobs`` local worker
    processes. ``runner`` converts one job (tests replace it).
    """
    source, target = Path(input_dir), Path(output_dir)
    listed = source.is_file() and source.suffix.lower() == ".csv"
    if listed and OutputFormat.RTSTRUCT not in settings.formats:
        raise DicomLabelMapError(f"{source}: a list of label files is written as RT Structure Sets; add --format rtstruct")
    if source.is_file() and not listed:
        raise DicomLabelMapError(
            f"{source} is a file; batch converts every input under a folder (give the folder that holds it), or the label files "
            "a .csv lists"
        )
    if not source.exists():
        raise OutputError(f"{source}: no such folder")
    check_output_folder(target)
    run = _Run(target, settings, on_result)
    created: list[Path] = []
    try:
        with ExitStack() as stack:
            client = None
            if cluster is not None:  # reached (or started) before anything is created
                from .cluster import cluster_client

                client = stack.enter_context(cluster_client(cluster))
            with signals_held():  # created and remembered in one step
                created = make_folders(target)
            _plan_and_run(run, source, target, settings, jobs, overwrite, cluster, client, runner)
    except KeyboardInterrupt:
        try:
            with signals_held():  # a second Ctrl-C waits until the cleanup and the summary are done
                run.interrupted()
        except BaseException:
            remove_empty_folders(created)
            raise
    except BaseException:
        remove_empty_folders(created)
        raise
    return run.finish()


def _plan_and_run(
    run: _Run,
    source: Path,
    target: Path,
    settings: BatchSettings,
    jobs: int,
    overwrite: bool,
    cluster: ClusterSpec | None,
    client: Any,
    runner: Runner,
) -> None:
    """Find the inputs (on the cluster's workers when there is one; the rows of a CSV list), then
    convert what is pending."""
    label_maps = OutputFormat.RTSTRUCT in settings.formats  # Label Map SEGs become inputs too
    if source.is_file():
        work, run.not_converted = plan_label_list(source, target.resolve()), {}
    elif client is not None:
        from .cluster import plan_on_cluster

        records = plan_on_cluster(client, source, target.resolve())
        work, run.not_converted = jobs_from_records(records, target.resolve(), run.skipped_files, label_maps)
    else:
        work, run.not_converted = plan(source, target.resolve(), run.skipped_files, label_maps)
    work = settings.select(work, run.not_converted)
    run.planned = True
    run.sort_out(work, overwrite)
    if client is not None:
        from .cluster import run_on_cluster

        run_on_cluster(client, run.pending, settings, run.notify, cluster, runner)  # type: ignore[arg-type]
    else:
        run_pool(run.pending, settings, jobs, run.notify, runner)


def _earlier_result(path: Path) -> dict[str, Any] | None:
    """What an earlier run left in ``result.json``; ``None`` when there is none or it cannot be
    read (that input is then converted again)."""
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return earlier if isinstance(earlier, dict) else None


class _Run:
    """The bookkeeping of one batch run: results from earlier runs and this one, in order."""

    def __init__(self, target: Path, settings: BatchSettings, on_result: Callable[[JobResult, int, int], None] | None) -> None:
        self.target, self.settings, self.on_result = target, settings, on_result
        self.started = time.time()
        self.skipped_files: list[tuple[str, str]] = []
        self.not_converted: dict[str, int] = {}
        self.earlier: list[JobResult] = []
        self.pending: list[Job] = []
        self.finished_now: list[JobResult] = []
        self.total = 0
        self.planned = False

    def sort_out(self, work: list[Job], overwrite: bool) -> None:
        """Jobs an earlier run completed with the same scheme, raster options and outputs are
        skipped; the rest are pending."""
        for job in work:
            earlier = None if overwrite else _earlier_result(Path(job.output_dir) / RESULT_FILE)
            if earlier is not None and self.settings.same_run(earlier, job.kind):
                self.earlier.append(JobResult.from_result_file(job, JobStatus.SKIPPED, earlier))
            else:
                self.pending.append(job)
        self.total = len(work)
        if self.on_result is not None:
            for index, result in enumerate(self.earlier, start=1):
                self.on_result(result, index, self.total)

    def notify(self, result: JobResult) -> None:
        self.finished_now.append(result)
        if self.on_result is not None:
            self.on_result(result, len(self.earlier) + len(self.finished_now), self.total)

    def interrupted(self) -> None:
        """Ctrl-C or SIGTERM: the workers are stopped (the pool's killed, the local cluster shut
        down); what finished stays, the rest is listed as not run (a re-run converts it), and no
        staging folder is left."""
        if not self.planned:
            raise KeyboardInterrupt("interrupted while looking for inputs; nothing was converted") from None
        done_inputs = {result.input for result in self.finished_now}
        for job in self.pending:
            if job.path not in done_inputs:
                remove_tree(staging_folder(Path(job.output_dir)))
                self.finished_now.append(
                    self._finished_unreported(job)
                    or JobResult(job.path, job.kind, JobStatus.NOT_RUN, job.output_dir, reason="interrupted before it finished")
                )
        self.finish()
        kept = sum(result.status is JobStatus.OK for result in self.finished_now)
        raise KeyboardInterrupt(
            f"{kept} input(s) finished in this run are kept; the summary ({self.target / SUMMARY_FILE}) lists the rest as not run"
        ) from None

    def _finished_unreported(self, job: Job) -> JobResult | None:
        """The result of a job whose worker completed its folder (result.json written in this run)
        while the batch was being interrupted, before its result came back."""
        done = Path(job.output_dir) / RESULT_FILE
        try:
            if done.stat().st_mtime < self.started - 1:
                return None
            earlier = json.loads(done.read_text())
        except (OSError, ValueError):
            return None
        return JobResult.from_result_file(job, JobStatus.OK, earlier)

    def finish(self) -> BatchSummary:
        summary = BatchSummary(
            sorted(self.earlier + self.finished_now, key=lambda r: r.input), self.not_converted, self.skipped_files, self.settings.scheme
        )
        with atomic_output(self.target / SUMMARY_FILE, overwrite=True) as temporary:
            temporary.write_text(json.dumps(summary.to_dict(), indent=1))
        return summary

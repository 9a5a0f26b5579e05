"""The local process pool of a batch: one fresh worker process per job (memory stays bounded and
a crash costs only its own input), its result sent back through a pipe.

Workers are forked from the batch process, which has imported the conversion modules once
(numpy, pydicom and ours: about half a second a spawned process spends before its first file);
each job still gets a process of its own, with nothing of the previous jobs in it. Elsewhere
than on Linux, or when the process runs other threads (fork would be unsafe), workers are spawned.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from ..outputs import INTERRUPTS, signals_held
from .jobs import BatchSettings, Job, JobResult, remove_tree, run_job, staging_folder

logger = logging.getLogger(__name__)

Runner = Callable[[Job, BatchSettings], JobResult]


@dataclass
class _Worker:
    job: Job
    process: Any
    results: Connection


def run_pool(
    jobs: list[Job],
    settings: BatchSettings,
    workers: int,
    notify: Callable[[JobResult], None],
    runner: Runner = run_job,
    collected: list[JobResult] | None = None,
) -> list[JobResult]:
    """Run ``jobs`` in at most ``workers`` worker processes at a time, a fresh process per job.
    Results go into ``collected`` (and to ``notify``) as they arrive, so that an interrupt keeps
    them; on an interrupt the running workers are killed before it propagates."""
    context = _context()
    results: list[JobResult] = collected if collected is not None else []
    queue = list(jobs)
    running: dict[Connection, _Worker] = {}
    try:
        while queue or running:
            while queue and len(running) < max(1, workers):
                # Started and registered in one step: an interrupt arriving meanwhile is delivered
                # once the worker is in ``running``, so that it is stopped with the others.
                with signals_held():
                    worker = _start(context, queue.pop(0), settings, runner)
                    running[worker.results] = worker
            for ready in wait(list(running)):
                result = _collect(running.pop(ready))  # type: ignore[call-overload]
                results.append(result)
                notify(result)
    except BaseException:
        _stop(list(running.values()))
        raise
    return results


#: What every job uses, imported before the first worker is forked.
PRELOAD = (
    "dicomlabelmap.batch.writers",
    "dicomlabelmap.export",
    "dicomlabelmap.rtstruct.conversion",
    "dicomlabelmap.seg.convert",
    "dicomlabelmap.dicom.scan",
)


def _context() -> Any:
    """Forked processes, with the conversion modules already imported, where that is safe: on
    Linux (macOS system libraries are not fork-safe; Windows has no fork), from a process running
    no other thread (a thread could hold a lock the child would inherit held). Spawned otherwise."""
    import importlib
    import multiprocessing
    import threading

    if not sys.platform.startswith("linux") or threading.active_count() > 1:
        return multiprocessing.get_context("spawn")
    for name in PRELOAD:
        importlib.import_module(name)
    return multiprocessing.get_context("fork")


def _start(context: Any, job: Job, settings: BatchSettings, runner: Runner) -> _Worker:
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(
        target=_work,
        args=(sending, runner, job, settings, _log_levels()),
        name=f"dicomlabelmap-batch-{Path(job.path).name}",
        daemon=True,
    )
    process.start()  # the caller holds interrupts back: the worker starts with them blocked, then ignores them
    sending.close()  # the worker holds the only sending end: its death is an end of file here
    logger.info("worker %d converts %s", process.pid, job.path)
    return _Worker(job, process, receiving)


def _collect(worker: _Worker) -> JobResult:
    """The worker's result, or a failure saying it died without one."""
    try:
        result: JobResult | None = worker.results.recv()
    except (EOFError, OSError):
        result = None
    finally:
        worker.results.close()
    worker.process.join(timeout=60)  # it exits right after sending; the bound guards against a hang
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()
    if result is not None:
        return result
    remove_tree(staging_folder(Path(worker.job.output_dir)))
    return JobResult.failed(worker.job, f"the worker process died while converting it (crash or out of memory; {_exit(worker.process)})")


def _exit(process: Any) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _stop(workers: list[_Worker]) -> None:
    """Kill the running workers and wait for them (their staging folders are removed by the
    caller): an interrupted batch stops at once."""
    for worker in workers:
        if worker.process.is_alive():
            worker.process.kill()
    for worker in workers:
        worker.process.join(timeout=60)
        worker.results.close()


def _work(results: Connection, runner: Runner, job: Job, settings: BatchSettings, log_levels: tuple[int, int]) -> None:
    """The worker process: convert one job, send its result, exit."""
    for number in INTERRUPTS:
        signal.signal(number, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, INTERRUPTS)
    _die_with()
    _log_like_the_parent(log_levels)
    try:
        result = runner(job, settings)
    except BaseException as error:  # noqa: BLE001 - a bug, not bad input: still only this job fails
        logger.debug("converting %s", job.path, exc_info=True)
        result = JobResult.failed(job, f"internal error {type(error).__name__}: {error}")
    try:
        results.send(result)
    except Exception as error:  # noqa: BLE001 - a result that cannot be sent back
        results.send(JobResult.failed(job, f"internal error: the result cannot be sent back ({type(error).__name__}: {error})"))
    results.close()


def _die_with() -> None:
    """On Linux, have the kernel kill this worker when the batch process dies (``kill -9``)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _log_levels() -> tuple[int, int]:
    """The batch process's levels: every library's (the root logger's), and ours."""
    return logging.getLogger().getEffectiveLevel(), logging.getLogger("dicomlabelmap").getEffectiveLevel()


def _log_like_the_parent(levels: tuple[int, int]) -> None:
    """The worker logs what the batch process would (``-v``, ``-vv``), to stderr, in the same format."""
    libraries, ours = levels
    logging.basicConfig(level=libraries, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("dicomlabelmap").setLevel(ours)

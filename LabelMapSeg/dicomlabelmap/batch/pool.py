"""The local process pool of a batch: one worker process per job (replaced after each job, so
memory stays bounded), a crashing worker costing only its own input."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .jobs import BatchSettings, Job, JobResult, remove_tree, run_job, staging_folder

logger = logging.getLogger(__name__)

Runner = Callable[[Job, BatchSettings], JobResult]


def run_pool(
    jobs: list[Job],
    settings: BatchSettings,
    workers: int,
    notify: Callable[[JobResult], None],
    runner: Runner = run_job,
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

    for job in _pool_round(jobs, settings, workers, runner, done):
        for lost in _pool_round([job], settings, 1, runner, done):
            remove_tree(staging_folder(Path(lost.output_dir)))
            done(JobResult.failed(lost, "the worker process died while converting it (crash or out of memory)"))
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


def _pool_round(jobs: list[Job], settings: BatchSettings, workers: int, runner: Runner, done: Callable[[JobResult], None]) -> list[Job]:
    """One pool over ``jobs``; returns the jobs left without a result because the pool broke."""
    if not jobs:
        return []
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no inherited state, same on every platform
    lost: list[Job] = []
    pool = ProcessPoolExecutor(max_workers=max(1, workers), mp_context=context, max_tasks_per_child=1)
    try:
        futures = {pool.submit(runner, job, settings): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                result = future.result()
            except BrokenProcessPool:
                lost.append(job)
                continue
            except Exception as error:  # a bug, not bad input: still only this job fails
                logger.exception("converting %s", job.path)
                result = JobResult.failed(job, f"internal error {type(error).__name__}: {error}")
            done(result)
    except BaseException:
        _stop(pool)  # no waiting for workers: an interrupt stops the batch now
        raise
    pool.shutdown(wait=True)
    return sorted(lost, key=lambda job: job.path)

"""Batch conversion on a Dask cluster (``dicomlabelmap batch --scheduler``).

The same jobs, the same worker function (:func:`~dicomlabelmap.batch.jobs.run_job`) and the same
guarantees as the local process pool: one task per input; an input's folder appears only when
complete (each job writes a staging folder and renames it); a conversion error fails its input
alone; a worker that dies (crash, or the nanny's kill past the memory limit) has its task retried
once on another worker, then the input fails with that reason. Planning scans the tree on the
workers too (one task per top-level folder), so the client never reads every header itself.
Inputs and outputs are paths every worker sees (a shared file system).

``scheduler`` is ``local`` or ``local:N`` (a ``LocalCluster`` of N single-threaded worker
processes, each limited to ``memory_per_task``) or the address of a running scheduler
(``tcp://head:8786``), whose workers should run one thread each with at least
``memory_per_task`` (checked, warned about otherwise).

Needs ``dask[distributed]`` (``pip install "dicomlabelmap[dask]"``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DicomLabelMapError, optional_import
from .jobs import BatchSettings, Job, JobResult, remove_tree, run_job, staging_folder
from .plan import header_record, scan_files, scan_tree
from .pool import Runner

logger = logging.getLogger(__name__)

DEFAULT_MEMORY_PER_TASK = "4GiB"
#: How long to try to reach a running scheduler before giving up (seconds).
CONNECT_TIMEOUT_S = 5
_DASK = ("distributed", "dask[distributed]", "batch --scheduler (Dask)")


@dataclass(frozen=True)
class ClusterSpec:
    """Where the batch runs: ``address`` of a running scheduler, or ``None`` for a local cluster
    of ``workers`` processes."""

    address: str | None
    workers: int
    memory_per_task: int

    @property
    def memory_text(self) -> str:
        return format_size(self.memory_per_task)


_BINARY_UNITS = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))
_DECIMAL_UNITS = (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3))


def format_size(count: int) -> str:
    """A size as people write it: the shortest of its exact forms (to two decimals) in the
    largest binary and decimal units (``150MiB`` -> ``150 MiB``, ``1.5GiB`` -> ``1.5 GiB``,
    ``500MB`` -> ``500 MB``, binary on a tie), else three significant digits of the largest binary
    unit it reaches."""
    exact = []
    for units in (_BINARY_UNITS, _DECIMAL_UNITS):
        for unit, factor in units:
            if count >= factor and (count * 100) % factor == 0:
                exact.append(f"{count / factor:.2f}".rstrip("0").rstrip(".") + f" {unit}")
                break
    if exact:
        return min(exact, key=len)
    for unit, factor in _BINARY_UNITS:
        if count >= factor:
            return f"{count / factor:.3g} {unit}"
    return f"{count} bytes"


def parse_memory(text: str) -> int:
    """Bytes from ``4GiB``, ``500MB``, ``2e9``...; a clear error otherwise."""
    try:
        from dask.utils import parse_bytes

        value = int(parse_bytes(text))
    except ImportError:
        optional_import(*_DASK)
        raise
    except (ValueError, TypeError):
        raise DicomLabelMapError(f"--memory-per-task {text!r}: give a size such as 4GiB or 500MB") from None
    if value < 64 * 2**20:
        raise DicomLabelMapError(f"--memory-per-task {text}: at least 64 MiB are needed for one conversion")
    return value


def parse_scheduler(text: str, memory_per_task: str = DEFAULT_MEMORY_PER_TASK) -> ClusterSpec:
    """``local``, ``local:N`` or a scheduler address."""
    memory = parse_memory(memory_per_task)
    found = re.fullmatch(r"local(?::(\d+))?", text.strip())
    if found:
        workers = int(found.group(1)) if found.group(1) else max(1, min(4, os.cpu_count() or 1))
        if workers < 1:
            raise DicomLabelMapError(f"--scheduler {text}: a local cluster needs at least one worker")
        return ClusterSpec(None, workers, memory)
    if not re.fullmatch(r"(tcp|tls|inproc|ucx|ws|wss)://\S+|[\w.-]+:\d+", text.strip()):
        raise DicomLabelMapError(f"--scheduler {text!r}: give local, local:N or a scheduler address such as tcp://head:8786")
    return ClusterSpec(text.strip(), 0, memory)


@contextmanager
def cluster_client(spec: ClusterSpec) -> Iterator[Any]:
    """A Dask client on the cluster of ``spec``; a local cluster is shut down (its workers killed)
    on leaving, also on an interrupt."""
    distributed = optional_import(*_DASK)
    import dask

    quiet = logging.getLogger().getEffectiveLevel() > logging.INFO  # Dask's own log lines only with -v
    if quiet:
        quiet_dask_logs()
    settings = {
        # a task whose worker died is retried once; a second death fails it (KilledWorker)
        "distributed.scheduler.allowed-failures": 1,
        # one task at a time per worker thread: a dying worker takes only its own input with it
        "distributed.scheduler.worker-saturation": 1.0,
        # conversions hold no Dask data: nothing to spill; the nanny kills a worker past 95 %
        "distributed.worker.memory.target": False,
        "distributed.worker.memory.spill": False,
        "distributed.worker.memory.pause": False,
        "distributed.worker.memory.terminate": 0.95,
        "distributed.admin.tick.limit": "1h",
    }
    cluster = None
    with dask.config.set(settings):
        if spec.address is None:
            cluster = distributed.LocalCluster(
                n_workers=spec.workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=spec.memory_per_task,
                dashboard_address=None,
                # its HTTP routes on a free port: 8787 may be taken (another cluster), which Dask warns about
                scheduler_kwargs={"dashboard_address": ":0"},
                silence_logs=logging.CRITICAL if quiet else logging.INFO,
            )
            client = distributed.Client(cluster)
        else:
            check_reachable(spec)
            try:
                client = distributed.Client(spec.address, timeout=f"{CONNECT_TIMEOUT_S}s")
            except OSError as error:
                raise DicomLabelMapError(f"--scheduler {spec.address}: cannot reach the scheduler ({error})") from None
            _check_workers(client, spec)
    try:
        yield client
    except BaseException:
        if cluster is not None:  # an interrupt or an error: stop the local workers now, no goodbyes
            _kill_workers(cluster)
        raise
    finally:
        try:
            client.close(timeout=10)
        finally:
            if cluster is not None:
                cluster.close(timeout=10)


#: Loggers of Dask and the libraries under it. Importing ``distributed`` gives some more a level
#: of their own (``tornado.application``: error, ``distributed.gc``: warning), which a level set
#: on their parent leaves alone: those are quieted too.
DASK_LOGGERS = (
    "distributed",
    "distributed.scheduler",
    "distributed.nanny",
    "distributed.core",
    "distributed.client",
    "distributed.http.proxy",
    "tornado",
    "tornado.application",
    "asyncio",
)


def quiet_dask_logs() -> None:
    """Only critical records from Dask's parts: shutting a local cluster down on an interrupt
    makes them log lost connections (and tracebacks); our own message says what happened."""
    roots = {name.split(".")[0] for name in DASK_LOGGERS}
    present = [name for name in logging.root.manager.loggerDict if name.split(".")[0] in roots]
    for name in (*DASK_LOGGERS, *present):
        if name in DASK_LOGGERS or logging.getLogger(name).level != logging.NOTSET:  # the others inherit from these
            logging.getLogger(name).setLevel(logging.CRITICAL)


def check_reachable(spec: ClusterSpec) -> None:
    """Fail at once, in one sentence, when nothing listens at a TCP scheduler address (Dask's
    client would keep trying for its whole timeout); a local cluster needs no check."""
    import socket
    from urllib.parse import urlsplit

    address = spec.address
    if address is None:
        return
    found = urlsplit(address if "://" in address else f"tcp://{address}")
    if found.scheme not in ("tcp", "tls") or not found.hostname or found.port is None:
        return  # other protocols: the client's own (short) timeout applies
    try:
        with socket.create_connection((found.hostname, found.port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise DicomLabelMapError(f"--scheduler {address}: cannot reach the scheduler ({reason})") from None


def _kill_workers(cluster: Any) -> None:
    """Kill a local cluster's worker processes (a conversion in progress stops; its staging
    folder is removed by the caller)."""
    import signal

    for nanny in list(getattr(cluster, "workers", {}).values()):
        pid = getattr(getattr(nanny, "process", None), "pid", None)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _check_workers(client: Any, spec: ClusterSpec) -> None:
    """Warn when the scheduler's workers give a task less memory than asked (their limits are set
    where they are started: ``dask worker --nthreads 1 --memory-limit ...``)."""
    workers = client.scheduler_info().get("workers", {})
    if not workers:
        logger.warning("the scheduler at %s has no workers yet; tasks wait until some join", spec.address)
    for address, info in workers.items():
        limit, threads = info.get("memory_limit") or 0, max(1, info.get("nthreads", 1))
        if limit and limit / threads < spec.memory_per_task:
            logger.warning(
                "worker %s gives each of its %d thread(s) %s, less than --memory-per-task %s",
                address,
                threads,
                format_size(int(limit / threads)),
                spec.memory_text,
            )


def _scan_units(input_dir: Path, output_dir: Path, wanted: int, depth: int = 3) -> tuple[list[Path], list[str]]:
    """Folders to walk on the workers and loose files, found by descending from ``input_dir``
    (at most ``depth`` levels) until there are at least ``wanted`` folders: an archive under a
    single top folder is still spread over the workers."""
    folders, files = [input_dir], []
    for _ in range(depth):
        if len(folders) >= wanted:
            break
        expanded = []
        for folder in folders:
            try:
                entries = sorted(folder.iterdir())
            except OSError as error:
                raise DicomLabelMapError(f"{folder}: cannot list the folder ({error.strerror})") from None
            for entry in entries:
                real = entry.resolve()
                if real == output_dir or output_dir in real.parents:
                    continue
                if entry.is_dir():
                    expanded.append(entry)
                elif entry.is_file():
                    files.append(str(entry))
        folders = expanded
        if not folders:
            break
    return folders, files


def plan_on_cluster(client: Any, input_dir: Path, output_dir: Path) -> list[dict[str, Any]]:
    """Header records of every file under ``input_dir``, scanned by the workers: one task per
    folder (walked there; folders are split down to a few per worker) and one per thousand
    loose files."""
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    folders, files = _scan_units(input_dir, output_dir, 4 * workers)
    units: list[tuple[Callable[..., Any], Any]] = [(scan_tree, (str(folder), str(output_dir))) for folder in folders]
    units += [(scan_files, (files[start : start + 1000],)) for start in range(0, len(files), 1000)]
    futures = [client.submit(function, *arguments, pure=False) for function, arguments in units]
    records: list[dict[str, Any]] = []
    for future, (_, arguments) in zip(futures, units, strict=True):
        try:
            records.extend(future.result())
        except Exception as error:  # a worker died scanning: those files are scanned here, not lost
            logger.warning("scanning %s on the cluster failed (%s); scanned by the client", arguments[0], error)
            paths = arguments[0] if isinstance(arguments[0], list) else [str(p) for p in _walk(Path(arguments[0]), output_dir)]
            records.extend(header_record(Path(path)) for path in paths)
    return records


def _walk(folder: Path, output_dir: Path) -> list[Path]:
    from ..dicom.slices import walk_files

    return [path for path in walk_files(folder) if output_dir not in path.parents]


def run_on_cluster(
    client: Any,
    jobs: list[Job],
    settings: BatchSettings,
    done: Callable[[JobResult], None],
    spec: ClusterSpec,
    runner: Runner = run_job,
) -> None:
    """Run one task per job; ``done(result)`` as each finishes. An interrupt cancels what is
    left (the caller then closes the cluster and removes staging folders)."""
    distributed = optional_import(*_DASK)
    futures = {
        client.submit(runner, job, settings, pure=False, key=f"dicomlabelmap-convert-{index}-{os.urandom(4).hex()}"): job
        for index, job in enumerate(jobs)
    }
    try:
        for future in distributed.as_completed(list(futures)):
            job = futures[future]
            try:
                result = future.result()
            except distributed.KilledWorker:
                remove_tree(staging_folder(Path(job.output_dir)))
                result = JobResult.failed(
                    job,
                    f"the worker died while converting it, also when retried on another worker "
                    f"(crash, or more memory than --memory-per-task {spec.memory_text})",
                )
            except Exception as error:  # a bug, not bad input: still only this job fails
                logger.exception("converting %s", job.path)
                result = JobResult.failed(job, f"internal error {type(error).__name__}: {error}")
            done(result)
    except BaseException:
        client.cancel(list(futures), force=True)
        raise

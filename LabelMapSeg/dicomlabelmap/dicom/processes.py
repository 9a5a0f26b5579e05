"""Work split between this process and one forked helper process (Linux), for the command line;
and two independent reads at once (:func:`alongside`).

Drawing ROIs and encoding JPEG-LS or JPEG 2000 frames are independent item by item and hold
the interpreter lock (or, for OpenJPEG through pylibjpeg-openjpeg, are not thread-safe): threads
do not help. The command line forks one helper that does part of the items and sends back its
results pickled, while this process does the rest. The library's default stays one process
(never a fork inside an application such as 3D Slicer).

An interrupt or an error in either process ends both: the helper is killed and reaped, and the
error is raised here as if the work had been done in one process.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

First = TypeVar("First")
Second = TypeVar("Second")


def can_fork() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def map_in_two_processes(work: Callable[[int], Any], mine: list[int], theirs: list[int]) -> dict[int, Any]:
    """``{index: work(index)}`` for every index of ``mine`` (here) and ``theirs`` (in a forked
    helper; its results come back pickled). ``work``'s results must pickle."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the helper: compute, send, leave without running any of the parent's exit code
        code = 1
        try:
            os.close(read_end)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it kills us on an interrupt
            results: dict[int, Any] = {}
            failure: BaseException | None = None
            try:
                for index in theirs:
                    results[index] = work(index)
            except Exception as error:  # noqa: BLE001 - re-raised in the parent
                failure = error
            payload = pickle.dumps((results, failure), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    received: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(read_end, received), daemon=True)
    reader.start()  # drained while this process works, so the helper never waits on a full pipe
    try:
        results = {index: work(index) for index in mine}
        reader.join()
        _, status = os.waitpid(pid, 0)
        pid = 0
        if status != 0 or not received:
            raise RuntimeError("the helper process ended without its results (killed, or out of memory?)")
        theirs_results, failure = pickle.loads(b"".join(received))
        if failure is not None:
            raise failure
        results.update(theirs_results)
        return results
    finally:
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            reader.join(timeout=5)


def _drain(descriptor: int, into: list[bytes]) -> None:
    with os.fdopen(descriptor, "rb") as pipe:
        while chunk := pipe.read(1 << 20):
            into.append(chunk)


def alongside(background: Callable[[], First], foreground: Callable[[], Second]) -> tuple[First, Second]:
    """``(background(), foreground())``, the first run by a thread while this one runs the second:
    a label file read (file reads, decompression and array copies, which release the interpreter
    lock) beside a series' headers (Python). Errors as if run one after the other: the
    background's first. An interrupt is raised at once (the thread's read ends on its own)."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dicomlabelmap-read")
    future = executor.submit(background)
    try:
        try:
            second = foreground()
        except Exception:
            failure = future.exception()  # waits for it
            if failure is not None:
                raise failure from None
            raise
        return future.result(), second
    finally:
        # Its thread joined once its work is done (no thread left behind to take a signal meant
        # for this one); on an interrupt meanwhile, not waited for.
        executor.shutdown(wait=future.done(), cancel_futures=True)

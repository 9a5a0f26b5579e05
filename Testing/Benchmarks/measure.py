"""Time and peak memory of one command, measured the same way for every tool."""

from __future__ import annotations

import subprocess
import sys
import time

_WRAPPER = (
    "import resource, subprocess, sys; "
    "result = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "sys.stderr.write(result.stderr[-2000:] if result.returncode else ''); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(result.returncode)"
)


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of ``command``, run from a small wrapper process (a
    process forked straight from this one would inherit this one's high-water mark: Linux
    keeps ru_maxrss across fork and exec)."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _WRAPPER, *command], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(f"{command[0]} failed: {result.stderr.strip()[-500:]}")
    return seconds, int(result.stdout.strip().splitlines()[-1]) / 1024


def python(code: str, *arguments: str) -> list[str]:
    """A command running ``code`` in this Python with ``arguments`` as sys.argv[1:]."""
    return [sys.executable, "-c", code, *arguments]

"""Scaling of ``dicomlabelmap batch`` with the number of workers, as users run it (whole processes).

Usage:  python Testing/Benchmarks/bench_cluster.py [--copies K] [--pairs N] [--scratch DIR] [--json FILE]

The archive is K copies of LUNG1-001 (CT 134x512x512 + RT Structure Set with 4 ROIs), each with
its own Study/Series/SOP Instance/Frame of Reference UIDs, written to a scratch folder (never into
the repository). For each setting the whole command runs in a new process into a fresh output
folder (planning, converting, writing Label Map SEG + .seg.nrrd, verifying): Dask LocalCluster with
1 and 2 workers (``--scheduler local:N``, cluster start-up included) and the local process pool
(``-j 1``, ``-j 2``). Settings alternate within each round; the table shows medians and the
speed-up of 2 workers over 1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench_cases import make_archive
from measure import measure

HERE = Path(__file__).resolve().parent
LUNG = HERE.parents[2] / "shared" / "data" / "nsclc-lung1-001"
SETTINGS = {
    "dask local:1": ["--scheduler", "local:1"],
    "dask local:2": ["--scheduler", "local:2"],
    "pool -j 1": ["-j", "1"],
    "pool -j 2": ["-j", "2"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--scratch", type=Path)
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    if not LUNG.is_dir():
        sys.exit(f"{LUNG} is absent: this benchmark needs ../shared/data")
    scratch = Path(tempfile.mkdtemp(prefix="bench-cluster-", dir=arguments.scratch))
    try:
        archive = scratch / "archive"
        make_archive(LUNG, archive, arguments.copies)
        times: dict[str, list[float]] = {name: [] for name in SETTINGS}
        peaks: dict[str, list[float]] = {name: [] for name in SETTINGS}
        for round_ in range(arguments.pairs):
            order = list(SETTINGS) if round_ % 2 == 0 else list(reversed(SETTINGS))
            for name in order:
                out = scratch / f"out-{round_}-{name.replace(' ', '_').replace(':', '')}"
                command = [sys.executable, "-m", "dicomlabelmap", "batch", str(archive), str(out), "--format", "both", *SETTINGS[name]]
                seconds, peak = measure(command)
                times[name].append(seconds)
                peaks[name].append(peak)
                shutil.rmtree(out)
                print(f"round {round_ + 1}: {name}: {seconds:.1f} s", file=sys.stderr)
        medians = {name: statistics.median(values) for name, values in times.items()}
        rows = [
            f"{arguments.copies} patients (LUNG1-001 copies), {arguments.pairs} rounds, medians of whole processes",
            f"{'setting':<14} {'seconds':>8} {'s/patient':>10}",
        ]
        rows += [f"{name:<14} {medians[name]:>8.1f} {medians[name] / arguments.copies:>10.2f}" for name in SETTINGS]
        rows.append(f"speed-up 2 vs 1 workers: Dask {medians['dask local:1'] / medians['dask local:2']:.2f}x, "
                    f"pool {medians['pool -j 1'] / medians['pool -j 2']:.2f}x")  # fmt: skip
        print("\n".join(rows))
        if arguments.json:
            arguments.json.write_text(json.dumps({"copies": arguments.copies, "times": times, "medians": medians}, indent=1))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

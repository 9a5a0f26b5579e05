"""Benchmark: RT Structure Set -> label maps, dicomlabelmap vs plastimatch, in the same run.

Usage:  python Testing/Benchmarks/bench_rtstruct.py [--repeat N]

Cases: the real LUNG1-001 CT + RTSTRUCT from ../shared/data (skipped when absent), and a
synthetic stress case written on the fly (512x512x120 grid, 40 ring ROIs of 400-point contours on
every slice, once as nested CLOSED_PLANAR and once as CLOSEDPLANAR_XOR). Prints median wall time per tool, the ratio ours/plastimatch, and
peak memory (max RSS of one run in a process of its own, for both tools). Machines
here are shared and noisy: read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from dicomlabelmap import rtstruct_to_labels
from dicomlabelmap.geometry import ImageGeometry
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, circle, make_image_series, make_rtstruct, save
from measure import measure, python

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def stress_case(folder: Path, geometric_type: str) -> tuple[Path, Path]:
    geometry = ImageGeometry((120, 512, 512), [-250.0, -250.0, 0.0], [0.98, 0.98, 2.5], np.eye(3), "1.2.826.0.1.3680043.8.498.1")
    images = make_image_series(geometry, pixels=np.zeros(geometry.shape, np.int16))
    if not (folder / "ct").exists():
        save(images, folder / "ct", "CT")
    rois = []
    for index in range(40):
        cx, cy = 80 + (index % 8) * 50, 120 + (index // 8) * 60
        contours = []
        for k in range(120):
            contours.append(SyntheticContour(k, circle(cx, cy, 22 + 3 * np.sin(k / 9), 400), geometric_type))
            contours.append(SyntheticContour(k, circle(cx, cy, 9, 400, clockwise=True), geometric_type))
        rois.append(SyntheticRoi(f"ROI {index + 1}", contours, (200, 100, 50)))
    rtstruct = make_rtstruct(images, geometry, rois)
    path = folder / f"RS_{geometric_type}.dcm"
    rtstruct.save_as(path, enforce_file_format=True)
    return folder / "ct", path


def time_ours(rtstruct: Path, ct: Path, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        rtstruct_to_labels(rtstruct, ct)
        times.append(time.perf_counter() - start)
    probe = "import sys; from dicomlabelmap import rtstruct_to_labels; rtstruct_to_labels(sys.argv[1], sys.argv[2])"
    return statistics.median(times), measure(python(probe, str(rtstruct), str(ct)))[1]


def time_plastimatch(executable: str, rtstruct: Path, ct: Path, repeat: int) -> tuple[float, float]:
    times = []
    with tempfile.TemporaryDirectory() as output:

        def command(prefix: str) -> list[str]:
            return [
                executable,
                "convert",
                "--input",
                str(rtstruct),
                "--referenced-ct",
                str(ct),
                "--output-prefix",
                f"{output}/{prefix}",
                "--prefix-format",
                "nrrd",
            ]

        for index in range(repeat):
            start = time.perf_counter()
            subprocess.run(command(str(index)), check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times), measure(command("rss"))[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    plastimatch = shutil.which("plastimatch") or str(Path(sys.executable).parent / "plastimatch")
    if not Path(plastimatch).exists():
        sys.exit("plastimatch not found: pip install plastimatch")
    with tempfile.TemporaryDirectory() as scratch:
        cases = []
        lung = SHARED / "nsclc-lung1-001"
        if lung.exists():
            cases.append(("LUNG1-001 (134x512x512, 4 ROIs, 358 contours)", lung / "rtstruct" / "RS.dcm", lung / "ct"))
        else:
            print(f"note: {lung} not found; real case skipped")
        for geometric_type in ("CLOSED_PLANAR", "CLOSEDPLANAR_XOR"):
            ct, rtstruct = stress_case(Path(scratch), geometric_type)
            cases.append((f"synthetic rings, 40 ROIs, 9600 {geometric_type}", rtstruct, ct))
        header = f"{'case':<55} {'ours s':>8} {'plastimatch s':>14} {'ratio':>7} {'ours MiB':>9} {'pm MiB':>7}"
        print(header)
        print("-" * len(header))
        for name, rtstruct_path, ct_path in cases:
            ours, ours_mib = time_ours(rtstruct_path, ct_path, arguments.repeat)
            theirs, theirs_mib = time_plastimatch(plastimatch, rtstruct_path, ct_path, arguments.repeat)
            print(f"{name:<55} {ours:8.2f} {theirs:14.2f} {ours / theirs:7.2f} {ours_mib:9.0f} {theirs_mib:7.0f}")
        print("\nratio = ours / plastimatch wall time (median of runs); below 1 means faster. Synthetic grid: 120x512x512.")
        print("plastimatch skips CLOSEDPLANAR_XOR contours: on that case it writes empty masks, so its time is no comparison.")


if __name__ == "__main__":
    main()

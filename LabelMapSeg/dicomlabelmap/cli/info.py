"""``dicomlabelmap info``: segments, frames, grid, transfer syntax and size of a Segmentation."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .common import EXIT_OK
from .options import subcommand


def add_parser(commands: Any) -> None:
    parser = subcommand(
        commands,
        "info",
        help="describe a Segmentation: segments, frames, geometry, transfer syntax, size",
        description="Describe a Segmentation file, or a series of them (files or a folder): segments with their layer, "
        "voxel counts, frames, grid, transfer syntax and size.",
    )
    parser.add_argument("seg", type=Path, nargs="+", help="Segmentation file(s) or folder(s) holding one series")
    parser.add_argument("--series-uid", help="Series Instance UID, when the folder holds several series")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    from ..seg.info import describe_seg_series
    from ..seg.series import read_seg_series

    series = read_seg_series(arguments.seg, series_instance_uid=arguments.series_uid)
    data = describe_seg_series(series)
    if arguments.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    for instance in data["instances"]:
        print(
            f"{instance['file']}: {instance['segmentation_type']} SEG, {instance['bytes']:,} bytes, "
            f"{instance['transfer_syntax']['name']} ({instance['transfer_syntax']['uid']}), {instance['frames']} frame(s)"
        )
    from ..files.report import display_text, pad

    geometry = series.geometry
    kinds = {"plane": " (2-D: no Frame of Reference)", "tiled": " (tiled: slide coordinates, one slice per focal plane)"}
    print(
        f"grid {geometry.shape} (slices x rows x columns){kinds.get(data['grid']['kind'], '')}, spacing "
        f"{geometry.spacing.round(4).tolist()} mm (i, j, k); layers: {len(series.volumes)}"
    )
    for segment in data["segments"]:
        label, kind = pad(display_text(segment["label"]), 30), pad(display_text(str(segment["type"])), 40)
        print(f"  {segment['number']:>5}  layer {segment['layer']:<3} {label} {kind} voxels {segment['voxels']:,}")
    for finding in series.findings:
        print(f"  {finding}")
    return EXIT_OK

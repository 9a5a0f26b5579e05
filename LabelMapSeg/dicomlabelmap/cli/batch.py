"""``dicomlabelmap batch``: every RT Structure Set and BINARY/FRACTIONAL SEG under a folder, in
parallel, resumable, locally or on Dask."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DicomLabelMapError
from .common import EXIT_OK, EXIT_PARTIAL, check_output_folder
from .options import add_scheme_options, add_seg_options, scheme, seg_options, subcommand
from .rtstruct import add_skip_option

if TYPE_CHECKING:
    from ..batch.jobs import BatchSettings

DEFAULT_JOBS = max(1, min(4, os.cpu_count() or 1))


def add_parser(commands: Any) -> None:
    parser = subcommand(
        commands,
        "batch",
        help="convert every RT Structure Set and BINARY/FRACTIONAL SEG under a folder (parallel, resumable)",
        description="Find every RT Structure Set and BINARY/FRACTIONAL SEG under IN_DIR, match each to its reference "
        "series, convert them in worker processes, and write batch_summary.json. One bad file never stops the batch; "
        "a re-run skips inputs whose output folder holds result.json.",
    )
    parser.add_argument("input_dir", type=Path, help="folder searched recursively")
    parser.add_argument("output_dir", type=Path, help="one subfolder per input is written here")
    parser.add_argument(
        "--format",
        choices=["labelmap-seg", "seg.nrrd", "both"],
        default="labelmap-seg",
        help="outputs for RT Structure Sets (SEGs always become Label Map SEG)",
    )
    add_seg_options(parser, what="Label Map SEG: ", overwrite=False)
    parser.add_argument("-j", "--jobs", type=int, help=f"local worker processes (default {DEFAULT_JOBS}; with --scheduler use local:N)")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS|local[:N]",
        help="run on Dask: the address of a running dask.distributed scheduler (tcp://head:8786) or local:N for a local "
        "cluster of N workers (needs dask[distributed])",
    )
    parser.add_argument(
        "--memory-per-task",
        default="4GiB",
        metavar="SIZE",
        help="with --scheduler: memory one conversion may use (a local cluster's worker limit; a task past it fails alone)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--overwrite", action="store_true", help="convert inputs finished by an earlier run again (default: skip them)")
    parser.add_argument(
        "--allow-missing-slices", action="store_true", help="accept reference series with missing slices (regular grid kept, reported)"
    )
    add_skip_option(parser)
    add_scheme_options(parser)
    parser.set_defaults(handler=run)


def settings(arguments: argparse.Namespace) -> BatchSettings:
    """The run's settings, from the command line (typed once, shared by every job)."""
    from ..batch.jobs import BatchSettings, OutputFormat

    formats = tuple(OutputFormat) if arguments.format == "both" else (OutputFormat(arguments.format),)
    raster = None
    if arguments.skip_bad_contours:
        from ..rtstruct.rasterize import RasterOptions

        raster = RasterOptions(skip_bad_contours=True)
    return BatchSettings(seg_options(arguments), formats, arguments.allow_missing_slices, scheme(arguments), raster)


def run(arguments: argparse.Namespace) -> int:
    from ..batch.run import run_batch

    check_output_folder(arguments.output_dir)
    batch_settings = settings(arguments)
    cluster = None
    if arguments.scheduler is not None:
        from ..batch.cluster import check_reachable, parse_scheduler
        from ..errors import optional_import

        if arguments.jobs is not None:
            raise DicomLabelMapError("-j/--jobs sets local worker processes; with --scheduler give local:N or size the cluster itself")
        cluster = parse_scheduler(arguments.scheduler, arguments.memory_per_task)
        check_reachable(cluster)  # before importing Dask's distributed (seconds): nothing listening fails at once
        optional_import("distributed", "dask[distributed]", "batch --scheduler (Dask)")
    jobs = arguments.jobs if arguments.jobs is not None else DEFAULT_JOBS
    if jobs < 1:
        raise DicomLabelMapError(f"-j {jobs}: at least one worker process is needed")
    bar = _progress()

    def on_result(result: Any, done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.set_description_str(f"{result.status.value[:6]} {Path(result.input).name[:30]}", refresh=True)

    try:
        summary = run_batch(arguments.input_dir, arguments.output_dir, batch_settings, jobs, on_result, arguments.overwrite, cluster)
    finally:  # an interrupt arrives here with the workers stopped and the summary written
        if bar is not None:
            bar.close()
    print(json.dumps(summary.to_dict(), indent=1) if arguments.json else summary.table())
    return EXIT_PARTIAL if summary.failed else EXIT_OK


def _progress() -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=0, disable=None, file=sys.stderr, unit="input")

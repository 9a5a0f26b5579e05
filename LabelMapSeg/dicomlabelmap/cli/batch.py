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
from .options import (
    add_compression_option,
    add_contour_options,
    add_missing_slices_option,
    add_scheme_options,
    add_seg_options,
    scheme,
    seg_options,
    subcommand,
)
from .rtstruct import add_skip_option

if TYPE_CHECKING:
    from ..batch.jobs import BatchSettings
    from ..batch.run import BatchSummary

DEFAULT_JOBS = max(1, min(4, os.cpu_count() or 1))


def add_parser(commands: Any) -> None:
    parser = subcommand(
        commands,
        "batch",
        help="convert every RT Structure Set and BINARY/FRACTIONAL SEG under a folder (parallel, resumable)",
        description="Find every RT Structure Set and BINARY/FRACTIONAL SEG under IN_DIR, match each to its reference "
        "series, convert them in worker processes, and write batch_summary.json. One bad file never stops the batch; "
        "a re-run skips inputs whose output folder holds result.json. With --format rtstruct, SEGs (Label Map SEGs too) "
        "become RT Structure Sets (RS.dcm), and IN_DIR may be a .csv listing label files beside their reference series "
        "(columns labels,reference).",
    )
    parser.add_argument("input_dir", type=Path, help="folder searched recursively, or a .csv of label files (with --format rtstruct)")
    parser.add_argument("output_dir", type=Path, help="one subfolder per input is written here")
    add_output_options(parser)
    add_seg_options(parser, what="Label Map SEG: ", overwrite=False)
    add_run_options(parser)
    add_scheme_options(parser)
    parser.set_defaults(handler=run)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """What each RT Structure Set's folder gets: everything ``rtstruct`` writes."""
    parser.add_argument(
        "--format",
        action=_Formats,
        default=_Formats.Default(["labelmap-seg"]),
        choices=["labelmap-seg", "seg.nrrd", "both", "label-file", "coco-rle", "rtstruct"],
        help="outputs for RT Structure Sets, repeatable: labelmap-seg (LabelMapSEG_NNN.dcm), seg.nrrd "
        "(labels.seg.nrrd), both (the two), label-file (labels<--label-suffix> with its label tables), coco-rle (coco.json, "
        "needs pycocotools); SEGs become Label Map SEG, plus the label file with label-file; rtstruct: SEGs and listed label "
        "files become RS.dcm (read back and compared; alone, without labelmap-seg, only RS.dcm)",
    )
    parser.add_argument(
        "--label-suffix", choices=[".nii.gz", ".nrrd", ".seg.nrrd"], default=".seg.nrrd", help="file type of --format label-file"
    )
    parser.add_argument("--split-layers", action="store_true", help="overlapping labels in .nrrd/.nii.gz: one file per layer")
    parser.add_argument("--split-rois", action="store_true", help="also one binary mask per label in masks/ (with labels.json)")
    parser.add_argument(
        "--mask-suffix", choices=[".nii.gz", ".nrrd", ".nii", ".seg.nrrd"], default=".nii.gz", help="file type of the masks"
    )
    parser.add_argument("--preview", action="store_true", help="also preview.png per RT Structure Set (needs matplotlib)")
    parser.add_argument(
        "--image",
        nargs="?",
        const=".nii.gz",
        choices=[".nii.gz", ".nrrd", ".nii"],
        metavar="SUFFIX",
        help="also the reference image series as image<SUFFIX> (default .nii.gz) on exactly the label files' grid",
    )
    add_compression_option(parser)
    add_contour_options(parser, what="--format rtstruct: ")


class _Formats(argparse.Action):
    """A repeatable ``--format``: the values given replace the default (argparse's ``append``
    would add them to it)."""

    class Default(list):  # type: ignore[type-arg]
        def __str__(self) -> str:  # shown by --help as "(default: labelmap-seg)"
            return ", ".join(self)

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        current = getattr(namespace, self.dest)
        setattr(namespace, self.dest, ([] if isinstance(current, _Formats.Default) else list(current)) + [values])


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Where and how the conversions run (local process pool or Dask), resuming, the summary."""
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
    add_missing_slices_option(parser, "reference series")
    add_skip_option(parser)


def settings(arguments: argparse.Namespace) -> BatchSettings:
    """The run's settings, from the command line (typed once, shared by every job); optional
    packages the outputs need are checked here, before any work."""
    from ..batch.jobs import BatchSettings, InputKind, OutputFormat
    from ..errors import optional_import

    words = list(arguments.format)
    formats = tuple(
        dict.fromkeys(
            f for word in words for f in ([OutputFormat.LABELMAP_SEG, OutputFormat.SEG_NRRD] if word == "both" else [OutputFormat(word)])
        )
    )
    contour_options = None
    inputs: tuple[InputKind, ...] = (InputKind.RTSTRUCT, InputKind.SEG, InputKind.LABEL_FILE)
    if OutputFormat.RTSTRUCT in formats:
        from ..rtstruct.writer import ContourWriteOptions

        contour_options = ContourWriteOptions.from_words(arguments.holes, arguments.shape)
        if formats == (OutputFormat.RTSTRUCT,):  # nothing asked for RT Structure Set inputs
            inputs = (InputKind.SEG, InputKind.LABEL_FILE)
    chosen = BatchSettings(
        seg_options(arguments),
        formats,
        arguments.allow_missing_slices,
        scheme(arguments),
        label_suffix=arguments.label_suffix,
        split_layers=arguments.split_layers,
        split_rois=arguments.split_rois,
        mask_suffix=arguments.mask_suffix,
        preview=arguments.preview,
        image_suffix=arguments.image,
        compression_level=arguments.compression_level,
        inputs=inputs,
        contour_options=contour_options,
        raster_options=raster_options(arguments),
    )
    if OutputFormat.COCO_RLE in formats:
        optional_import("pycocotools.mask", "pycocotools", "COCO run-length masks (--format coco-rle)")
    if chosen.preview:
        optional_import("matplotlib", "matplotlib", "previews (--preview)")
    suffixes = chosen.label_file_suffixes() + ([chosen.mask_suffix] if chosen.split_rois else []) + [chosen.image_suffix or ""]
    if any(suffix.startswith(".nii") for suffix in suffixes):
        optional_import("nibabel", "nibabel", "NIfTI outputs")
    return chosen


def raster_options(arguments: argparse.Namespace) -> Any:
    """How contours are drawn (``None``: the defaults)."""
    if not arguments.skip_bad_contours:
        return None
    from ..rtstruct.rasterize import RasterOptions

    return RasterOptions(skip_bad_contours=True)


def run(arguments: argparse.Namespace) -> int:
    summary = run_conversions(arguments, settings(arguments), arguments.output_dir)
    print(json.dumps(summary.to_dict(), indent=1) if arguments.json else summary.table())
    return EXIT_PARTIAL if summary.failed else EXIT_OK


def run_conversions(arguments: argparse.Namespace, batch_settings: BatchSettings, output_dir: Path) -> BatchSummary:
    """Run the batch of ``arguments`` (local pool or Dask, with a progress bar) into
    ``output_dir``; an interrupt is raised again once the workers are stopped and the summary is
    written (the command then exits with 130)."""
    from ..batch.run import run_batch

    check_output_folder(output_dir)
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
        summary = run_batch(arguments.input_dir, output_dir, batch_settings, jobs, on_result, arguments.overwrite, cluster)
    finally:  # an interrupt arrives here with the workers stopped and the summary written
        if bar is not None:
            bar.close()
    return summary


def _progress() -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    tqdm.monitor_interval = 0  # no monitor thread: the batch process forks its workers (batch/pool.py)
    return tqdm(total=0, disable=None, file=sys.stderr, unit="input")

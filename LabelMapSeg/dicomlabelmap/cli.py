"""The ``dicomlabelmap`` command line: a thin shell over the library.

Exit codes: 0 success; 1 error (one sentence on stderr, nothing written); 2 usage error;
3 output written but some ROIs could not be converted (see the report); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .codecs import TransferSyntax
from .errors import DicomLabelMapError

if TYPE_CHECKING:  # each subcommand imports what it uses, when it runs (start-up stays short)
    from .conversion import RtStructConversion
    from .progress import ProgressCallback
    from .seg_writer import SegWriteOptions

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if arguments.verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    previous = _terminate_as_interrupt()
    try:
        return int(arguments.handler(arguments))
    except DicomLabelMapError as error:
        _remove_created_folders()
        print(f"dicomlabelmap: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as interrupt:
        _remove_created_folders()
        detail = interrupt.args[0] if interrupt.args else "every output is as it was before, or complete (never partial)"
        print(f"dicomlabelmap: interrupted; {detail}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def run() -> None:
    """The console script: :func:`main`, then exit with its code. Once main has returned, the work
    is done or cleaned up, so an interrupt that arrives while Python shuts down (Dask's and the
    pools' exit handlers) no longer changes the outcome: it is ignored, not turned into a
    traceback or a death by signal."""
    try:
        code = main()
    except KeyboardInterrupt:  # arrived after main's own handler
        code = EXIT_INTERRUPTED
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)


def _terminate_as_interrupt() -> Any:
    """SIGTERM (timeout, Slurm, Docker) ends the command like Ctrl-C: cleanup runs, no partial
    file stays. Returns the previous handler (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


_CREATED_FOLDERS: list[Path] = []


def _remove_created_folders() -> None:
    """Output folders this command created stay only if something was written into them."""
    for folder in reversed(_CREATED_FOLDERS):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass
    _CREATED_FOLDERS.clear()


def _subcommand(commands: Any, name: str, **options: Any) -> argparse.ArgumentParser:
    """A subcommand whose help shows every option's default."""
    options.setdefault("description", options.get("help"))
    return commands.add_parser(name, formatter_class=argparse.ArgumentDefaultsHelpFormatter, **options)  # type: ignore[no-any-return]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicomlabelmap",
        description="DICOM RT Structure Sets and segmentations <-> label maps on the reference image grid.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    syntaxes = [syntax.value for syntax in TransferSyntax.writable_syntaxes()]

    rtstruct = _subcommand(
        commands,
        "rtstruct",
        help="convert an RT Structure Set to a label map on its reference series' grid",
        description="Convert an RT Structure Set to label maps exactly on the reference series' grid "
        "(never cropped or resampled), with keyholes, nested contours and CLOSEDPLANAR_XOR holes right.",
    )
    rtstruct.add_argument("rtstruct", type=Path, help="the RT Structure Set file")
    _add_reference_option(rtstruct, required=True)
    rtstruct.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="output file: .seg.nrrd, .nrrd, .nii.gz or .nii (type from the suffix); a folder with --format labelmap-seg/both "
        "or --split-rois; a .json file with --format coco-rle",
    )
    rtstruct.add_argument(
        "--format",
        choices=["label-file", "labelmap-seg", "both", "coco-rle"],
        default="label-file",
        help="label-file: -o's type; labelmap-seg: DICOM Label Map SEG in the -o folder; both: Label Map SEG and labels.seg.nrrd "
        "in the -o folder; coco-rle: per-slice COCO run-length masks (needs pycocotools)",
    )
    rtstruct.add_argument(
        "--split-rois",
        action="store_true",
        help="one binary mask file per label (ROI) in the -o folder, named from the scheme or the ROI, with labels.json",
    )
    rtstruct.add_argument(
        "--mask-suffix", choices=[".nii.gz", ".nrrd", ".nii", ".seg.nrrd"], default=".nii.gz", help="file type of --split-rois masks"
    )
    _add_scheme_options(rtstruct)
    rtstruct.add_argument("--series-uid", help="Series Instance UID of the reference series, when the folder holds several")
    rtstruct.add_argument(
        "--slice-tolerance", type=float, metavar="MM", help="farthest a contour may lie from a slice (default: half the slice spacing)"
    )
    rtstruct.add_argument(
        "--planarity-tolerance",
        type=float,
        metavar="MM",
        help="largest spread of a contour along the slice normal (default: a tenth of the slice spacing)",
    )
    rtstruct.add_argument("--no-mark-small", action="store_true", help="do not set the voxels along contours that enclose no voxel centre")
    rtstruct.add_argument(
        "--allow-missing-slices",
        action="store_true",
        help="accept a reference series with missing slices: keep its regular grid, leave those positions without an image (reported)",
    )
    rtstruct.add_argument("--split-layers", action="store_true", help="for .nrrd/.nii.gz: write overlapping segments to one file per layer")
    _add_compression_option(rtstruct)
    _add_seg_options(rtstruct, syntaxes, what="with --format labelmap-seg/both: ")
    rtstruct.add_argument("--json", action="store_true", help="print the report as JSON on stdout instead of a table")
    rtstruct.add_argument(
        "--preview", type=Path, metavar="PNG", help="also draw a few slices with contours over the masks into this .png (needs matplotlib)"
    )
    rtstruct.set_defaults(handler=_run_rtstruct)

    series = _subcommand(
        commands,
        "series",
        help="list the image series found in folders or files",
        description="List the image series found in folders (searched recursively, symbolic links followed) or files: "
        "UIDs, modality, description and image count, then every file left out with its reason.",
    )
    series.add_argument("paths", type=Path, nargs="+", help="folders or files")
    series.add_argument("--json", action="store_true", help="print JSON")
    series.set_defaults(handler=_run_series)

    encode = _subcommand(commands, "encode", help="write label maps (.seg.nrrd, .nrrd, .nii.gz) as Label Map SEG on a reference series")
    encode.add_argument("labels", type=Path, help="label file: .seg.nrrd, .nrrd, .nii.gz or .nii")
    _add_reference_option(encode, required=True)
    encode.add_argument("-o", "--output", type=Path, required=True, help="output folder (one file per label layer)")
    encode.add_argument(
        "--metadata",
        type=Path,
        metavar="JSON",
        help="segment names, codes, colours and algorithm: a label scheme (--roi-map format) or dcmqi's --inputMetadata JSON",
    )
    _add_seg_options(encode, syntaxes)
    encode.set_defaults(handler=_run_encode)

    decode = _subcommand(
        commands,
        "decode",
        help="read a SEG series (LABELMAP, BINARY, FRACTIONAL) into a label file",
        description="Read a Segmentation into a label file: one file, several files or a folder holding one series "
        "(a Label Map SEG series has one instance per label layer; all become layers of one .seg.nrrd).",
    )
    decode.add_argument("seg", type=Path, nargs="+", help="Segmentation file(s) or folder(s) holding one series")
    _add_reference_option(decode, default_note="default: the grid of the SEG's own frames")
    decode.add_argument("-o", "--output", type=Path, required=True, help="output file: .seg.nrrd, .nrrd, .nii.gz or .nii")
    decode.add_argument("--series-uid", help="Series Instance UID of the Segmentation series, when the folder holds several")
    decode.add_argument(
        "--fractional-threshold",
        type=float,
        default=0.5,
        help="FRACTIONAL: fraction of Maximum Fractional Value counted as inside (default 0.5)",
    )
    decode.add_argument("--split-layers", action="store_true", help="for .nrrd/.nii.gz: one file per layer")
    _add_compression_option(decode)
    decode.add_argument("--overwrite", action="store_true", help="replace existing output files")
    decode.set_defaults(handler=_run_decode)

    convert = _subcommand(
        commands, "convert", help="convert a BINARY/FRACTIONAL SEG to Label Map SEG, keeping segment numbers, names, colours, codes"
    )
    convert.add_argument("seg", type=Path, help="the Segmentation file")
    _add_reference_option(convert, default_note="default: rebuilt from the SEG")
    convert.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    convert.add_argument(
        "--fractional-threshold", type=float, default=0.5, help="FRACTIONAL: fraction of Maximum Fractional Value counted as inside"
    )
    _add_seg_options(convert, syntaxes)
    convert.set_defaults(handler=_run_convert)

    info = _subcommand(
        commands,
        "info",
        help="describe a Segmentation: segments, frames, geometry, transfer syntax, size",
        description="Describe a Segmentation file, or a series of them (files or a folder): segments with their layer, "
        "voxel counts, frames, grid, transfer syntax and size.",
    )
    info.add_argument("seg", type=Path, nargs="+", help="Segmentation file(s) or folder(s) holding one series")
    info.add_argument("--series-uid", help="Series Instance UID, when the folder holds several series")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=_run_info)

    validate = _subcommand(
        commands,
        "validate",
        help="check a Segmentation against the rules (and with dciodvfy when installed)",
        description="Check each instance of a Segmentation series (files or a folder) against the rules readers rely on: "
        "header vs data (codestream precision, colour table, Pixel Padding Value, frame counts, Spacing Between Slices), "
        "the decoded frames, and dciodvfy when it is installed. Exit code 1 when any error is found.",
    )
    validate.add_argument("seg", type=Path, nargs="+", help="Segmentation file(s) or folder(s) holding one series")
    validate.add_argument("--series-uid", help="Series Instance UID, when the folder holds several series")
    validate.add_argument("--json", action="store_true", help="print JSON")
    validate.set_defaults(handler=_run_validate)

    demo = _subcommand(
        commands,
        "demo",
        help="write a built-in synthetic CT + RT Structure Set (keyhole, nested and XOR holes) and convert it",
    )
    demo.add_argument("output_dir", type=Path, help="folder to write the demo data and results into")
    demo.add_argument("--json", action="store_true", help="print the report as JSON")
    demo.set_defaults(handler=_run_demo)

    batch = _subcommand(
        commands,
        "batch",
        help="convert every RT Structure Set and BINARY/FRACTIONAL SEG under a folder (parallel, resumable)",
        description="Find every RT Structure Set and BINARY/FRACTIONAL SEG under IN_DIR, match each to its reference "
        "series, convert them in worker processes, and write batch_summary.json. One bad file never stops the batch; "
        "a re-run skips inputs whose output folder holds result.json.",
    )
    batch.add_argument("input_dir", type=Path, help="folder searched recursively")
    batch.add_argument("output_dir", type=Path, help="one subfolder per input is written here")
    batch.add_argument(
        "--format",
        choices=["labelmap-seg", "seg.nrrd", "both"],
        default="labelmap-seg",
        help="outputs for RT Structure Sets (SEGs always become Label Map SEG)",
    )
    batch.add_argument(
        "-t",
        "--transfer-syntax",
        choices=[s.value for s in TransferSyntax.writable_syntaxes()],
        default="rle",
        help="pixel encoding of the Label Map SEGs written",
    )
    batch.add_argument(
        "-j", "--jobs", type=int, help=f"local worker processes (default {max(1, min(4, os.cpu_count() or 1))}; with --scheduler use local:N)"
    )
    batch.add_argument(
        "--scheduler",
        metavar="ADDRESS|local[:N]",
        help="run on Dask: the address of a running dask.distributed scheduler (tcp://head:8786) or local:N for a local "
        "cluster of N workers (needs dask[distributed])",
    )
    batch.add_argument(
        "--memory-per-task",
        default="4GiB",
        metavar="SIZE",
        help="with --scheduler: memory one conversion may use (a local cluster's worker limit; a task past it fails alone)",
    )
    batch.add_argument("--json", action="store_true", help="print the summary as JSON")
    batch.add_argument("--overwrite", action="store_true", help="convert inputs finished by an earlier run again (default: skip them)")
    batch.add_argument(
        "--allow-missing-slices", action="store_true", help="accept reference series with missing slices (regular grid kept, reported)"
    )
    _add_scheme_options(batch)
    batch.set_defaults(handler=_run_batch)
    return parser


def _run_batch(arguments: argparse.Namespace) -> int:
    from .batch import run_batch

    formats = ("labelmap-seg", "seg.nrrd") if arguments.format == "both" else (arguments.format,)
    scheme = _scheme(arguments)
    cluster = None
    if arguments.scheduler is not None:
        from .cluster import parse_scheduler

        if arguments.jobs is not None:
            raise DicomLabelMapError("-j/--jobs sets local worker processes; with --scheduler give local:N or size the cluster itself")
        cluster = parse_scheduler(arguments.scheduler, arguments.memory_per_task)
        from .errors import optional_import

        optional_import("distributed", "dask[distributed]", "batch --scheduler (Dask)")
    jobs = arguments.jobs if arguments.jobs is not None else max(1, min(4, os.cpu_count() or 1))
    if jobs < 1:
        raise DicomLabelMapError(f"-j {jobs}: at least one worker process is needed")
    try:
        from tqdm import tqdm

        bar = tqdm(total=0, disable=None, file=sys.stderr, unit="input")
    except ImportError:
        bar = None

    def on_result(result: Any, done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.set_description_str(f"{result.status[:6]} {Path(result.input).name[:30]}", refresh=True)

    try:
        summary = run_batch(
            arguments.input_dir,
            arguments.output_dir,
            formats,
            arguments.transfer_syntax,
            jobs,
            on_result,
            arguments.overwrite,
            arguments.allow_missing_slices,
            scheme,
            cluster,
        )
    except KeyboardInterrupt as interrupt:
        if bar is not None:
            bar.close()
        if cluster is not None:  # the cluster is shut down already: a normal exit
            raise
        # The summary is written and the workers are killed; Python's own exit would now wait
        # for the process pool's feeder thread, which can block on a killed worker's pipe.
        print(f"dicomlabelmap: interrupted; {interrupt.args[0] if interrupt.args else ''}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    finally:
        if bar is not None:
            bar.close()
    print(json.dumps(summary.to_dict(), indent=1) if arguments.json else summary.table())
    return EXIT_PARTIAL if any(r.status == "failed" for r in summary.results) else EXIT_OK


def _add_reference_option(parser: argparse.ArgumentParser, required: bool = False, default_note: str = "") -> None:
    """``-r/--reference``: one path per option, repeatable, so it never swallows the input."""
    parser.add_argument(
        "-r",
        "--reference",
        type=Path,
        action="append",
        required=required,
        metavar="PATH",
        help="folder or file holding the reference image series (repeat the option for several)" + (f"; {default_note}" if default_note else ""),
    )


def _add_compression_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compression-level",
        type=int,
        choices=range(10),
        default=1,
        metavar="0-9",
        help="gzip level of .seg.nrrd/.nrrd output: 1 is fast (as Slicer writes), 9 smallest, 0 uncompressed",
    )


def _add_seg_options(parser: argparse.ArgumentParser, syntaxes: list[str], what: str = "") -> None:
    parser.add_argument(
        "-t",
        "--transfer-syntax",
        choices=syntaxes,
        default="rle",
        help=f"{what}pixel encoding (default rle: read by Slicer/dcmqi, highdicom and OHIF)",
    )
    parser.add_argument(
        "--omit-empty-frames", action="store_true", help=f"{what}leave out frames without labels (readers must then fill them)"
    )
    parser.add_argument(
        "--palette-color",
        action="store_true",
        help=f"{what}PALETTE COLOR with a colour table and sRGB ICC profile instead of MONOCHROME2 + CIELab",
    )
    parser.add_argument(
        "--series-description", help=f"{what}Series Description of the new series (default: 'Label map segmentation')"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")


def _add_scheme_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--roi-map",
        type=Path,
        metavar="SCHEME.json",
        help="label scheme: fixed label values, names, colours and codes by ROI name (aliases, patterns), overlap policy, "
        "what to do with unmatched ROIs",
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="NAME_OR_PATTERN",
        help="convert only ROIs whose name (or scheme label) equals this, ignoring case, spaces, _ and -, or fully matches "
        "it as a regular expression (repeatable)",
    )
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="NAME_OR_PATTERN", help="leave out ROIs matched the same way (repeatable)"
    )


def _scheme(arguments: argparse.Namespace) -> Any:
    """The label scheme of ``--roi-map``/``--include``/``--exclude`` (``None`` without them)."""
    from .scheme import LabelScheme, load_scheme

    roi_map = getattr(arguments, "roi_map", None)
    include, exclude = getattr(arguments, "include", []), getattr(arguments, "exclude", [])
    if roi_map is not None:
        return load_scheme(roi_map).with_selection(include, exclude)
    if include or exclude:
        return LabelScheme.selection(include, exclude)
    return None


def _seg_options(arguments: argparse.Namespace, metadata: dict[str, Any] | None = None) -> SegWriteOptions:
    """Write options from the command line; ``metadata`` (series header values of a metadata
    file) fills what the command line leaves unset."""
    from .seg_writer import SegWriteOptions

    header = dict(metadata or {})
    if arguments.series_description is not None:
        header["series_description"] = arguments.series_description
    return SegWriteOptions(
        transfer_syntax=TransferSyntax(arguments.transfer_syntax),
        omit_empty_frames=arguments.omit_empty_frames,
        palette_color=arguments.palette_color,
        **header,
    )


def _folder(path: Path) -> Path:
    """The output folder, created (with its parents) when missing; one created here is removed
    again when the command fails or is interrupted and nothing was written into it."""
    if path.exists() and not path.is_dir():
        raise DicomLabelMapError(f"{path} is a file; give an output folder")
    missing = []
    parent = path
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DicomLabelMapError(f"{path}: cannot create the output folder ({error.strerror})") from error
    _CREATED_FOLDERS.extend(reversed(missing))
    return path


def _sizes(paths: Sequence[Path]) -> str:
    return ", ".join(f"{path} ({path.stat().st_size:,} bytes)" for path in paths)


@contextmanager
def _progress_bar(enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """A tqdm bar on stderr fed by the core's progress callback (off when stderr is no TTY)."""
    try:
        from tqdm import tqdm
    except ImportError:
        yield None
        return
    bar = tqdm(total=1000, disable=None if enabled else True, file=sys.stderr, leave=False, bar_format="{l_bar}{bar}| {elapsed}")

    def progress(fraction: float, message: str) -> None:
        bar.n = int(fraction * 1000)
        bar.set_description_str(message[:40], refresh=True)

    try:
        yield progress
    finally:
        bar.close()


def _convert_and_write(
    arguments: argparse.Namespace, rtstruct: Path, reference: Sequence[Path], output: Path
) -> tuple[RtStructConversion, list[Path]]:
    from .labelfiles import write_label_file

    conversion = _convert(arguments, rtstruct, reference)
    written = write_label_file(
        output,
        conversion.label_volumes,
        getattr(arguments, "overwrite", False),
        getattr(arguments, "split_layers", False),
        getattr(arguments, "compression_level", 1),
    )
    return conversion, written


def _convert(arguments: argparse.Namespace, rtstruct: Path, reference: Sequence[Path], scheme: Any = None) -> RtStructConversion:
    from .conversion import rtstruct_to_labels
    from .rasterize import RasterOptions

    options = RasterOptions(
        slice_tolerance_mm=getattr(arguments, "slice_tolerance", None),
        planarity_tolerance_mm=getattr(arguments, "planarity_tolerance", None),
        mark_unfilled_contours=not getattr(arguments, "no_mark_small", False),
    )
    with _progress_bar() as progress:
        conversion = rtstruct_to_labels(
            rtstruct,
            reference,
            getattr(arguments, "series_uid", None),
            options,
            progress,
            getattr(arguments, "allow_missing_slices", False),
            scheme,
        )
    if not any(roi.converted for roi in conversion.rois) and conversion.rois:
        failures = "; ".join(str(f) for f in conversion.findings if f.severity.value == "error")
        raise DicomLabelMapError(f"no ROI of {rtstruct} could be converted: {failures}")
    if not conversion.rois and conversion.assignments:
        raise DicomLabelMapError(f"{rtstruct}: the label scheme selects none of its {len(conversion.assignments)} ROIs (see --include/--exclude and the scheme)")
    return conversion


def _check_input_file(path: Path, what: str) -> None:
    if path.is_dir():
        raise DicomLabelMapError(f"{path} is a folder; give {what} (dicomlabelmap series lists what a folder holds)")
    if not path.exists():
        raise DicomLabelMapError(f"{path}: no such file")


def _check_label_output(path: Path, overwrite: bool) -> None:
    """Refuse a label file output that cannot be written before any work is done."""
    from .labelfiles import LABEL_FILE_SUFFIXES
    from .outputs import check_output_file, double_suffix

    if path.is_dir():
        raise DicomLabelMapError(f"-o {path} is a folder; give a file name ending in {', '.join(LABEL_FILE_SUFFIXES)}")
    if double_suffix(path) not in LABEL_FILE_SUFFIXES:
        raise DicomLabelMapError(f"-o {path}: unknown output type '{double_suffix(path)}'; use one of {', '.join(LABEL_FILE_SUFFIXES)}")
    check_output_file(path, overwrite)


def _print_report(conversion: RtStructConversion, written: list[Path], as_json: bool, extra: dict[str, Any] | None = None) -> None:
    from .report import format_conversion

    if as_json:
        data = conversion.to_dict()
        data["outputs"] = [str(path) for path in written]
        data.update(extra or {})
        print(json.dumps(data, indent=2))
    else:
        print(format_conversion(conversion))
        print()
        for path in written:
            print(f"Wrote {path}")
        for key, value in (extra or {}).items():
            print(f"Wrote {value} ({key})")


def _exit_code(conversion: RtStructConversion) -> int:
    return EXIT_PARTIAL if conversion.failed_rois else EXIT_OK


def _run_rtstruct(arguments: argparse.Namespace) -> int:
    from .outputs import check_output_file

    _check_input_file(arguments.rtstruct, "the RT Structure Set file")
    output, kind = arguments.output, arguments.format
    if arguments.split_rois and kind != "label-file":
        raise DicomLabelMapError(f"--split-rois writes mask files; it cannot be combined with --format {kind}")
    if arguments.split_rois or kind in ("labelmap-seg", "both"):
        from .labelfiles import LABEL_FILE_SUFFIXES
        from .outputs import double_suffix

        option = "--split-rois" if arguments.split_rois else f"--format {kind}"
        if (output.exists() and not output.is_dir()) or double_suffix(output) in (*LABEL_FILE_SUFFIXES, ".json", ".dcm"):
            raise DicomLabelMapError(f"-o {output} names a file; {option} writes into a folder")
    elif kind == "coco-rle":
        from .errors import optional_import

        if output.suffix.lower() != ".json":
            raise DicomLabelMapError(f"-o {output}: COCO masks are a JSON file; give a name ending in .json")
        check_output_file(output, arguments.overwrite)
        optional_import("pycocotools.mask", "pycocotools", "COCO run-length masks (--format coco-rle)")
    else:
        from .labeltables import check_table_outputs

        _check_label_output(output, arguments.overwrite)
        check_table_outputs(output, arguments.overwrite)
    if arguments.preview is not None:
        if arguments.preview.suffix.lower() != ".png":
            raise DicomLabelMapError(f"--preview {arguments.preview}: the preview is a PNG image; give a file name ending in .png")
        check_output_file(arguments.preview, arguments.overwrite)
    scheme = _scheme(arguments)  # read before the work: a wrong scheme fails at once
    conversion = _convert(arguments, arguments.rtstruct, arguments.reference, scheme)
    written = _write_rtstruct_outputs(arguments, conversion)
    extra = {}
    if arguments.preview:
        from .preview import write_preview

        extra["preview"] = str(write_preview(conversion, arguments.preview, overwrite=arguments.overwrite))
    _print_report(conversion, written, arguments.json, extra)
    return _exit_code(conversion)


def _write_rtstruct_outputs(arguments: argparse.Namespace, conversion: RtStructConversion) -> list[Path]:
    """What ``rtstruct`` writes, by ``--format`` and ``--split-rois``."""
    output, kind = arguments.output, arguments.format
    if arguments.split_rois:
        from .maskfiles import write_label_masks

        return write_label_masks(conversion, _folder(output), arguments.mask_suffix, arguments.overwrite, arguments.compression_level)
    if kind == "coco-rle":
        from .coco import write_coco

        return [write_coco(conversion, output, arguments.overwrite)]
    if kind == "label-file":
        from .labelfiles import write_label_file

        return write_label_file(output, conversion.label_volumes, arguments.overwrite, arguments.split_layers, arguments.compression_level)
    from .seg_writer import write_label_map_segs

    folder = _folder(output)
    written = []
    if kind == "both":
        from .labelfiles import write_label_file
        from .labeltables import check_table_outputs
        from .outputs import check_output_file

        check_output_file(folder / "labels.seg.nrrd", arguments.overwrite)
        check_table_outputs(folder / "labels.seg.nrrd", arguments.overwrite)
    with _progress_bar() as progress:
        written += write_label_map_segs(conversion.label_volumes, conversion.reference, folder, _seg_options(arguments), arguments.overwrite, progress)
    if kind == "both":
        written += write_label_file(folder / "labels.seg.nrrd", conversion.label_volumes, arguments.overwrite, False, arguments.compression_level)
    return written


def _run_encode(arguments: argparse.Namespace) -> int:
    _check_input_file(arguments.labels, "the label file (.seg.nrrd, .nrrd, .nii.gz or .nii)")
    from .labelfiles import read_label_file
    from .seg_writer import write_label_map_segs
    from .series import read_reference_series

    header: dict[str, Any] = {}
    if arguments.metadata is not None:
        from .segmeta import apply_metadata, load_metadata

        metadata = load_metadata(arguments.metadata)
    volumes = read_label_file(arguments.labels)
    if arguments.metadata is not None:
        volumes, header, notes = apply_metadata(volumes, metadata)
        for note in notes:
            print(f"  {note}", file=sys.stderr)
    with _progress_bar() as progress:
        reference = read_reference_series(arguments.reference, progress=progress)
        for finding in reference.findings:
            print(f"  {finding}", file=sys.stderr)
        placed = [volume.on_grid(reference.geometry) for volume in volumes]  # same lattice in another axis order: reoriented
        if any(mine is not theirs for mine, theirs in zip(placed, volumes, strict=True)):
            print(
                "note: the label map's axes are ordered or directed differently from the reference series; "
                "they were swapped/reversed to match (no resampling)",
                file=sys.stderr,
            )
        paths = write_label_map_segs(placed, reference, _folder(arguments.output), _seg_options(arguments, header), arguments.overwrite, progress)
    print(f"Wrote and verified {len(paths)} Label Map SEG instance(s): {_sizes(paths)}")
    return EXIT_OK


def _run_decode(arguments: argparse.Namespace) -> int:
    from .labelfiles import write_label_file
    from .seg_series import read_seg_series
    from .series import read_reference_series

    reference = read_reference_series(arguments.reference) if arguments.reference else None
    series = read_seg_series(arguments.seg, reference, arguments.series_uid, arguments.fractional_threshold)
    written = write_label_file(arguments.output, series.volumes, arguments.overwrite, arguments.split_layers, arguments.compression_level)
    for finding in series.findings:
        print(f"  {finding}", file=sys.stderr)
    kinds = "/".join(sorted({content.segmentation_type for content in series.contents}))
    print(
        f"{kinds} SEG ({len(series.contents)} instance(s)), {len(series.segments)} segment(s) in {len(series.volumes)} layer(s), "
        f"grid {series.geometry.shape}: wrote {_sizes(written)}"
    )
    return EXIT_OK


def _run_convert(arguments: argparse.Namespace) -> int:
    from .seg_convert import convert_to_label_map_seg
    from .series import read_reference_series

    reference = read_reference_series(arguments.reference) if arguments.reference else None
    with _progress_bar() as progress:
        contents, paths = convert_to_label_map_seg(
            arguments.seg,
            _folder(arguments.output),
            reference,
            _seg_options(arguments),
            arguments.fractional_threshold,
            arguments.overwrite,
            progress,
        )
    numbers = ", ".join(f"{s.number} '{s.label}'" for s in contents.segments)
    print(f"{contents.segmentation_type} SEG ({arguments.seg.stat().st_size:,} bytes) -> {_sizes(paths)}; segments kept: {numbers}")
    return EXIT_OK


def _run_info(arguments: argparse.Namespace) -> int:
    import numpy as np

    from .seg_series import read_seg_series

    series = read_seg_series(arguments.seg, series_instance_uid=arguments.series_uid)
    geometry = series.geometry
    instances: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []
    layer = 0
    for content in series.contents:
        assert content.path is not None
        instances.append(
            {
                "file": str(content.path),
                "bytes": content.path.stat().st_size,
                "segmentation_type": content.segmentation_type,
                "transfer_syntax": {"name": content.transfer_syntax.value, "uid": content.transfer_syntax.uid},
                "frames": content.frame_count,
                "background_segment_number": content.background_number,
                "layers": len(content.volumes),
            }
        )
        for volume in content.volumes:
            layer += 1
            counts = np.bincount(volume.array.ravel())  # one pass per layer, not per segment
            for s in volume.segments:
                segments.append(
                    {
                        "number": s.number,
                        "label": s.label,
                        "layer": layer,
                        "color": list(s.display_color()),
                        "category": str(s.category),
                        "type": str(s.type),
                        "voxels": int(counts[s.number]) if s.number < len(counts) else 0,
                        "file": str(content.path),
                    }
                )
    data = {
        "series_instance_uid": series.series_instance_uid,
        "instances": instances,
        "grid": {
            "shape": list(geometry.shape),
            "spacing": geometry.spacing.tolist(),
            "ijk_to_lps": geometry.ijk_to_lps.tolist(),
            "frame_of_reference_uid": geometry.frame_of_reference_uid,
        },
        "layers": len(series.volumes),
        "segments": segments,
        "findings": [f.to_dict() for f in series.findings],
    }
    if len(instances) == 1:  # one file: its fields at the top level too, as before
        data.update({key: value for key, value in instances[0].items() if key != "layers"})
    if arguments.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    for instance in instances:
        print(
            f"{instance['file']}: {instance['segmentation_type']} SEG, {instance['bytes']:,} bytes, "
            f"{instance['transfer_syntax']['name']} ({instance['transfer_syntax']['uid']}), {instance['frames']} frame(s)"
        )
    print(
        f"grid {geometry.shape} (slices x rows x columns), spacing {geometry.spacing.round(4).tolist()} mm (i, j, k); "
        f"layers: {len(series.volumes)}"
    )
    from .report import display_width

    for segment in segments:
        label = segment["label"] + " " * max(0, 30 - display_width(segment["label"]))
        print(f"  {segment['number']:>5}  layer {segment['layer']:<3} {label} {segment['type']:<40} voxels {segment['voxels']:,}")
    for finding in series.findings:
        print(f"  {finding}")
    return EXIT_OK


def _run_validate(arguments: argparse.Namespace) -> int:
    from .seg_series import find_seg_files
    from .seg_validate import validate_seg

    by_series = find_seg_files(arguments.seg)
    if not by_series:
        raise DicomLabelMapError(f"no DICOM Segmentation found in {', '.join(str(p) for p in arguments.seg)}")
    if arguments.series_uid is not None:
        if arguments.series_uid not in by_series:
            raise DicomLabelMapError(f"Segmentation series {arguments.series_uid} not found; found: {', '.join(by_series)}")
        by_series = {arguments.series_uid: by_series[arguments.series_uid]}
    elif len(by_series) > 1:
        raise DicomLabelMapError(f"several Segmentation series found; choose one with --series-uid: {', '.join(by_series)}")
    ((_, files),) = by_series.items()
    results = []
    for _, path in sorted(files, key=lambda entry: (entry[0], str(entry[1]))):
        findings = validate_seg(path)
        errors = [f for f in findings if f.severity.value == "error"]
        results.append({"file": str(path), "valid": not errors, "findings": [f.to_dict() for f in findings]})
        if not arguments.json:
            for finding in findings:
                print(finding)
            print(f"{path}: {'INVALID' if errors else 'valid'} ({len(errors)} error(s), {len(findings) - len(errors)} warning(s))")
    valid = all(result["valid"] for result in results)
    if arguments.json:
        print(json.dumps(results[0] if len(results) == 1 else {"valid": valid, "files": results}, indent=2))
    return EXIT_OK if valid else EXIT_ERROR


def _run_series(arguments: argparse.Namespace) -> int:
    from .series import scan_series

    scan = scan_series(arguments.paths)
    summaries = scan.summaries()
    skipped = [{"file": path, "reason": reason} for path, reason, _ in scan.skipped_files]
    if arguments.json:
        print(json.dumps({"series": [vars(s) for s in summaries], "skipped": scan.skipped, "skipped_files": skipped}, indent=2))
    else:
        for summary in summaries:
            print(summary.describe())
        for reason, count in sorted(scan.skipped.items()):
            print(f"skipped {count} file(s): {reason}")
        for entry in skipped:
            print(f"  {entry['file']}: {entry['reason']}")
    if not summaries:
        where = ", ".join(str(p) for p in arguments.paths)
        total = sum(scan.skipped.values())
        print(f"dicomlabelmap: error: no image series found in {where} ({total} file(s) looked at)", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _run_demo(arguments: argparse.Namespace) -> int:
    from .synthetic import write_demo_case

    output_dir: Path = arguments.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    ct_folder, rtstruct_path = write_demo_case(output_dir / "dicom")
    output = output_dir / "demo.seg.nrrd"
    arguments.overwrite = True
    conversion, written = _convert_and_write(arguments, rtstruct_path, [ct_folder], output)
    extra = {}
    try:
        from .preview import write_preview

        extra["preview"] = str(write_preview(conversion, output_dir / "demo_preview.png", overwrite=True))
    except DicomLabelMapError as error:  # matplotlib missing: the demo still stands
        print(f"dicomlabelmap: note: no preview ({error})", file=sys.stderr)
    _print_report(conversion, written, arguments.json, extra)
    return _exit_code(conversion)


if __name__ == "__main__":
    sys.exit(main())

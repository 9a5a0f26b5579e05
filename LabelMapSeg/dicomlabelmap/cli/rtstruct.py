"""``dicomlabelmap rtstruct``: an RT Structure Set to label maps on its reference series' grid."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DicomLabelMapError
from .common import (
    EXIT_PARTIAL,
    check_input_file,
    check_label_output,
    check_output_folder,
    check_seg_folder,
    exit_for,
    output_folder,
    progress_bar,
)
from .options import (
    add_compression_option,
    add_image_option,
    add_missing_slices_option,
    add_reference_option,
    add_scheme_options,
    add_seg_options,
    check_seg_encoding,
    decode_image,
    scheme,
    seg_options,
    subcommand,
    write_image,
)

if TYPE_CHECKING:
    from ..model.scheme import LabelScheme
    from ..rtstruct.conversion import RtStructConversion
    from ..rtstruct.rasterize import RasterOptions

FORMATS = ("label-file", "labelmap-seg", "both", "coco-rle")


def add_parser(commands: Any) -> None:
    parser = subcommand(
        commands,
        "rtstruct",
        help="convert an RT Structure Set to a label map on its reference series' grid",
        description="Convert an RT Structure Set to label maps exactly on the reference series' grid "
        "(never cropped or resampled), with keyholes, nested contours and CLOSEDPLANAR_XOR holes right.",
    )
    parser.add_argument("rtstruct", type=Path, help="the RT Structure Set file")
    add_reference_option(parser, required=True)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="output file: .seg.nrrd, .nrrd, .nii.gz or .nii (type from the suffix); a folder with --format labelmap-seg/both "
        "or --split-rois; a .json file with --format coco-rle",
    )
    parser.add_argument(
        "--format",
        choices=list(FORMATS),
        default="label-file",
        help="label-file: -o's type; labelmap-seg: DICOM Label Map SEG in the -o folder; both: Label Map SEG and labels.seg.nrrd "
        "in the -o folder; coco-rle: per-slice COCO run-length masks (needs pycocotools)",
    )
    parser.add_argument(
        "--split-rois",
        action="store_true",
        help="one binary mask file per label (ROI) in the -o folder, named from the scheme or the ROI, with labels.json",
    )
    parser.add_argument(
        "--mask-suffix", choices=[".nii.gz", ".nrrd", ".nii", ".seg.nrrd"], default=".nii.gz", help="file type of --split-rois masks"
    )
    add_scheme_options(parser)
    parser.add_argument("--series-uid", help="Series Instance UID of the reference series, when the folder holds several")
    add_raster_options(parser)
    parser.add_argument(
        "--split-layers",
        action="store_true",
        help="for .nrrd/.nii.gz: write overlapping segments to one file per layer (NAME_layer1, NAME_layer2, ...)",
    )
    add_compression_option(parser)
    add_seg_options(parser, what="with --format labelmap-seg/both: ")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout instead of a table")
    parser.add_argument(
        "--preview", type=Path, metavar="PNG", help="also draw a few slices with contours over the masks into this .png (needs matplotlib)"
    )
    add_image_option(parser)
    parser.set_defaults(handler=run)


def add_raster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--slice-tolerance", type=float, metavar="MM", help="farthest a contour may lie from a slice (default: half the slice spacing)"
    )
    parser.add_argument(
        "--planarity-tolerance",
        type=float,
        metavar="MM",
        help="largest spread of a contour along the slice normal (default: a tenth of the slice spacing)",
    )
    parser.add_argument("--no-mark-small", action="store_true", help="do not set the voxels along contours that enclose no voxel centre")
    add_skip_option(parser)
    add_missing_slices_option(parser)


def add_skip_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-bad-contours",
        action="store_true",
        help="leave out contours that cannot be used (not planar, tilted, absurd or unreadable coordinates), each reported, "
        "and convert the ROI from the rest (default: such a contour fails its ROI)",
    )


def raster_options(arguments: argparse.Namespace) -> RasterOptions:
    from ..rtstruct.rasterize import RasterOptions

    return RasterOptions(
        slice_tolerance_mm=arguments.slice_tolerance,
        planarity_tolerance_mm=arguments.planarity_tolerance,
        mark_unfilled_contours=not arguments.no_mark_small,
        skip_bad_contours=arguments.skip_bad_contours,
    )


def run(arguments: argparse.Namespace) -> int:
    check_input_file(arguments.rtstruct, "the RT Structure Set file")
    _check_outputs(arguments)
    chosen = scheme(arguments)  # read before the work: a wrong scheme fails at once
    conversion = convert(
        arguments.rtstruct, arguments.reference, raster_options(arguments), arguments.series_uid, arguments.allow_missing_slices, chosen
    )
    image = decode_image(conversion.reference) if arguments.image is not None else None
    written = _write_outputs(arguments, conversion)
    extra: dict[str, Any] = {}
    if arguments.preview:
        from ..files.preview import write_preview

        extra["preview"] = str(write_preview(conversion, arguments.preview, overwrite=arguments.overwrite))
        print_preview_notes(conversion)
    if image is not None:
        extra["image"] = write_image(image, arguments.image, arguments.overwrite, arguments.compression_level)
    print_report(conversion, written, arguments.json, extra)
    return exit_code(conversion)


def _check_outputs(arguments: argparse.Namespace) -> None:
    """Refuse outputs that cannot be written, and outputs whose optional package is missing,
    before any work is done."""
    from ..errors import require
    from ..outputs import check_output_file

    output, kind = arguments.output, arguments.format
    if arguments.split_rois and kind != "label-file":
        raise DicomLabelMapError(f"--split-rois writes mask files; it cannot be combined with --format {kind}")
    if arguments.split_rois or kind in ("labelmap-seg", "both"):
        from ..files.labelfiles import LABEL_FILE_SUFFIXES
        from ..outputs import double_suffix

        option = "--split-rois" if arguments.split_rois else f"--format {kind}"
        if (output.exists() and not output.is_dir()) or double_suffix(output) in (*LABEL_FILE_SUFFIXES, ".json", ".dcm"):
            raise DicomLabelMapError(f"-o {output} names a file; {option} writes into a folder")
        if arguments.split_rois:
            from ..files.labelfiles import check_label_format

            check_output_folder(output)
            check_label_format(Path("mask" + arguments.mask_suffix))
        else:
            check_seg_folder(output, arguments.overwrite)
            check_seg_encoding(arguments)
        if kind == "both":
            from ..files.labeltables import check_table_outputs

            check_output_file(output / "labels.seg.nrrd", arguments.overwrite)
            check_table_outputs(output / "labels.seg.nrrd")
    elif kind == "coco-rle":
        if output.suffix.lower() != ".json":
            raise DicomLabelMapError(f"-o {output}: COCO masks are a JSON file; give a name ending in .json")
        check_output_file(output, arguments.overwrite)
        require("pycocotools", "pycocotools", "COCO run-length masks (--format coco-rle)")
    else:
        from ..files.labeltables import check_table_outputs

        check_label_output(output, arguments.overwrite)
        check_table_outputs(output)
    if arguments.image is not None:
        from ..files.imagefiles import check_image_output

        check_image_output(arguments.image, arguments.overwrite)
    if arguments.preview is not None:
        if arguments.preview.suffix.lower() != ".png":
            raise DicomLabelMapError(f"--preview {arguments.preview}: the preview is a PNG image; give a file name ending in .png")
        check_output_file(arguments.preview, arguments.overwrite)
        require("matplotlib", "matplotlib", "drawing a preview (--preview)")


def _write_outputs(arguments: argparse.Namespace, conversion: RtStructConversion) -> list[Path]:
    """What ``rtstruct`` writes, by ``--format`` and ``--split-rois``."""
    output, kind = arguments.output, arguments.format
    if arguments.split_rois:
        from ..files.maskfiles import write_label_masks

        return write_label_masks(conversion, output_folder(output), arguments.mask_suffix, arguments.overwrite, arguments.compression_level)
    if kind == "coco-rle":
        from ..files.coco import write_coco

        return [write_coco(conversion, output, arguments.overwrite)]
    if kind == "label-file":
        from ..files.labelfiles import write_label_file

        return write_label_file(
            output,
            conversion.label_volumes,
            arguments.overwrite,
            arguments.split_layers,
            arguments.compression_level,
            absent_labels=conversion.absent_labels(),
        )
    from ..seg.writer import write_label_map_segs

    folder = output_folder(output)
    written = []
    with progress_bar() as progress:
        written += write_label_map_segs(
            conversion.label_volumes, conversion.reference, folder, seg_options(arguments), arguments.overwrite, progress
        )
    if kind == "both":
        from ..files.labelfiles import write_label_file

        written += write_label_file(
            folder / "labels.seg.nrrd",
            conversion.label_volumes,
            arguments.overwrite,
            False,
            arguments.compression_level,
            absent_labels=conversion.absent_labels(),
        )
    return written


def convert(
    rtstruct: Path,
    reference: Sequence[Path],
    options: RasterOptions,
    series_uid: str | None = None,
    allow_missing_slices: bool = False,
    chosen: LabelScheme | None = None,
) -> RtStructConversion:
    """The conversion, with a progress bar; refuses when no ROI could be converted or selected."""
    from ..findings import Severity
    from ..rtstruct.conversion import rtstruct_to_labels

    with progress_bar() as progress:
        # Two processes draw the ROIs of a large structure set (the library's default is one).
        conversion = rtstruct_to_labels(rtstruct, reference, series_uid, options, progress, allow_missing_slices, chosen, processes=2)
    if not any(roi.converted for roi in conversion.rois) and conversion.rois:
        failures = "; ".join(str(f) for f in conversion.findings if f.severity is Severity.ERROR)
        raise DicomLabelMapError(f"no ROI of {rtstruct} could be converted: {failures}")
    reason = conversion.nothing_selected()
    if reason is not None:
        raise DicomLabelMapError(f"{rtstruct}: {reason}")
    return conversion


def print_report(conversion: RtStructConversion, written: list[Path], as_json: bool, extra: dict[str, Any] | None = None) -> None:
    from ..files.report import format_conversion

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
            print(f"Wrote {value['path'] if isinstance(value, dict) else value} ({key})")


def print_preview_notes(conversion: RtStructConversion) -> None:
    """Say where the preview's colours differ from the labels' (two labels sharing a colour)."""
    import sys

    from ..files.preview import preview_legend

    for entry in preview_legend(conversion):
        if entry.note:
            print(f"dicomlabelmap: note: preview: {entry.note}", file=sys.stderr)


def exit_code(conversion: RtStructConversion) -> int:
    """3 when an ROI failed or another ERROR-level finding stands (the outputs were written), else 0."""
    return EXIT_PARTIAL if conversion.failed_rois else exit_for(conversion.findings)

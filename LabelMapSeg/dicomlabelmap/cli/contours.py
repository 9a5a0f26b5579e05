"""``dicomlabelmap contours``: a segmentation (label file or DICOM SEG) back to an RT Structure Set,
read back and compared voxel for voxel before it is published."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DicomLabelMapError
from .common import EXIT_OK, progress_bar
from .options import add_contour_options, add_missing_slices_option, add_reference_option, add_scheme_options, scheme, subcommand

if TYPE_CHECKING:
    from ..rtstruct.writer import ContourWriteOptions, ContourWriteResult


def add_parser(commands: Any) -> None:
    parser = subcommand(
        commands,
        "contours",
        help="write a segmentation (label file or DICOM SEG) as an RT Structure Set that reads back as the same voxels",
        description="Write label maps or a DICOM SEG as an RT Structure Set on the reference series: one ROI per segment, "
        "outlines strictly between inside and outside voxel centres, holes as keyholes, nested contours or CLOSEDPLANAR_XOR. "
        "The file is read back and every ROI compared voxel for voxel before it is published.",
    )
    parser.add_argument(
        "labels",
        type=Path,
        nargs="+",
        help="a label file (.seg.nrrd, .nrrd, .nii.gz, .nii; its .labels.json/.labels.txt table names the values) "
        "or DICOM SEG file(s)/folder(s) of one series",
    )
    add_reference_option(parser, required=True)
    add_missing_slices_option(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="the RT Structure Set file to write (.dcm)")
    add_contour_options(parser)
    parser.add_argument("--skip-empty", action="store_true", help="leave out segments without voxels (default: ROIs without contours)")
    add_scheme_options(parser)
    parser.add_argument("--series-uid", help="Series Instance UID of the reference series, when -r holds several")
    parser.add_argument("--seg-series-uid", help="Series Instance UID of the Segmentation series, when the input holds several")
    parser.add_argument(
        "--fractional-threshold", type=float, default=0.5, help="FRACTIONAL SEG: fraction of Maximum Fractional Value counted as inside"
    )
    parser.add_argument("--label", default="LabelMapSeg", help="Structure Set Label (at most 16 characters)")
    parser.add_argument("--series-description", default="RT Structure Set", help="Series Description of the new series")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on stdout instead of a table")
    parser.set_defaults(handler=run)


def write_options(arguments: argparse.Namespace) -> ContourWriteOptions:
    from ..rtstruct.writer import ContourWriteOptions

    return ContourWriteOptions.from_words(
        arguments.holes,
        arguments.shape,
        skip_empty=arguments.skip_empty,
        structure_set_label=arguments.label,
        series_description=arguments.series_description,
        processes=2,  # the read-back check of a large set in two processes (the library's default is one)
    )


def run(arguments: argparse.Namespace) -> int:
    from ..export import segmentation_to_rtstruct
    from ..outputs import check_output_file

    output: Path = arguments.output
    if output.is_dir():
        raise DicomLabelMapError(f"-o {output} is a folder; give the RT Structure Set's file name (for example {output / 'RS.dcm'})")
    if output.suffix.lower() != ".dcm":
        raise DicomLabelMapError(f"-o {output}: an RT Structure Set is one DICOM file; give a name ending in .dcm")
    check_output_file(output, arguments.overwrite)
    for path in arguments.labels:
        if not path.exists():
            raise DicomLabelMapError(f"{path}: no such file or folder")
    chosen = scheme(arguments)  # read before the work: a wrong scheme fails at once
    options = write_options(arguments)
    with progress_bar() as progress:
        result, labels = segmentation_to_rtstruct(
            arguments.labels,
            arguments.reference,
            output,
            options,
            chosen,
            arguments.series_uid,
            arguments.seg_series_uid,
            arguments.fractional_threshold,
            arguments.overwrite,
            progress,
            arguments.allow_missing_slices,
        )
    for note in labels.notes:
        print(f"note: {note}", file=sys.stderr)
    if arguments.json:
        print(json.dumps(dict(result.to_dict(), reference=labels.reference.series_instance_uid, notes=labels.notes), indent=2))
    else:
        print(format_result(result))
    return EXIT_OK


_COLUMNS = (
    ("number", "ROI", ">"),
    ("name", "Name", "<"),
    ("interpreted_type", "Type", "<"),
    ("segments", "Segments", ">"),
    ("contours", "Contours", ">"),
    ("points", "Points", ">"),
    ("pieces", "Pieces", ">"),
    ("holes", "Holes", ">"),
    ("slices", "Slices", ">"),
    ("voxels", "Voxels", ">"),
    ("round_trip", "Round trip", "<"),
)


def format_result(result: ContourWriteResult) -> str:
    """The report: one line per ROI, then what was left out and the findings."""
    from ..files.report import display_width

    cells = [[title for _, title, _ in _COLUMNS]]
    for roi in result.rois:
        values = dict(roi.to_dict(), segments=", ".join(str(n) for n in roi.segment_numbers))
        cells.append([str(values[key]) for key, _, _ in _COLUMNS])
    widths = [max(display_width(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    lines = []
    for line in cells:
        padded = []
        for text, width, (_, _, align) in zip(line, widths, _COLUMNS, strict=True):
            padding = " " * (width - display_width(text))
            padded.append(padding + text if align == ">" else text + padding)
        lines.append("  ".join(padded).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    header = f"RT Structure Set: {len(result.rois)} ROI(s), holes as {result.options.holes.value}, {result.options.shape.value} outlines"
    lines = [header, "", *lines]
    if result.left_out:
        lines += ["", "Not written:"] + [f"  segment {number} '{name}': {reason}" for number, name, reason in result.left_out]
    if result.findings:
        lines += ["", "Findings:"] + [f"  {finding}" for finding in result.findings]
    lines += ["", f"Wrote {result.path} (read back: every ROI identical to its segment)"]
    return "\n".join(lines)

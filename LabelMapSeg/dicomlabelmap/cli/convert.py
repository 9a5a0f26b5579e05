"""``dicomlabelmap convert``: a BINARY/FRACTIONAL SEG to Label Map SEG."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import check_seg_folder, exit_for, output_folder, progress_bar, sizes
from .options import add_reference_option, add_seg_options, check_seg_encoding, seg_options, subcommand


def add_parser(commands: Any) -> None:
    parser = subcommand(
        commands, "convert", help="convert a BINARY/FRACTIONAL SEG to Label Map SEG, keeping segment numbers, names, colours, codes"
    )
    parser.add_argument("seg", type=Path, help="the Segmentation file")
    add_reference_option(parser, default_note="default: rebuilt from the SEG")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--fractional-threshold", type=float, default=0.5, help="FRACTIONAL: fraction of Maximum Fractional Value counted as inside"
    )
    add_seg_options(parser)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    from ..dicom.scan import read_reference_series
    from ..seg.convert import convert_to_label_map_seg

    check_seg_folder(arguments.output, arguments.overwrite)
    check_seg_encoding(arguments)
    reference = read_reference_series(arguments.reference) if arguments.reference else None
    with progress_bar() as progress:
        contents, paths = convert_to_label_map_seg(
            arguments.seg,
            output_folder(arguments.output),
            reference,
            seg_options(arguments),
            arguments.fractional_threshold,
            arguments.overwrite,
            progress,
        )
    for finding in contents.findings:
        print(f"  {finding}", file=sys.stderr)
    numbers = ", ".join(f"{s.number} '{s.label}'" for s in contents.segments)
    print(f"{contents.segmentation_type} SEG ({arguments.seg.stat().st_size:,} bytes) -> {sizes(paths)}; segments kept: {numbers}")
    return exit_for(contents.findings)

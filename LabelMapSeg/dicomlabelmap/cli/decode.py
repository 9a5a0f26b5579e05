"""``dicomlabelmap decode``: a Segmentation series (LABELMAP, BINARY, FRACTIONAL) into a label file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import DicomLabelMapError
from .common import check_label_output, exit_for, sizes
from .options import (
    add_compression_option,
    add_image_option,
    add_missing_slices_option,
    add_reference_option,
    decode_image,
    subcommand,
    write_image,
)


def add_parser(commands: Any) -> None:
    parser = subcommand(
        commands,
        "decode",
        help="read a SEG series (LABELMAP, BINARY, FRACTIONAL) into a label file",
        description="Read a Segmentation into a label file: one file, several files or a folder holding one series "
        "(a Label Map SEG series has one instance per label layer; all become layers of one .seg.nrrd).",
    )
    parser.add_argument("seg", type=Path, nargs="+", help="Segmentation file(s) or folder(s) holding one series")
    add_reference_option(parser, default_note="default: the grid of the SEG's own frames")
    add_missing_slices_option(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="output file: .seg.nrrd, .nrrd, .nii.gz or .nii")
    parser.add_argument("--series-uid", help="Series Instance UID of the Segmentation series, when the folder holds several")
    parser.add_argument(
        "--fractional-threshold",
        type=float,
        default=0.5,
        help="FRACTIONAL: fraction of Maximum Fractional Value counted as inside (default 0.5)",
    )
    parser.add_argument("--split-layers", action="store_true", help="for .nrrd/.nii.gz: one file per layer (NAME_layer1, NAME_layer2, ...)")
    add_compression_option(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_image_option(parser)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    from ..dicom.scan import read_reference_series
    from ..files.labelfiles import write_label_file
    from ..seg.series import read_seg_series

    check_label_output(arguments.output, arguments.overwrite)
    if arguments.image is not None:
        from ..files.imagefiles import check_image_output

        if not arguments.reference:
            raise DicomLabelMapError("--image writes the reference series: give it with -r/--reference")
        check_image_output(arguments.image, arguments.overwrite)
    reference = (
        read_reference_series(arguments.reference, allow_missing_slices=arguments.allow_missing_slices) if arguments.reference else None
    )
    # JPEG 2000 frames decoded in two processes (the library's default is one)
    series = read_seg_series(arguments.seg, reference, arguments.series_uid, arguments.fractional_threshold, processes=2)
    if reference is not None and arguments.image is not None and not series.geometry.is_close(reference.geometry, 1e-6):
        raise DicomLabelMapError("the label maps are not on the reference series' grid, so --image would not match them")
    image = decode_image(reference) if arguments.image is not None else None
    written = write_label_file(arguments.output, series.volumes, arguments.overwrite, arguments.split_layers, arguments.compression_level)
    if image is not None:
        written.append(Path(write_image(image, arguments.image, arguments.overwrite, arguments.compression_level)["path"]))
    for finding in (reference.findings if reference is not None else []) + series.findings:
        print(f"  {finding}", file=sys.stderr)
    kinds = "/".join(sorted({content.segmentation_type for content in series.contents}))
    print(
        f"{kinds} SEG ({len(series.contents)} instance(s)), {len(series.segments)} segment(s) in {len(series.volumes)} layer(s), "
        f"grid {series.geometry.shape}: wrote {sizes(written)}"
    )
    return exit_for(series.findings)

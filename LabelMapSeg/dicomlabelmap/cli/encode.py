"""``dicomlabelmap encode``: label maps to Label Map SEG on a reference series."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import check_input_file, check_seg_folder, exit_for, output_folder, progress_bar, sizes
from .options import add_reference_option, add_seg_options, check_seg_encoding, seg_options, subcommand


def add_parser(commands: Any) -> None:
    parser = subcommand(commands, "encode", help="write label maps (.seg.nrrd, .nrrd, .nii.gz) as Label Map SEG on a reference series")
    parser.add_argument("labels", type=Path, help="label file: .seg.nrrd, .nrrd, .nii.gz or .nii")
    add_reference_option(parser, required=True)
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder (one file per label layer)")
    parser.add_argument(
        "--metadata",
        type=Path,
        metavar="JSON",
        help="segment names, codes, colours and algorithm: a label scheme (--roi-map format) or dcmqi's --inputMetadata JSON",
    )
    add_seg_options(parser)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    check_input_file(arguments.labels, "the label file (.seg.nrrd, .nrrd, .nii.gz or .nii)")
    check_seg_folder(arguments.output, arguments.overwrite)
    check_seg_encoding(arguments)
    from ..dicom.scan import read_reference_series
    from ..files.labelfiles import read_label_file
    from ..seg.writer import write_label_map_segs

    header: dict[str, Any] = {}
    if arguments.metadata is not None:
        from ..seg.metadata import apply_metadata, load_metadata

        metadata = load_metadata(arguments.metadata)
    volumes = read_label_file(arguments.labels)
    if arguments.metadata is not None:
        volumes, header, notes = apply_metadata(volumes, metadata)
        for note in notes:
            print(f"  {note}", file=sys.stderr)
    with progress_bar() as progress:
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
        options = seg_options(arguments, header)
        paths = write_label_map_segs(placed, reference, output_folder(arguments.output), options, arguments.overwrite, progress)
    print(f"Wrote and verified {len(paths)} Label Map SEG instance(s): {sizes(paths)}")
    return exit_for(reference.findings)

"""``dicomlabelmap encode``: label maps to Label Map SEG on a reference series."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from .common import check_input_file, check_seg_folder, exit_for, output_folder, progress_bar, sizes
from .options import add_missing_slices_option, add_reference_option, add_seg_options, check_seg_encoding, seg_options, subcommand


def add_parser(commands: Any) -> None:
    parser = subcommand(commands, "encode", help="write label maps (.seg.nrrd, .nrrd, .nii.gz) as Label Map SEG on a reference series")
    parser.add_argument("labels", type=Path, help="label file: .seg.nrrd, .nrrd, .nii.gz or .nii")
    add_reference_option(parser, required=True)
    add_missing_slices_option(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder (one file per label layer)")
    parser.add_argument(
        "--metadata",
        type=Path,
        metavar="JSON",
        help="segment names, codes, colours and algorithm: a label scheme (--roi-map format), a label table (<name>.labels.json) "
        "or dcmqi's --inputMetadata JSON (default: the label table beside a .nii.gz/.nrrd label file, when there is one)",
    )
    add_seg_options(parser)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    check_input_file(arguments.labels, "the label file (.seg.nrrd, .nrrd, .nii.gz or .nii)")
    check_seg_folder(arguments.output, arguments.overwrite)
    check_seg_encoding(arguments)
    from ..dicom.processes import alongside
    from ..dicom.scan import read_reference_series
    from ..files.labelfiles import read_label_file
    from ..seg.metadata import apply_metadata, load_metadata
    from ..seg.writer import write_label_map_segs

    header: dict[str, Any] = {}
    sidecar = _sidecar(arguments.labels) if arguments.metadata is None else None
    metadata = None
    if arguments.metadata is not None:
        metadata = load_metadata(arguments.metadata)
    elif sidecar is not None:
        metadata = load_metadata(sidecar, label_file=arguments.labels.name)
        print(f"note: segment names, colours and codes from {sidecar} (the label table beside the label file)", file=sys.stderr)
    with progress_bar() as progress:
        # The label file is read by a thread while this one reads the reference headers.
        volumes, reference = alongside(
            partial(read_label_file, arguments.labels),
            partial(read_reference_series, arguments.reference, progress=progress, allow_missing_slices=arguments.allow_missing_slices),
        )
        if metadata is not None:
            volumes, header, notes = apply_metadata(volumes, metadata)
            for note in notes:
                print(f"  {note}", file=sys.stderr)
        told = len(reference.findings)
        for finding in reference.findings:
            print(f"  {finding}", file=sys.stderr)
        placed = [volume.on_grid(reference.geometry) for volume in volumes]  # same lattice in another axis order: reoriented
        if any(mine is not theirs for mine, theirs in zip(placed, volumes, strict=True)):
            print(
                "note: the label map's axes are ordered or directed differently from the reference series; "
                "they were swapped/reversed to match (no resampling)",
                file=sys.stderr,
            )
        # A second process encodes half of the JPEG-LS / JPEG 2000 frames (the library's default is one).
        options = replace(seg_options(arguments, header), processes=2)
        paths = write_label_map_segs(placed, reference, output_folder(arguments.output), options, arguments.overwrite, progress)
    for finding in reference.findings[told:]:  # what writing added (a new Frame of Reference)
        print(f"  {finding}", file=sys.stderr)
    print(f"Wrote and verified {len(paths)} Label Map SEG instance(s): {sizes(paths)}")
    return exit_for(reference.findings)


def _sidecar(label_file: Path) -> Path | None:
    """The label table beside a ``.nii.gz``/``.nii``/``.nrrd`` label file (``<file name>.labels.json``),
    if there is one. A ``.seg.nrrd`` names its segments itself: its own header wins (a table
    beside it may be older than edits made in Slicer)."""
    from ..files.labeltables import found_table
    from ..outputs import double_suffix

    if double_suffix(label_file) == ".seg.nrrd":
        return None
    return found_table(label_file, ".labels.json")

"""``dicomlabelmap demo``: a built-in synthetic CT and RT Structure Set, converted."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import DicomLabelMapError
from .options import subcommand
from .rtstruct import convert, exit_code, print_report


def add_parser(commands: Any) -> None:
    parser = subcommand(
        commands,
        "demo",
        help="write a built-in synthetic CT + RT Structure Set (keyhole, nested and XOR holes) and convert it",
    )
    parser.add_argument("output_dir", type=Path, help="folder to write the demo data and results into")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    from ..files.labelfiles import write_label_file
    from ..rtstruct.rasterize import RasterOptions
    from ..synthetic import write_demo_case

    output_dir: Path = arguments.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    ct_folder, rtstruct_path = write_demo_case(output_dir / "dicom")
    conversion = convert(rtstruct_path, [ct_folder], RasterOptions())
    written = write_label_file(output_dir / "demo.seg.nrrd", conversion.label_volumes, overwrite=True)
    extra = {}
    try:
        from ..files.preview import write_preview

        extra["preview"] = str(write_preview(conversion, output_dir / "demo_preview.png", overwrite=True))
    except DicomLabelMapError as error:  # matplotlib missing: the demo still stands
        print(f"dicomlabelmap: note: no preview ({error})", file=sys.stderr)
    print_report(conversion, written, arguments.json, extra)
    return exit_code(conversion)

"""``dicomlabelmap demo``: a built-in synthetic CT and RT Structure Set, converted."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import OutputError
from .common import check_output_folder, output_folder
from .options import subcommand
from .rtstruct import convert, exit_code, print_preview_notes, print_report

LABELS, PREVIEW, DICOM = "demo.seg.nrrd", "demo_preview.png", "dicom"


def add_parser(commands: Any) -> None:
    parser = subcommand(
        commands,
        "demo",
        help="write a built-in synthetic CT + RT Structure Set (keyhole, nested and XOR holes) and convert it",
    )
    parser.add_argument("output_dir", type=Path, help="folder to write the demo data and results into (new, empty, or an earlier demo's)")
    parser.add_argument("--overwrite", action="store_true", help="write over an earlier demo output in that folder")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def demo_names() -> set[str]:
    """What the demo writes into its folder."""
    from ..files.labeltables import table_paths

    return {DICOM, LABELS, PREVIEW, *(path.name for path in table_paths(Path(LABELS)))}


def check_demo_folder(folder: Path, overwrite: bool) -> None:
    """An empty or new folder, or (with ``--overwrite``) one holding only an earlier demo's output."""
    check_output_folder(folder)
    if not folder.is_dir():
        return
    present = {entry.name for entry in folder.iterdir()}
    foreign = sorted(present - demo_names())
    if foreign:
        raise OutputError(
            f"{folder} holds files the demo did not write ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); "
            "give a new or empty folder"
        )
    if present and not overwrite:
        raise OutputError(f"{folder} holds an earlier demo output; use --overwrite to write it again")


def run(arguments: argparse.Namespace) -> int:
    from ..files.labelfiles import write_label_file
    from ..rtstruct.rasterize import RasterOptions
    from ..synthetic import write_demo_case

    folder: Path = arguments.output_dir
    check_demo_folder(folder, arguments.overwrite)
    draw_preview = _preview_available()
    output_folder(folder)
    ct_folder, rtstruct_path = _write_dicom(folder, write_demo_case)
    conversion = convert(rtstruct_path, [ct_folder], RasterOptions())
    written = write_label_file(folder / LABELS, conversion.label_volumes, overwrite=True)
    extra = {}
    if draw_preview:
        from ..files.preview import write_preview

        extra["preview"] = str(write_preview(conversion, folder / PREVIEW, overwrite=True))
        print_preview_notes(conversion)
    print_report(conversion, written, arguments.json, extra)
    return exit_code(conversion)


def _preview_available() -> bool:
    """matplotlib is optional for the demo: without it, a note and no preview (checked first)."""
    from ..errors import MissingDependencyError, optional_import

    try:
        optional_import("matplotlib", "matplotlib", "drawing a preview")
    except MissingDependencyError as error:
        print(f"dicomlabelmap: note: no preview ({error})", file=sys.stderr)
        return False
    return True


def _write_dicom(folder: Path, write_demo_case: Any) -> tuple[Path, Path]:
    """The demo's DICOM input, written beside and moved into ``folder/dicom`` once complete."""
    from ..outputs import STAGING_PREFIX, os_errors_named, signals_held

    created: list[Path] = []
    try:
        with signals_held(), os_errors_named(folder / DICOM):  # created and remembered in one step
            created.append(Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder)))
        with os_errors_named(folder / DICOM):
            write_demo_case(created[0])
            with signals_held():  # the old input replaced by the new in one step
                shutil.rmtree(folder / DICOM, ignore_errors=True)
                created[0].rename(folder / DICOM)
    finally:
        for path in created:
            shutil.rmtree(path, ignore_errors=True)
    target = folder / DICOM
    return target / "ct", target / "RS_demo.dcm"

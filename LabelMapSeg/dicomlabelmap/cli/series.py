"""``dicomlabelmap series``: the image series found in folders or files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .common import EXIT_ERROR, EXIT_OK
from .options import subcommand


def add_parser(commands: Any) -> None:
    parser = subcommand(
        commands,
        "series",
        help="list the image series found in folders or files",
        description="List the image series found in folders (searched recursively, symbolic links followed) or files: "
        "UIDs, modality, description and image count, then every file left out with its reason.",
    )
    parser.add_argument("paths", type=Path, nargs="+", help="folders or files")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    from ..dicom.scan import scan_series

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

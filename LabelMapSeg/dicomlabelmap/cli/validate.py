"""``dicomlabelmap validate``: check each instance of a Segmentation series against the rules."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import DicomLabelMapError
from .common import EXIT_ERROR, EXIT_OK
from .options import subcommand


def add_parser(commands: Any) -> None:
    parser = subcommand(
        commands,
        "validate",
        help="check a Segmentation against the rules (and with dciodvfy when installed)",
        description="Check each instance of a Segmentation series (files or a folder) against the rules readers rely on: "
        "header vs data (codestream precision, colour table, Pixel Padding Value, frame counts, Spacing Between Slices), "
        "the decoded frames, and dciodvfy when it is installed. Exit code 1 when any error is found.",
    )
    parser.add_argument("seg", type=Path, nargs="+", help="Segmentation file(s) or folder(s) holding one series")
    parser.add_argument("--series-uid", help="Series Instance UID, when the folder holds several series")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    from ..findings import Severity
    from ..seg.series import find_seg_files
    from ..seg.validate import validate_seg

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
        errors = [f for f in findings if f.severity is Severity.ERROR]
        results.append({"file": str(path), "valid": not errors, "findings": [f.to_dict() for f in findings]})
        if not arguments.json:
            for finding in findings:
                print(finding)
            print(f"{path}: {'INVALID' if errors else 'valid'} ({len(errors)} error(s), {len(findings) - len(errors)} warning(s))")
    valid = all(result["valid"] for result in results)
    if arguments.json:
        print(json.dumps(results[0] if len(results) == 1 else {"valid": valid, "files": results}, indent=2))
    return EXIT_OK if valid else EXIT_ERROR

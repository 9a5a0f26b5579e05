"""Readable tables of conversion reports (the plain data comes from ``to_dict``)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from .conversion import RtStructConversion

_COLUMNS = (
    ("roi_number", "ROI", ">"),
    ("name", "Name", "<"),
    ("segment_number", "Seg", ">"),
    ("layer", "Layer", ">"),
    ("contours", "Contours", ">"),
    ("planes", "Planes", ">"),
    ("nested", "Nested", ">"),
    ("xor", "XOR", ">"),
    ("keyhole", "Keyhole", ">"),
    ("points", "Points", ">"),
    ("open", "Open", ">"),
    ("voxels", "Voxels", ">"),
    ("volume_ml", "mL", ">"),
    ("warnings", "Warn", ">"),
    ("status", "Status", "<"),
)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width text table of report rows."""
    cells = [[title for _, title, _ in _COLUMNS]]
    for row in rows:
        values = dict(row, status="ok" if row["converted"] else "FAILED")
        values["layer"] = "" if row["layer"] is None else row["layer"]
        values["segment_number"] = "" if row["segment_number"] is None else row["segment_number"]
        values["volume_ml"] = f"{row['volume_ml']:.2f}"
        cells.append([str(values[key]) for key, _, _ in _COLUMNS])
    widths = [max(display_width(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    lines = []
    for line in cells:
        lines.append("  ".join(_pad(text, width, align) for text, width, (_, _, align) in zip(line, widths, _COLUMNS, strict=True)).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def display_width(text: str) -> int:
    """Columns a terminal gives ``text``: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 0 if unicodedata.combining(c) else 1 for c in text)


def _pad(text: str, width: int, align: str) -> str:
    padding = " " * max(0, width - display_width(text))
    return padding + text if align == ">" else text + padding


def format_conversion(conversion: RtStructConversion) -> str:
    """Report of an RT Structure Set conversion: grid, table, findings."""
    data = conversion.to_dict()
    reference = data["reference"]
    shape = " x ".join(str(n) for n in reference["shape"])
    spacing = " x ".join(f"{s:g}" for s in reference["spacing"])
    lines = [
        f"Reference: {reference['modality']} series {reference['series_instance_uid']} "
        f"('{reference['series_description']}'), grid {shape} (slices x rows x columns), spacing {spacing} mm (i, j, k)",
        f"Label layers: {data['layers']}",
        "",
        format_table(data["rois"]),
    ]
    findings = [str(f) for f in conversion.findings]
    if findings:
        lines += ["", "Findings:"] + [f"  {text}" for text in findings]
    return "\n".join(lines)

"""Readable tables of conversion reports (the plain data comes from ``to_dict``)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from ..rtstruct.conversion import RtStructConversion

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


#: Statuses of ROIs a label scheme left out on purpose (not failures).
_LEFT_OUT = ("excluded", "unmatched")


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width text table of report rows (with a Label column when a scheme named them)."""
    columns = list(_COLUMNS)
    if any(row.get("label") for row in rows):
        columns.insert(2, ("label", "Label", "<"))
    cells = [[title for _, title, _ in columns]]
    for row in rows:
        left_out = row.get("status") in _LEFT_OUT
        values = dict(row, status=row["status"] if left_out else "ok" if row["converted"] else "FAILED")
        values["label"] = row.get("label") or ""
        values["layer"] = "" if row["layer"] is None else row["layer"]
        values["segment_number"] = "" if row["segment_number"] is None else row["segment_number"]
        values["volume_ml"] = f"{row['volume_ml']:.2f}"
        if left_out:
            for key in ("planes", "nested", "xor", "keyhole", "points", "open", "voxels", "volume_ml", "warnings"):
                values[key] = ""
        cells.append([display_text(str(values[key])) for key, _, _ in columns])
    widths = [max(display_width(line[i]) for line in cells) for i in range(len(columns))]
    lines = []
    for line in cells:
        lines.append("  ".join(pad(text, width, align) for text, width, (_, _, align) in zip(line, widths, columns, strict=True)).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def display_width(text: str) -> int:
    """Columns a terminal gives ``text``: East Asian wide and full-width characters (CJK, Hangul,
    emoji) take two; combining marks and invisible format characters (a zero-width joiner) none."""
    return sum(_char_width(c) for c in text)


def _char_width(character: str) -> int:
    if unicodedata.category(character) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(character) in ("W", "F") else 1


def display_text(text: str) -> str:
    """``text`` for one table cell: control characters (a tab or line break inside an ROI name)
    shown as escapes, so that they neither move the columns nor break the line."""
    if not any(unicodedata.category(c) == "Cc" for c in text):
        return text
    return "".join(c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) == "Cc" else c for c in text)


def pad(text: str, width: int, align: str = "<") -> str:
    """``text`` padded with spaces to ``width`` terminal columns (``align`` ``<`` or ``>``)."""
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
    if "scheme" in data:
        lines += [
            "",
            f"Label scheme {data['scheme']['source']} (overlap: {data['scheme']['overlap']}, unmatched: {data['scheme']['unmatched']}):",
            f"  labels found:   {', '.join(data['labels_found']) or 'none'}",
            f"  labels missing: {', '.join(data['labels_missing']) or 'none'}",
        ]
        for key, title in (("unmatched_rois", "unmatched ROIs"), ("excluded_rois", "excluded ROIs")):
            if data[key]:
                lines.append(f"  {title}: {', '.join(data[key])}")
    findings = [str(f) for f in conversion.findings]
    if findings:
        lines += ["", "Findings:"] + [f"  {text}" for text in findings]
    return "\n".join(lines)

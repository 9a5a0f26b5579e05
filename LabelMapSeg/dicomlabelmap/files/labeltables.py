"""Label tables beside label files: what each value means, for tools that do not read DICOM or
``.seg.nrrd`` headers (nnU-Net, MONAI, ITK-SNAP, plain numpy).

For ``labels.nii.gz`` (or ``.nrrd``, ``.seg.nrrd``) two files are written beside it:

* ``labels.nii.gz.labels.txt``: an ITK-SNAP label description file (Segmentation > Import Label
  Descriptions): ``IDX R G B A VIS MSH "LABEL"``, index 0 "Clear Label" first;
* ``labels.nii.gz.labels.json``: ``{"labels": [{"value", "name", "color", "layer", "file",
  "roi_names", "roi_numbers", "category", "type", "description"}]}``, one entry per label value.

The tables are named from the label file's whole name, so that ``lung1.seg.nrrd`` and
``lung1.nii.gz`` in one folder each keep their own, and they belong to it: they are written (and
replaced) whenever it is, never a reason to refuse (the label file itself needs ``overwrite``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..model.labels import LabelVolume
from ..model.segment import Code, Segment
from ..outputs import atomic_output, check_output_file

TABLE_SUFFIXES = (".labels.txt", ".labels.json")
_ITKSNAP_LINE = re.compile(r'^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([0-9.]+)\s+([01])\s+([01])\s+"(.*)"\s*$')


def table_paths(label_file: Path) -> list[Path]:
    """The label table files beside ``label_file`` (ITK-SNAP text, JSON), named from its whole
    name: ``lung1.nii.gz`` -> ``lung1.nii.gz.labels.txt``, ``lung1.nii.gz.labels.json``."""
    return [label_file.with_name(label_file.name + suffix) for suffix in TABLE_SUFFIXES]


def check_table_outputs(label_file: Path) -> None:
    """Refuse, before any work, label tables that cannot be written (a folder in their place, a
    place that cannot be written). Existing tables are no reason: they belong to the label file
    and are replaced with it."""
    for path in table_paths(label_file):
        check_output_file(path, overwrite=True)


def table_entries(volumes: Sequence[LabelVolume], files: Sequence[Path] | None = None) -> list[dict[str, Any]]:
    """One entry per label value, ascending (``files[layer]`` names the file holding the layer)."""
    entries = []
    for layer, volume in enumerate(volumes):
        for segment in volume.segments:
            entry = segment_entry(segment)
            entry["layer"] = layer + 1
            if files is not None:
                entry["file"] = files[min(layer, len(files) - 1)].name
            entries.append(entry)
    return sorted(entries, key=lambda entry: entry["value"])


def segment_entry(segment: Segment) -> dict[str, Any]:
    """The table entry of one segment (ROI names and numbers when it came from ROIs)."""
    properties = segment.properties
    entry: dict[str, Any] = {"value": segment.number, "name": segment.label, "color": list(segment.display_color())}
    if "RoiNumber" in properties:
        entry["roi_names"] = roi_names(segment)
        entry["roi_numbers"] = [int(n) for n in properties["RoiNumber"].split(",") if n.strip().lstrip("-").isdigit()]
    entry["category"] = _code(segment.category)
    entry["type"] = _code(segment.type)
    if segment.description:
        entry["description"] = segment.description
    return entry


def roi_names(segment: Segment) -> list[str]:
    """The names of the ROIs a segment came from (a JSON list in the ``RoiNames`` property when a
    scheme renamed or united them; else the segment's own name)."""
    text = segment.properties.get("RoiNames")
    if text:
        try:
            names = json.loads(text)
        except json.JSONDecodeError:
            names = None
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return names
    return [segment.label]


def _code(code: Code | None) -> list[str] | None:
    return None if code is None else [code.value, code.scheme, code.meaning]


def itksnap_text(entries: Sequence[dict[str, Any]]) -> str:
    """An ITK-SNAP label description file for the entries (names with ``"`` get ``'``, as the
    format has no escape)."""
    lines = [
        "################################################",
        "# ITK-SnAP Label Description File",
        "# written by dicomlabelmap",
        "# File format:",
        "# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL",
        "# Fields:",
        "#    IDX:   Zero-based index",
        "#    -R-:   Red color component (0..255)",
        "#    -G-:   Green color component (0..255)",
        "#    -B-:   Blue color component (0..255)",
        "#    -A-:   Label transparency (0.00 .. 1.00)",
        "#    VIS:   Label visibility (0 or 1)",
        "#    MSH:   Label mesh visibility (0 or 1)",
        "#  LABEL:   Label description",
        "################################################",
        '    0     0    0    0        0  0  0    "Clear Label"',
    ]
    for entry in entries:
        red, green, blue = entry["color"]
        name = " ".join(str(entry["name"]).replace('"', "'").split())
        lines.append(f'{entry["value"]:>5} {red:>5} {green:>4} {blue:>4}        1  1  1    "{name}"')
    return "\n".join(lines) + "\n"


def read_itksnap(text: str) -> dict[int, tuple[tuple[int, int, int], str]]:
    """``value -> (rgb, name)`` of an ITK-SNAP label description file (comments skipped)."""
    table = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found = _ITKSNAP_LINE.match(line)
        if found is None:
            raise ValueError(f"line {number} is not an ITK-SNAP label description: {line!r}")
        value, red, green, blue = (int(found.group(i)) for i in range(1, 5))
        table[value] = ((red, green, blue), found.group(8))
    return table


def write_label_tables(label_file: Path, entries: Sequence[dict[str, Any]]) -> list[Path]:
    """Write the ITK-SNAP and JSON tables beside ``label_file`` (replacing earlier ones: they
    belong to it); each file appears complete or not at all."""
    text_path, json_path = table_paths(label_file)
    with atomic_output(text_path, overwrite=True) as temporary:
        temporary.write_text(itksnap_text(entries), encoding="utf-8")
    with atomic_output(json_path, overwrite=True) as temporary:
        temporary.write_text(json.dumps({"labels": list(entries)}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return [text_path, json_path]

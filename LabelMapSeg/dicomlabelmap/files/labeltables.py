"""Label tables beside label files: what each value means, for tools that do not read DICOM or
``.seg.nrrd`` headers (nnU-Net, MONAI, ITK-SNAP, plain numpy).

For ``labels.nii.gz`` (or ``.nrrd``, ``.seg.nrrd``) two files are written beside it:

* ``labels.nii.gz.labels.txt``: an ITK-SNAP label description file (Segmentation > Import Label
  Descriptions): ``IDX R G B A VIS MSH "LABEL"``, index 0 "Clear Label" first;
* ``labels.nii.gz.labels.json``: ``{"labels": [{"value", "name", "present", "color", "layer", "file",
  "roi_names", "roi_numbers", "category", "type", "type_modifier", "anatomic_region",
  "anatomic_region_modifier", "algorithm_type", "algorithm_name", "description", "interpreted_type"}]}``, one entry
  per label value. With a label scheme every label of the scheme is listed in every patient:
  ``present`` says whether it holds voxels in this file (absent labels have no ``layer`` and
  ``file``), so the tables of a data set list the same labels. ``encode`` reads this file back
  as segment metadata (:mod:`~dicomlabelmap.seg.metadata`).

The tables are named from the label file's whole name, so that ``lung1.seg.nrrd`` and
``lung1.nii.gz`` in one folder each keep their own, and they belong to it: they are written (and
replaced) whenever it is, never a reason to refuse (the label file itself needs ``overwrite``).
Readers also find tables named the older way (``lung1.labels.json`` beside ``lung1.nii.gz``),
when no table of the new name is there (:func:`found_table`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import DicomLabelMapError
from ..model.labels import LabelVolume
from ..model.segment import Code, Segment
from ..outputs import atomic_output, check_output_file, double_suffix

TABLE_SUFFIXES = (".labels.txt", ".labels.json")
_ITKSNAP_LINE = re.compile(r'^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([0-9.]+)\s+([01])\s+([01])\s+"(.*)"\s*$')


def table_paths(label_file: Path) -> list[Path]:
    """The label table files beside ``label_file`` (ITK-SNAP text, JSON), named from its whole
    name: ``lung1.nii.gz`` -> ``lung1.nii.gz.labels.txt``, ``lung1.nii.gz.labels.json``."""
    return [label_file.with_name(label_file.name + suffix) for suffix in TABLE_SUFFIXES]


def found_table(label_file: Path, suffix: str) -> Path | None:
    """The table of kind ``suffix`` (``.labels.json`` or ``.labels.txt``) beside ``label_file``:
    the one named from its whole name, else one named the older way, from the name without its
    file type (``lung1.labels.json`` beside ``lung1.nii.gz``, as versions before 2026-12 wrote
    them); ``None`` when there is neither."""
    kind = double_suffix(label_file) or label_file.suffix
    for candidate in (label_file.name, label_file.name[: -len(kind)] if kind else ""):
        path = label_file.with_name(candidate + suffix)
        if candidate and path.is_file():
            return path
    return None


def check_table_outputs(label_file: Path) -> None:
    """Refuse, before any work, label tables that cannot be written (a folder in their place, a
    place that cannot be written). Existing tables are no reason: they belong to the label file
    and are replaced with it."""
    for path in table_paths(label_file):
        check_output_file(path, overwrite=True)


def table_entries(
    volumes: Sequence[LabelVolume], files: Sequence[Path] | None = None, absent: Sequence[Segment] = ()
) -> list[dict[str, Any]]:
    """One entry per label value, ascending (``files[layer]`` names the file holding the layer).

    ``absent``: labels of a scheme that no segment of ``volumes`` holds; listed with
    ``"present": false`` and no layer or file, so that every patient's table lists every label.
    """
    entries = []
    for layer, volume in enumerate(volumes):
        filled = volume.present_numbers()
        for segment in volume.segments:
            entry = segment_entry(segment, segment.number in filled)
            entry["layer"] = layer + 1
            if files is not None:
                entry["file"] = files[min(layer, len(files) - 1)].name
            entries.append(entry)
    listed = {entry["value"] for entry in entries}
    for segment in absent:
        if segment.number not in listed:
            entries.append(dict(segment_entry(segment, False), layer=None, file=None))
    return sorted(entries, key=lambda entry: entry["value"])


def segment_entry(segment: Segment, present: bool = True) -> dict[str, Any]:
    """The table entry of one segment (ROI names and numbers when it came from ROIs); ``present``:
    whether the label holds voxels."""
    properties = segment.properties
    entry: dict[str, Any] = {"value": segment.number, "name": segment.label, "present": present, "color": list(segment.display_color())}
    if "RoiNumber" in properties:
        entry["roi_names"] = roi_names(segment)
        entry["roi_numbers"] = [int(n) for n in properties["RoiNumber"].split(",") if n.strip().lstrip("-").isdigit()]
    entry["category"] = _code(segment.category)
    entry["type"] = _code(segment.type)
    for key in ("type_modifier", "anatomic_region", "anatomic_region_modifier"):
        if getattr(segment, key) is not None:
            entry[key] = _code(getattr(segment, key))
    entry["algorithm_type"] = segment.algorithm_type.value
    if segment.algorithm_name:
        entry["algorithm_name"] = segment.algorithm_name
    if segment.description:
        entry["description"] = segment.description
    if properties.get("RtRoiInterpretedType"):
        entry["interpreted_type"] = properties["RtRoiInterpretedType"]
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


def read_itksnap_table(label_file: Path) -> tuple[dict[int, tuple[tuple[int, int, int], str]], Path | None]:
    """ITK-SNAP's label description file beside a label file (``<name>.labels.txt``): ``value ->
    (rgb, name)`` without the clear label 0, and its path; empty and ``None`` when there is none.

    Raises
    ------
    DicomLabelMapError
        When the file exists but is not a label description file (the message names it and the line).
    """
    text_path = found_table(label_file, ".labels.txt")
    if text_path is None:
        return {}, None
    try:
        table = read_itksnap(text_path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as error:
        raise DicomLabelMapError(f"{text_path}: not a readable ITK-SNAP label description file ({error})") from None
    return {value: entry for value, entry in table.items() if value != 0}, text_path


def apply_itksnap_table(volumes: Sequence[LabelVolume], table: dict[int, tuple[tuple[int, int, int], str]]) -> list[LabelVolume]:
    """The layers with their segments named and coloured by an ITK-SNAP table (values it does
    not list keep their names)."""
    return [
        volume.with_segments(
            [replace(s, label=table[s.number][1] or s.label, color=table[s.number][0]) if s.number in table else s for s in volume.segments]
        )
        for volume in volumes
    ]

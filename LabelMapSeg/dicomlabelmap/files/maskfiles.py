"""One binary mask file per label (``--split-rois``), as plastimatch's ``--output-prefix`` and
dcmrtstruct2nii write them, plus ``labels.json`` saying which file is which label and ROI:
``{"labels": [{"value", "name", "present", "file", "color", "roi_names", "voxels"}]}`` (the key
``labels``, as in every label table). With a label scheme, labels no ROI matched are listed with
``"present": false`` and ``"file": null``.

File names come from the label names (the scheme's, else the ROI's), kept readable in any script:
letters and digits of every script, ``-`` and ``.``; anything else becomes ``_``; names that would
clash on a case-insensitive file system get ``_2``, ``_3``, ... The whole set appears at once
(written in a staging folder, then moved in), so an interrupt leaves the old set or the new one.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..model.labels import LabelVolume
from ..model.segment import Segment
from ..outputs import STAGING_PREFIX, staged_series
from ..rtstruct.conversion import RtStructConversion
from .labelfiles import write_label_file
from .labeltables import roi_names

MASK_TABLE = "labels.json"
_NAME_LIMIT = 100


def file_stem(name: str, fallback: str = "label") -> str:
    """A file name stem from a label name: Unicode letters/digits, ``-`` and ``.``; no leading
    dot; at most 100 characters."""
    text = unicodedata.normalize("NFC", name)
    cleaned = re.sub(r"[^\w.-]+", "_", text).strip("._-")
    cleaned = re.sub(r"_+", "_", cleaned)[:_NAME_LIMIT].rstrip("._-")
    return cleaned or fallback


def mask_file_names(names: Sequence[str], suffix: str) -> list[str]:
    """Distinct file names (compared ignoring case) for the label names, in order."""
    taken: set[str] = {MASK_TABLE.casefold()}
    result = []
    for name in names:
        stem = file_stem(name)
        candidate, number = stem + suffix, 1
        while candidate.casefold() in taken:
            number += 1
            candidate = f"{stem}_{number}{suffix}"
        taken.add(candidate.casefold())
        result.append(candidate)
    return result


def write_label_masks(
    conversion: RtStructConversion, folder: Path, suffix: str = ".nii.gz", overwrite: bool = False, compression_level: int = 1
) -> list[Path]:
    """Write one binary mask (0/1, uint8) per label of ``conversion`` into ``folder``, and
    ``labels.json``; returns the files written (masks, then the table)."""
    items = conversion.label_masks()
    names = mask_file_names([segment.label for segment, _ in items], suffix)
    geometry = conversion.reference.geometry
    table = []
    # labels.json belongs to the set: replaced with it, never a reason to refuse
    with staged_series(folder, [*names, MASK_TABLE], overwrite, f"{STAGING_PREFIX}none", side_files=[MASK_TABLE]) as staging:
        for (segment, mask), name in zip(items, names, strict=True):
            volume = LabelVolume(mask.full().astype(np.uint8), geometry, [replace(segment, number=1, properties=dict(segment.properties))])
            write_label_file(staging / name, [volume], compression_level=compression_level, label_table=False)
            table.append(_entry(segment, name, mask.voxel_count))
        table += [_entry(segment, None, 0) for segment in conversion.absent_labels()]
        table.sort(key=lambda entry: entry["value"])
        (staging / MASK_TABLE).write_text(json.dumps({"labels": table}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return [folder / name for name in [*names, MASK_TABLE]]


def _entry(segment: Segment, file: str | None, voxels: int) -> dict[str, Any]:
    return {
        "value": segment.number,
        "name": segment.label,
        "present": voxels > 0,
        "file": file,
        "color": list(segment.display_color()),
        "roi_names": roi_names(segment) if file is not None else [],
        "voxels": voxels,
    }

"""Per-slice COCO run-length masks of an RT Structure Set conversion (detectron2, pycocotools).

One JSON per structure set: ``images`` are the reference slices (``id`` = the slice's SOP
Instance UID, ``file_name`` = its DICOM file, relative to the folder of the JSON file, as COCO
readers resolve it against an image root), ``categories`` are the labels (``id`` = label value),
``annotations`` hold one compressed RLE mask (pycocotools' ``mask.encode``; ``size`` = [rows,
columns]) per label and slice where the label has voxels. Masks are the labels' own (before any
priority overlap), so overlapping labels each keep their voxels. DICOM RLE is unrelated.

Needs the optional package ``pycocotools`` (``pip install dicomlabelmap[coco]``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import optional_import
from ..outputs import atomic_output
from ..rtstruct.conversion import RtStructConversion
from .labeltables import roi_names


def coco_dataset(conversion: RtStructConversion, relative_to: str | Path | None = None) -> dict[str, Any]:
    """The COCO dictionary of a conversion (see the module); ``file_name`` relative to the
    folder ``relative_to`` (the JSON file's) when given, else as the slices were found."""
    mask_api = optional_import("pycocotools.mask", "pycocotools", "COCO run-length masks (--format coco-rle)")
    geometry = conversion.reference.geometry
    rows, columns = geometry.shape[1], geometry.shape[2]
    image_ids = [s.sop_instance_uid or f"missing-slice-{k}" for k, s in enumerate(conversion.reference.slices)]
    images = [
        {"id": image_ids[k], "file_name": _file_name(s.path, relative_to), "height": rows, "width": columns, "slice_index": k}
        for k, s in enumerate(conversion.reference.slices)
    ]
    categories = []
    annotations: list[dict[str, Any]] = []
    for segment, mask in conversion.label_masks():
        categories.append(
            {"id": segment.number, "name": segment.label, "color": list(segment.display_color()), "roi_names": roi_names(segment)}
        )
        if mask.is_empty():
            continue
        first = mask.offset[0]
        for local in np.flatnonzero(mask.crop.any(axis=(1, 2))):
            plane = mask.plane(first + int(local))
            encoded = mask_api.encode(np.asfortranarray(plane.astype(np.uint8)))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_ids[first + int(local)],
                    "category_id": segment.number,
                    "segmentation": {"size": [int(n) for n in encoded["size"]], "counts": encoded["counts"].decode("ascii")},
                    "area": int(mask_api.area(encoded)),
                    "bbox": [float(v) for v in mask_api.toBbox(encoded)],
                    "iscrowd": 0,
                }
            )
    return {
        "info": {
            "description": f"RT Structure Set {conversion.structure_set.label or ''}".strip(),
            "rtstruct": str(conversion.structure_set.path or ""),
            "reference_series_instance_uid": conversion.reference.series_instance_uid,
        },
        "images": images,
        "categories": categories,
        "annotations": annotations,
    }


def _file_name(path: Path | None, folder: str | Path | None) -> str:
    if not path or not str(path):
        return ""  # a missing slice (--allow-missing-slices)
    if folder is None:
        return str(path)
    try:
        return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(folder))).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return str(Path(path).absolute())


def write_coco(conversion: RtStructConversion, path: str | Path, overwrite: bool = False) -> Path:
    """Write :func:`coco_dataset` as JSON, ``file_name`` relative to the JSON file's folder (the
    file appears complete or not at all)."""
    target = Path(path)
    data = coco_dataset(conversion, target.parent)
    with atomic_output(target, overwrite) as temporary:
        temporary.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return target

"""What ``dicomlabelmap info`` tells about a Segmentation series, as plain data: each instance
(file, size, type, transfer syntax, frames), the grid, and each segment with its layer and
voxel count."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..model.geometry import report_numbers
from .series import SegSeries


def describe_seg_series(series: SegSeries) -> dict[str, Any]:
    """The series as JSON-ready data; one instance's fields also at the top level. The grid's
    ``kind`` is ``volume`` (frames placed by position in a Frame of Reference), ``plane`` (no Frame
    of Reference: one plane of pixels, as a radiograph's) or ``tiled`` (slide coordinates)."""
    geometry = series.geometry
    instances: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []
    layer = 0
    for content in series.contents:
        assert content.path is not None
        instances.append(
            {
                "file": str(content.path),
                "bytes": content.path.stat().st_size,
                "segmentation_type": content.segmentation_type,
                "transfer_syntax": {"name": content.transfer_syntax.value, "uid": content.transfer_syntax.uid},
                "frames": content.frame_count,
                "background_segment_number": content.background_number,
                "layers": len(content.volumes),
            }
        )
        for volume in content.volumes:
            layer += 1
            counts = np.bincount(volume.array.ravel())  # one pass per layer, not per segment
            for s in volume.segments:
                segments.append(
                    {
                        "number": s.number,
                        "label": s.label,
                        "layer": layer,
                        "color": list(s.display_color()),
                        "category": str(s.category),
                        "type": str(s.type),
                        "voxels": int(counts[s.number]) if s.number < len(counts) else 0,
                        "file": str(content.path),
                    }
                )
    data = {
        "series_instance_uid": series.series_instance_uid,
        "instances": instances,
        "grid": {
            "shape": list(geometry.shape),
            "spacing": report_numbers(geometry.spacing),
            "ijk_to_lps": report_numbers(geometry.ijk_to_lps),
            "frame_of_reference_uid": geometry.frame_of_reference_uid,
            "kind": series.contents[0].grid_kind,
        },
        "layers": len(series.volumes),
        "segments": segments,
        "findings": [f.to_dict() for f in series.findings],
    }
    if len(instances) == 1:  # one file: its fields at the top level too
        data.update({key: value for key, value in instances[0].items() if key != "layers"})
    return data

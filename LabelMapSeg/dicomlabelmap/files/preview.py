"""A PNG preview of a conversion: a few reference slices with the filled masks and the
contours drawn over them (needs matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from ..errors import optional_import
from ..model.segment import default_color
from ..outputs import atomic_output
from ..rtstruct.conversion import RtStructConversion
from ..rtstruct.rasterize import RoiRaster
from ..rtstruct.reader import ContourGeometricType


def choose_slices(conversion: RtStructConversion, count: int = 4) -> list[int]:
    """Up to ``count`` slices spread over the range holding contours, favouring slices where
    more ROIs meet."""
    geometry = conversion.reference.geometry
    coverage = np.zeros(geometry.shape[0], dtype=np.int64)
    for raster in conversion.rois:
        if raster.mask is not None and not raster.mask.is_empty():
            start = raster.mask.offset[0]
            present = np.asarray(raster.mask.crop.any(axis=(1, 2)))
            coverage[start : start + present.shape[0]] += present
    occupied = np.flatnonzero(coverage)
    if occupied.size == 0:
        return [geometry.shape[0] // 2]
    bins = np.array_split(occupied, min(count, occupied.size))
    return [int(part[np.argmax(coverage[part])]) for part in bins]


def _slice_pixels(conversion: RtStructConversion, k: int) -> np.ndarray | None:
    source = conversion.reference.slices[k]
    if not source.sop_instance_uid:  # a position without a usable image (missing, or cut short)
        return None
    try:
        dataset = pydicom.dcmread(source.path)
        pixels = dataset.pixel_array
    except Exception:  # noqa: BLE001 - a preview without the image is still useful
        return None
    if source.frame_number is not None and pixels.ndim == 3:
        pixels = pixels[source.frame_number - 1]
    slope = float(dataset.get("RescaleSlope", 1) or 1)
    intercept = float(dataset.get("RescaleIntercept", 0) or 0)
    return pixels.astype(np.float64) * slope + intercept


def write_preview(conversion: RtStructConversion, path: str | Path, slices: list[int] | None = None, overwrite: bool = False) -> Path:
    """Draw the chosen slices (default: :func:`choose_slices`) into a PNG file."""
    matplotlib = optional_import("matplotlib", "matplotlib", "drawing a preview")
    matplotlib.use("Agg")
    plt = optional_import("matplotlib.pyplot", "matplotlib", "drawing a preview")
    geometry = conversion.reference.geometry
    chosen = slices if slices is not None else choose_slices(conversion)
    figure, axes = plt.subplots(1, len(chosen), figsize=(4.5 * len(chosen), 4.8), squeeze=False)
    for axis, k in zip(axes[0], chosen, strict=True):
        _draw_slice(axis, conversion, k)
        axis.set_title(f"slice {k} ({geometry.slice_positions()[k] @ geometry.slice_normal:.1f} mm)", fontsize=9)
        axis.set_axis_off()
    handles = []
    for raster in conversion.rois:
        handles.append(plt.Line2D([], [], color=_color(conversion, raster), lw=3, label=raster.roi.name))
    figure.legend(handles=handles, loc="lower center", ncol=min(6, max(1, len(handles))), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.08, 1, 0.96))
    with atomic_output(path, overwrite) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    plt.close(figure)
    return Path(path)


def _color(conversion: RtStructConversion, raster: RoiRaster) -> tuple[float, float, float]:
    red, green, blue = raster.roi.color or default_color(conversion.segment_number(raster) or 0)
    return (red / 255, green / 255, blue / 255)


def _draw_slice(axis: Any, conversion: RtStructConversion, k: int) -> None:
    geometry = conversion.reference.geometry
    pixels = _slice_pixels(conversion, k)
    if pixels is not None:
        low, high = np.percentile(pixels, [1, 99.5])
        axis.imshow(pixels, cmap="gray", vmin=low, vmax=max(high, low + 1), interpolation="nearest")
    else:
        axis.imshow(np.zeros(geometry.shape[1:]), cmap="gray")
    aspect = geometry.spacing[1] / geometry.spacing[0]
    axis.set_aspect(aspect)
    for raster in conversion.rois:
        color = _color(conversion, raster)
        if raster.mask is not None:
            plane = raster.mask.plane(k)
            if plane.any():
                overlay = np.zeros(plane.shape + (4,))
                overlay[plane] = (*color, 0.35)
                axis.imshow(overlay, interpolation="nearest")
        for contour in raster.roi.contours:
            ijk = geometry.to_ijk(contour.points)
            if abs(ijk[:, 2].mean() - k) > 0.5:
                continue
            if contour.geometric_type is ContourGeometricType.POINT:
                axis.plot(ijk[:, 0], ijk[:, 1], "+", color=color, ms=8)
                continue
            closed = contour.geometric_type.encloses_area
            points = np.vstack([ijk[:, :2], ijk[:1, :2]]) if closed else ijk[:, :2]
            axis.plot(points[:, 0], points[:, 1], "-", color=color, lw=0.9)

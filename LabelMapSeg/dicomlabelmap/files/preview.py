"""A PNG preview of a conversion: a few reference slices with the filled masks and the
contours drawn over them (needs matplotlib).

The preview shows what was written: one colour and one legend entry per label, named and
coloured as in the label files (the label scheme's names and colours when there is one, else each
ROI's name and the structure set's ROI Display Color). Several ROIs on one label share its colour;
ROIs that could not be converted keep their own colour and are marked in the legend. When two
labels share a colour (LUNG1-001's two lungs are both (64, 64, 255)), the later one is drawn in
another colour, as far as possible from every colour in use, and :func:`preview_legend` says so in
its ``note``; the legend marks it "(recoloured)".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from ..errors import optional_import
from ..model.masks import BoxMask
from ..model.segment import Segment, default_color
from ..outputs import atomic_output
from ..rtstruct.conversion import RtStructConversion
from ..rtstruct.reader import ContourGeometricType

logger = logging.getLogger(__name__)

#: Colours closer than this in every channel (0-255) count as the same colour in a legend.
SAME_COLOR = 8

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class LegendEntry:
    """One colour of the preview: a label (with the ROIs drawn on it) or an ROI not converted."""

    name: str
    #: The colour the preview draws (the label's own unless it had to change).
    color: RGB
    #: The label value; ``None`` for an ROI that was not converted.
    value: int | None
    #: Positions (in the Structure Set ROI Sequence) of the ROIs drawn in this colour.
    roi_positions: tuple[int, ...]
    #: The label's own colour, when the preview draws another one.
    own_color: RGB | None = None
    #: Why the colour changed, in one sentence (empty when it did not).
    note: str = ""

    @property
    def legend_text(self) -> str:
        suffix = " (not converted)" if self.value is None else " (recoloured)" if self.note else ""
        return self.name + suffix


def preview_legend(conversion: RtStructConversion) -> list[LegendEntry]:
    """The preview's colours: one entry per label (ascending value), then the ROIs that could
    not be converted; a colour another entry already uses is replaced (see the module)."""
    positions: dict[int, list[int]] = {}
    for position, number in conversion.segment_numbers.items():
        positions.setdefault(number, []).append(position)
    wanted: list[tuple[str, RGB, int | None, tuple[int, ...]]] = [
        (segment.label, segment.display_color(), segment.number, tuple(sorted(positions.get(segment.number, []))))
        for segment, _ in conversion.label_masks()
    ]
    for raster in conversion.failed_rois:
        wanted.append((raster.roi.name, raster.roi.color or default_color(raster.roi.number), None, (raster.roi.position,)))
    entries: list[LegendEntry] = []
    for name, color, value, rois in wanted:
        clash = next((entry for entry in entries if _same(entry.color, color)), None)
        if clash is None:
            entries.append(LegendEntry(name, color, value, rois))
            continue
        replacement = _distinct_color([entry.color for entry in entries] + [c for _, c, _, _ in wanted])
        note = (
            f"'{name}' has the colour {color} of '{clash.name}'; the preview draws it in {replacement} so that the legend "
            "tells them apart (the label files keep its own colour)"
        )
        entries.append(LegendEntry(name, replacement, value, rois, color, note))
    return entries


def _same(one: RGB, other: RGB) -> bool:
    return max(abs(a - b) for a, b in zip(one, other, strict=True)) <= SAME_COLOR


def _distinct_color(used: list[RGB]) -> RGB:
    """Of a fixed set of candidates (stable from run to run), the one farthest from every colour in use."""
    candidates = [default_color(number) for number in range(1, 49)]
    taken = np.asarray(used, dtype=np.float64).reshape(-1, 3)
    distances = [float(np.min(np.linalg.norm(taken - np.asarray(c, dtype=np.float64), axis=1))) for c in candidates]
    return candidates[int(np.argmax(distances))]


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


def draw_preview(conversion: RtStructConversion, slices: list[int] | None = None) -> Any:
    """The preview as a matplotlib figure (close it with ``matplotlib.pyplot.close``)."""
    matplotlib = optional_import("matplotlib", "matplotlib", "drawing a preview")
    matplotlib.use("Agg")
    plt = optional_import("matplotlib.pyplot", "matplotlib", "drawing a preview")
    geometry = conversion.reference.geometry
    chosen = slices if slices is not None else choose_slices(conversion)
    legend = preview_legend(conversion)
    items = conversion.label_masks()
    figure, axes = plt.subplots(1, len(chosen), figsize=(4.5 * len(chosen), 4.8), squeeze=False)
    for axis, k in zip(axes[0], chosen, strict=True):
        _draw_slice(axis, conversion, k, legend, items)
        axis.set_title(f"slice {k} ({geometry.slice_positions()[k] @ geometry.slice_normal:.1f} mm)", fontsize=9)
        axis.set_axis_off()
    handles = [plt.Line2D([], [], color=_fraction(entry.color), lw=3, label=entry.legend_text) for entry in legend]
    figure.legend(handles=handles, loc="lower center", ncol=min(6, max(1, len(handles))), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.08, 1, 0.96))
    return figure


def write_preview(conversion: RtStructConversion, path: str | Path, slices: list[int] | None = None, overwrite: bool = False) -> Path:
    """Draw the chosen slices (default: :func:`choose_slices`) into a PNG file."""
    figure = draw_preview(conversion, slices)
    plt = optional_import("matplotlib.pyplot", "matplotlib", "drawing a preview")
    try:
        with atomic_output(path, overwrite) as temporary:
            figure.savefig(temporary, format="png", dpi=110)
    finally:
        plt.close(figure)
    logger.info("drew the preview into %s", path)
    return Path(path)


def _fraction(color: RGB) -> tuple[float, float, float]:
    return (color[0] / 255, color[1] / 255, color[2] / 255)


def _draw_slice(axis: Any, conversion: RtStructConversion, k: int, legend: list[LegendEntry], items: list[tuple[Segment, BoxMask]]) -> None:
    geometry = conversion.reference.geometry
    pixels = _slice_pixels(conversion, k)
    if pixels is not None:
        low, high = np.percentile(pixels, [1, 99.5])
        axis.imshow(pixels, cmap="gray", vmin=low, vmax=max(high, low + 1), interpolation="nearest")
    else:
        axis.imshow(np.zeros(geometry.shape[1:]), cmap="gray")
    axis.set_aspect(geometry.spacing[1] / geometry.spacing[0])
    colors = {entry.value: _fraction(entry.color) for entry in legend if entry.value is not None}
    for segment, mask in items:
        plane = mask.plane(k)
        if plane.any():
            overlay = np.zeros(plane.shape + (4,))
            overlay[plane] = (*colors[segment.number], 0.35)
            axis.imshow(overlay, interpolation="nearest")
    roi_colors = {position: _fraction(entry.color) for entry in legend for position in entry.roi_positions}
    for raster in conversion.rois:
        color = roi_colors.get(raster.roi.position)
        if color is not None:
            _draw_contours(axis, geometry, raster.roi.contours, k, color)


def _draw_contours(axis: Any, geometry: Any, contours: Any, k: int, color: tuple[float, float, float]) -> None:
    for contour in contours:
        ijk = geometry.to_ijk(contour.points)
        if abs(ijk[:, 2].mean() - k) > 0.5:
            continue
        if contour.geometric_type is ContourGeometricType.POINT:
            axis.plot(ijk[:, 0], ijk[:, 1], "+", color=color, ms=8)
            continue
        closed = contour.geometric_type.encloses_area
        points = np.vstack([ijk[:, :2], ijk[:1, :2]]) if closed else ijk[:, :2]
        axis.plot(points[:, 0], points[:, 1], "-", color=color, lw=0.9)

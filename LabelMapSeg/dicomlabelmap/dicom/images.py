"""Reference image series: DICOM images -> :class:`ImageGeometry` + per-slice source references.

Slices are ordered by their position along the slice normal, never by Instance Number or
file name. Single-frame images (CT, MR, PET, ...) and enhanced multi-frame images are read;
files that are not DICOM, or DICOM objects without image geometry (RT Structure Sets,
segmentations, reports), are skipped and counted.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from ..errors import ReferenceSeriesError, malformed_input
from ..findings import Finding, Severity, format_ranges
from ..model.geometry import FloatArray, ImageGeometry
from . import quick
from .copied import copy_checked
from .slices import ImageFrame

logger = logging.getLogger(__name__)

#: Series key of images without a Series Instance UID (heavily anonymised files).
NO_SERIES_UID = "(no Series Instance UID)"

#: Smallest tolerance (mm) for a slice's position on the fitted uniform grid.
POSITION_TOLERANCE_MM = 0.01

#: ``SourceSlice.sop_class_uid`` of a grid position that has no image.
MISSING_SLICE = "(missing)"


@dataclass(frozen=True)
class SourceSlice:
    """Where one slice of the reference grid comes from."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    #: 1-based frame number in an enhanced multi-frame instance, ``None`` for single-frame.
    frame_number: int | None
    #: LPS position (Image Position (Patient)) of the slice's first pixel.
    position: tuple[float, float, float]


@dataclass
class ReferenceSeries:
    """A reference image series: its grid, where each slice comes from, and what to copy."""

    geometry: ImageGeometry
    #: ``slices[k]`` is the source of array slice ``k``.
    slices: list[SourceSlice]
    series_instance_uid: str
    modality: str
    series_description: str
    #: Patient, study and frame-of-reference attributes to copy into derived objects.
    attributes: Dataset
    #: Files that were not used, by reason.
    skipped: dict[str, int] = field(default_factory=dict)
    #: Every file not used, with its reason: ``[(path, reason), ...]``.
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    #: Problems of the series' own values (e.g. an attribute too long for its VR), named.
    findings: list[Finding] = field(default_factory=list)
    #: Type 1 attributes whose value cannot be copied (:mod:`.copied`): ``keyword -> why``.
    #: Derived objects (a Label Map SEG) are refused while any stands.
    refusals: dict[str, str] = field(default_factory=dict)

    @property
    def missing_slices(self) -> list[int]:
        """Indices ``k`` of grid positions without an image (only with ``allow_missing_slices``)."""
        return [k for k, source in enumerate(self.slices) if not source.sop_instance_uid and source.sop_class_uid == MISSING_SLICE]

    @property
    def frame_of_reference_uid(self) -> str | None:
        return self.geometry.frame_of_reference_uid

    @property
    def study_instance_uid(self) -> str:
        return str(self.attributes.get("StudyInstanceUID", ""))

    def slice_index(self, sop_instance_uid: str, frame_number: int | None = None) -> int | None:
        """Index ``k`` of the slice from that instance (and frame), or ``None``."""
        for k, source in enumerate(self.slices):
            if source.sop_instance_uid == sop_instance_uid and (frame_number is None or source.frame_number == frame_number):
                return k
        return None

    def sop_instance_uids(self) -> set[str]:
        return {source.sop_instance_uid for source in self.slices}

    @classmethod
    def from_geometry(cls, geometry: ImageGeometry, description: str = "") -> ReferenceSeries:
        """A reference known only by its grid (e.g. a volume not loaded from DICOM): no source
        images, no patient or study. Enough to rasterize onto; not enough to write DICOM."""
        positions = geometry.slice_positions()
        slices = [SourceSlice(Path(), "", "", None, (float(p[0]), float(p[1]), float(p[2]))) for p in positions]
        return cls(geometry, slices, "", "", description, Dataset())


# -- assembling one grid ----------------------------------------------------------------------
def assemble(
    series_uid: str,
    frames: list[ImageFrame],
    skipped: dict[str, int],
    spacing_tolerance: float,
    allow_missing_slices: bool = False,
    broken: Sequence[ImageFrame] = (),
) -> ReferenceSeries:
    """The series' grid from its frames. ``broken`` frames (their pixel data cut short) hold
    their positions on the grid without an image: refused unless ``allow_missing_slices``."""
    if broken and not allow_missing_slices:
        listing = "; ".join(f"{frame.path}: {frame.problem}" for frame in broken[:3])
        raise ReferenceSeriesError(
            f"{len(broken)} image(s) of series {series_uid} cannot be used ({listing}); their slices would be missing: use "
            "--allow-missing-slices (allow_missing_slices=True) to keep the regular grid with those positions empty"
        )
    with malformed_input(frames[0].path, "the image header"):
        return _assemble_checked(series_uid, [*frames, *broken], skipped, spacing_tolerance, allow_missing_slices)


def _assemble_checked(
    series_uid: str, frames: list[ImageFrame], skipped: dict[str, int], spacing_tolerance: float, allow_missing_slices: bool
) -> ReferenceSeries:
    first = frames[0]
    _check_consistent(frames)
    row_direction, column_direction = first.orientation[:3], first.orientation[3:]
    normal = np.cross(row_direction, column_direction)
    normal /= np.linalg.norm(normal)
    distances = np.array([frame.position @ normal for frame in frames])
    order = np.argsort(distances, kind="stable")
    frames = [frames[i] for i in order]
    distances = distances[order]
    _check_stacked(frames, normal)
    _check_single_image_set(series_uid, frames, distances)
    slice_spacing, indices = _slice_grid(frames, distances, spacing_tolerance, allow_missing_slices)
    count = int(indices[-1]) + 1 if len(indices) else 1
    geometry = ImageGeometry.from_orientation(
        first.orientation,
        frames[0].position,
        first.pixel_spacing,
        slice_spacing,
        (count, first.rows, first.columns),
        str(first.dataset.get("FrameOfReferenceUID", "")) or None,
    )
    copied = copy_checked(first.dataset, first.path.name)
    attributes, findings = copied.dataset, copied.findings
    slices: list[SourceSlice] = []
    positions = geometry.slice_positions()
    by_index = dict(zip((int(i) for i in indices), frames, strict=True))
    for k in range(count):
        frame = by_index.get(k)
        if frame is None or frame.problem is not None:
            path = Path() if frame is None else frame.path
            slices.append(SourceSlice(path, MISSING_SLICE, "", None, tuple(float(v) for v in positions[k])))  # type: ignore[arg-type]
            if frame is not None:
                findings.append(
                    Finding(
                        Severity.WARNING,
                        f"{frame.path.name}: {frame.problem}; its slice {k} is kept without an image (--allow-missing-slices) and is "
                        "never referenced",
                        attribute="PixelData",
                    )
                )
        else:
            slices.append(
                SourceSlice(frame.path, frame.sop_class_uid, frame.sop_instance_uid, frame.frame_number, tuple(frame.position.tolist()))  # type: ignore[arg-type]
            )
    series = ReferenceSeries(
        geometry,
        slices,
        series_uid,
        str(first.dataset.get("Modality", "")),
        str(first.dataset.get("SeriesDescription", "")),
        attributes,
        skipped,
    )
    gaps = [k for k in range(count) if k not in by_index]
    if gaps:
        findings.append(
            Finding(
                Severity.WARNING,
                f"the reference series has no image at slice(s) {format_ranges(gaps)} (counted from 0) of its regular grid; "
                "those positions are kept without an image (--allow-missing-slices)",
                attribute="ImagePositionPatient",
            )
        )
    series.findings = findings
    series.refusals = copied.refusals
    return series


def _frame_name(frame: ImageFrame) -> str:
    return f"{frame.path}" + (f" frame {frame.frame_number}" if frame.frame_number else "")


def _check_consistent(frames: list[ImageFrame]) -> None:
    first = frames[0]
    frame_of_reference = quick.text(first.dataset, "FrameOfReferenceUID")
    for frame in frames[1:]:
        if frame.rows != first.rows or frame.columns != first.columns:
            raise ReferenceSeriesError(
                f"image size differs within the series: {frame.rows}x{frame.columns} in {_frame_name(frame)}, "
                f"{first.rows}x{first.columns} in {_frame_name(first)}"
            )
        if np.max(np.abs(frame.orientation - first.orientation)) > 1e-3:
            raise ReferenceSeriesError(
                f"Image Orientation (Patient) differs within the series: {frame.orientation.tolist()} in "
                f"{_frame_name(frame)}, {first.orientation.tolist()} in {_frame_name(first)}"
            )
        if np.max(np.abs(frame.pixel_spacing - first.pixel_spacing)) > 1e-4 * max(1.0, float(first.pixel_spacing.max())):
            raise ReferenceSeriesError(
                f"Pixel Spacing differs within the series: {frame.pixel_spacing.tolist()} in {_frame_name(frame)}, "
                f"{first.pixel_spacing.tolist()} in {_frame_name(first)}"
            )
        if quick.text(frame.dataset, "FrameOfReferenceUID") != frame_of_reference:
            raise ReferenceSeriesError(f"Frame of Reference UID differs within the series: {_frame_name(frame)} and {_frame_name(first)}")


def _check_stacked(frames: list[ImageFrame], normal: FloatArray) -> None:
    """Every slice must sit on the line through the first one along the normal (no gantry tilt)."""
    origin = frames[0].position
    tolerance = max(0.01, 0.01 * float(frames[0].pixel_spacing.min()))
    for frame in frames[1:]:
        offset = frame.position - origin
        in_plane = offset - (offset @ normal) * normal
        shift = float(np.linalg.norm(in_plane))
        if shift > tolerance:
            raise ReferenceSeriesError(
                f"slices are not stacked along their normal (gantry tilt or sheared series, not supported): "
                f"{_frame_name(frame)} is shifted {shift:.3f} mm in-plane from {_frame_name(frames[0])}"
            )


def _slice_grid(
    frames: list[ImageFrame], distances: FloatArray, spacing_tolerance: float, allow_missing_slices: bool
) -> tuple[float, npt.NDArray[np.int64]]:
    """The slice spacing and each frame's index on the uniform grid.

    Every slice's position is checked against the grid fitted to the whole stack (not gap by
    gap, so that a slow drift of the spacing is caught).
    """
    if len(frames) == 1:
        spacing = frames[0].spacing_between_slices or frames[0].thickness
        if spacing is None:
            logger.warning("single-slice series without Slice Thickness: slice spacing set to 1 mm")
        return spacing or 1.0, np.zeros(1, dtype=np.int64)
    gaps = np.diff(distances)
    duplicate = np.flatnonzero(gaps <= 1e-3)
    if duplicate.size:
        a, b = frames[duplicate[0]], frames[duplicate[0] + 1]
        raise ReferenceSeriesError(
            f"two slices at the same position ({distances[duplicate[0]]:.3f} mm along the normal): "
            f"{_frame_name(a)} and {_frame_name(b)} (several acquisitions in one series?)"
        )
    # The step: the usual gap among the smallest ones (gaps over a missing slice are multiples).
    step = float(np.median(gaps[gaps <= 1.5 * gaps.min()]))
    relative = (distances - distances[0]) / step
    indices = np.round(relative).astype(np.int64)
    # Least-squares fit of position = origin + index * spacing over the whole stack.
    spacing, origin = (
        np.polyfit(indices.astype(np.float64), distances, 1) if len(frames) > 2 else (float(distances[1] - distances[0]), distances[0])
    )
    spacing, origin = float(spacing), float(origin)
    residual = distances - (origin + indices * spacing)
    tolerance = max(POSITION_TOLERANCE_MM, spacing_tolerance * spacing)
    worst = int(np.argmax(np.abs(residual)))
    if abs(residual[worst]) > tolerance or np.any(np.diff(indices) < 1):
        raise ReferenceSeriesError(
            f"slice positions are not on a uniform grid: {_frame_name(frames[worst])} lies {residual[worst]:+.3f} mm from "
            f"the grid of {spacing:.4f} mm fitted to all {len(frames)} slices (tolerance {tolerance:.3f} mm = "
            f"{spacing_tolerance:.0%} of the spacing; slowly drifting spacing, or missing or extra slices?)"
        )
    jumps = np.flatnonzero(np.diff(indices) > 1)
    if jumps.size and not allow_missing_slices:
        missing = int(np.sum(np.diff(indices)[jumps] - 1))
        a, b = frames[jumps[0]], frames[jumps[0] + 1]
        raise ReferenceSeriesError(
            f"{missing} slice(s) missing from the series: {gaps[jumps[0]]:.3f} mm between {_frame_name(a)} and "
            f"{_frame_name(b)} where the spacing is {spacing:.3f} mm; use --allow-missing-slices "
            "(Python: allow_missing_slices=True) to keep the regular grid with those positions empty"
        )
    return spacing, indices


def _check_single_image_set(series_uid: str, frames: list[ImageFrame], distances: FloatArray) -> None:
    """Refuse two image sets stored under one Series Instance UID (e.g. a second reconstruction
    shifted by half a slice): single-frame images whose Instance Numbers each appear at most
    twice, some twice, at different positions. (A number used by every image says nothing.)"""
    if any(frame.frame_number is not None for frame in frames):
        return
    where: dict[int, list[int]] = defaultdict(list)
    for index, frame in enumerate(frames):
        number = _instance_number(frame)
        if number is not None:
            where[number].append(index)
    repeated = [(number, found) for number, found in where.items() if len(found) > 1]
    advice = "put each set in its own folder or give each its own Series Instance UID"
    if repeated and all(len(found) <= 2 for found in where.values()):
        number, (a, b) = min(repeated)
        raise ReferenceSeriesError(
            f"series {series_uid} holds two image sets (two reconstructions?): Instance Number {number} is used by "
            f"{_frame_name(frames[a])} at {distances[a]:.3f} mm and by {_frame_name(frames[b])} at {distances[b]:.3f} mm "
            f"along the normal ({len(repeated)} Instance Numbers repeat); {advice}"
        )
    if len(frames) < 4:
        return
    # Sets numbered on from each other interleave: along the normal their Instance Numbers
    # jump forwards and backwards in turn, or an attribute of the reconstruction alternates.
    numbers = [_instance_number(frame) for frame in frames]
    if None not in numbers:
        steps = np.sign(np.diff(np.array(numbers, dtype=np.int64)))
        if np.all(steps[0::2] == steps[0]) and np.all(steps[1::2] == -steps[0]) and steps[0] != 0:
            raise ReferenceSeriesError(
                f"series {series_uid} holds two interleaved image sets (two reconstructions?): along the normal the "
                f"Instance Numbers alternate between two sequences ({numbers[0]}, {numbers[1]}, {numbers[2]}, {numbers[3]}, ... in "
                f"{_frame_name(frames[0])}, {_frame_name(frames[1])}, ...); {advice}"
            )
    for keyword in ("AcquisitionNumber", "ConvolutionKernel", "SliceThickness", "ReconstructionDiameter"):
        values = [quick.text(frame.dataset, keyword) if keyword in quick.TAGS else str(frame.dataset.get(keyword, "")) for frame in frames]
        if values[0] != values[1] and values[0::2] == [values[0]] * len(values[0::2]) and values[1::2] == [values[1]] * len(values[1::2]):
            raise ReferenceSeriesError(
                f"series {series_uid} holds two interleaved image sets: {keyword} alternates between '{values[0]}' "
                f"({_frame_name(frames[0])}) and '{values[1]}' ({_frame_name(frames[1])}) from slice to slice; {advice}"
            )


def _instance_number(frame: ImageFrame) -> int | None:
    """The Instance Number, read from its bytes where it is a plain integer (:mod:`.quick`)."""
    try:
        return int(quick.text(frame.dataset, "InstanceNumber"))
    except ValueError:
        return _int_or_none(frame.dataset.get("InstanceNumber"))


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None

"""Where each frame of a Segmentation goes, by the standard's conditions (PS3.3 C.8.20 and the
Segmentation functional groups, A.51):

* with a Frame of Reference, every frame has a Plane Position (Patient): frames are placed on a
  3-D grid by position (:mod:`.grid`);
* without one (a segmentation of a radiograph or a mammogram), Plane Position is not required:
  the frames lie on their source image, one plane of pixels;
* tiled images (slide microscopy) place each frame in the Total Pixel Matrix: by its Plane
  Position (Slide) (TILED_SPARSE), or implied by the frame order when Dimension Organization
  Type is TILED_FULL (tiles row by row, then focal planes, then segments for BINARY, PS3.3
  C.7.6.17.3); each focal plane is one slice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from ..dicom.frames import FunctionalGroups
from ..dicom.images import ReferenceSeries
from ..errors import InvalidDicomError
from ..findings import Finding, Severity
from ..model.geometry import ImageGeometry
from .grid import frame_geometry, frame_grid, place_frames, tiled_grid


@dataclass
class FrameLayout:
    """The grid and where each frame goes on it."""

    geometry: ImageGeometry
    #: ``(slice, row, column)`` of each frame's first pixel.
    placements: npt.NDArray[np.int64]
    #: Segment Number of each frame when the layout implies it (TILED_FULL BINARY), else ``None``.
    segment_numbers: list[int] | None = None
    findings: list[Finding] = field(default_factory=list)
    #: Whether every slice of the grid is covered by the frames' extent (tiles may leave gaps),
    #: so that slices without a frame are known to be background.
    covered_slices: npt.NDArray[np.int64] | None = None
    #: What kind of grid: "volume", "plane" (no Frame of Reference) or "tiled".
    kind: str = "volume"


def frame_layout(
    dataset: Dataset, groups: FunctionalGroups, count: int, reference: ReferenceSeries | ImageGeometry | None, frame_shape: tuple[int, int]
) -> FrameLayout:
    """The layout of a Segmentation's ``count`` frames of ``frame_shape``."""
    if "TotalPixelMatrixRows" in dataset:
        if str(dataset.get("DimensionOrganizationType", "")) == "TILED_FULL" and groups.item(0, "PlanePositionSlideSequence") is None:
            return _tiled_full(dataset, count, reference)
        if groups.item(0, "PlanePositionSlideSequence") is not None:
            _no_reference(reference, "is tiled (slide coordinates)")
            geometry, placements = tiled_grid(dataset, groups, count)
            return FrameLayout(geometry, placements, kind="tiled")
    if groups.item(0, "PlanePositionSequence") is None and not str(dataset.get("FrameOfReferenceUID", "")):
        return _plane(dataset, groups, count, reference, frame_shape)
    if groups.item(0, "PlanePositionSequence") is None:
        raise InvalidDicomError(
            "frame 1 has no Plane Position (Patient) Sequence, which a Segmentation with a Frame of Reference needs for every frame "
            "(PS3.3 A.51)",
            attribute="PlanePositionSequence",
        )
    positions, orientation, pixel_spacing, spacing_between = frame_geometry(groups, count)
    geometry, findings = frame_grid(reference, dataset, positions, orientation, pixel_spacing, spacing_between, frame_shape)
    slices = place_frames(geometry, positions)
    placements = np.column_stack([slices, np.zeros_like(slices), np.zeros_like(slices)])
    return FrameLayout(geometry, placements, None, findings, slices)


def _no_reference(reference: ReferenceSeries | ImageGeometry | None, why: str) -> None:
    if reference is not None:
        raise InvalidDicomError(
            f"the Segmentation {why}: it cannot be placed on a reference series' grid; read it without one", attribute="FrameOfReferenceUID"
        )


def _pixel_spacing(groups: FunctionalGroups) -> tuple[float, float] | None:
    measures = groups.item(0, "PixelMeasuresSequence")
    if measures is None or "PixelSpacing" not in measures:
        return None
    row, column = (float(v) for v in measures.PixelSpacing)
    return (row, column) if row > 0 and column > 0 else None


def _plane(
    dataset: Dataset, groups: FunctionalGroups, count: int, reference: ReferenceSeries | ImageGeometry | None, frame_shape: tuple[int, int]
) -> FrameLayout:
    """No Frame of Reference and no Plane Position: the frames lie on their source image (a
    radiograph, a mammogram), one plane of pixels. Frames derived from several source images
    have no common grid and are refused."""
    _no_reference(reference, "has no Frame of Reference (a 2-D segmentation)")
    sources = set()
    for index in range(count):
        derivation = groups.item(index, "DerivationImageSequence")
        for source in derivation.get("SourceImageSequence", []) if derivation is not None else []:
            sources.add((str(source.get("ReferencedSOPInstanceUID", "")), str(source.get("ReferencedFrameNumber", ""))))
    if len(sources) > 1:
        raise InvalidDicomError(
            f"the Segmentation has no Frame of Reference and its frames derive from {len(sources)} source images (or frames): "
            "without plane positions they share no grid, so a label map cannot hold them",
            attribute="FrameOfReferenceUID",
        )
    spacing = _pixel_spacing(groups)
    findings = []
    if spacing is None:
        spacing = (1.0, 1.0)
        findings.append(
            Finding(
                Severity.WARNING,
                "the Segmentation has no Frame of Reference and no Pixel Spacing (neither is required for a 2-D segmentation); "
                "its pixels are read as 1 mm apart",
                attribute="PixelMeasuresSequence",
            )
        )
    geometry = ImageGeometry((1, *frame_shape), (0.0, 0.0, 0.0), (spacing[1], spacing[0], 1.0), np.eye(3), None)
    return FrameLayout(geometry, np.zeros((count, 3), dtype=np.int64), None, findings, np.zeros(1, dtype=np.int64), "plane")


def _tiled_full(dataset: Dataset, count: int, reference: ReferenceSeries | ImageGeometry | None) -> FrameLayout:
    """TILED_FULL: tile positions implied by the frame order (row by row through the Total Pixel
    Matrix, then focal planes, then segments of a BINARY/FRACTIONAL SEG in Segment Sequence
    order), each focal plane one slice."""
    _no_reference(reference, "is tiled (slide coordinates)")
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    total_rows, total_columns = int(dataset.TotalPixelMatrixRows), int(dataset.TotalPixelMatrixColumns)
    planes = int(dataset.get("TotalPixelMatrixFocalPlanes", 1) or 1)
    across, down = -(-total_columns // columns), -(-total_rows // rows)
    labelmap = str(dataset.get("SegmentationType", "")) == "LABELMAP"
    channels: list[int | None] = [None] if labelmap else [int(item.SegmentNumber) for item in dataset.get("SegmentSequence", [])]
    expected = len(channels) * planes * across * down
    if count != expected or total_rows < 1 or total_columns < 1:
        raise InvalidDicomError(
            f"Number of Frames is {count}, but a TILED_FULL total pixel matrix of {total_rows} x {total_columns} in tiles of "
            f"{rows} x {columns} ({across * down} tiles, {planes} focal plane(s), {len(channels)} segment(s)) has {expected}",
            attribute="NumberOfFrames",
        )
    placements = [
        (plane, row * rows, column * columns)
        for _ in channels
        for plane in range(planes)
        for row in range(down)
        for column in range(across)
    ]
    numbers = None if labelmap else [channel for channel in channels for _ in range(planes * across * down)]
    geometry, _ = tiled_grid(dataset, None, 0, planes)
    return FrameLayout(geometry, np.asarray(placements, dtype=np.int64), numbers, [], np.arange(planes, dtype=np.int64), "tiled")  # type: ignore[arg-type]

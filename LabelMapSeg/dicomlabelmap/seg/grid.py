"""Where a Segmentation's frames lie: the grid (the reference series', or rebuilt from the
frames' own positions, never cropped), each frame's slice, and tiled (slide) total pixel
matrices."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from ..dicom.frames import FunctionalGroups
from ..dicom.images import ReferenceSeries
from ..errors import GeometryError, InvalidDicomError
from ..findings import Finding, Severity
from ..model.geometry import ImageGeometry
from .checks import referenced_instance_count, spacing_contradiction

#: Frames must sit within this many pixels (in-plane) / slices of a grid position.
_GRID_TOLERANCE = 0.01


def frame_geometry(
    groups: FunctionalGroups, count: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], float | None]:
    positions = groups.values(count, "PlanePositionSequence", "ImagePositionPatient")
    if positions is None:
        positions = [
            [float(v) for v in item.ImagePositionPatient] for item in groups.items(count, "PlanePositionSequence", "ImagePositionPatient")
        ]
    orientation_item = groups.item(0, "PlaneOrientationSequence")
    measures = groups.item(0, "PixelMeasuresSequence")
    if orientation_item is None or "ImageOrientationPatient" not in orientation_item:
        raise InvalidDicomError("Plane Orientation Sequence / Image Orientation (Patient) is missing", attribute="PlaneOrientationSequence")
    if measures is None or "PixelSpacing" not in measures:
        raise InvalidDicomError("Pixel Measures Sequence / Pixel Spacing is missing", attribute="PixelMeasuresSequence")
    between = measures.get("SpacingBetweenSlices")
    spacing_between = float(between) if between not in (None, "") and float(between) > 0 else None
    return (
        np.asarray(positions, dtype=np.float64),
        np.asarray([float(v) for v in orientation_item.ImageOrientationPatient], dtype=np.float64),
        np.asarray([float(v) for v in measures.PixelSpacing], dtype=np.float64),
        spacing_between,
    )


def frame_grid(
    reference: ReferenceSeries | ImageGeometry | None,
    dataset: Dataset,
    positions: npt.NDArray[np.float64],
    orientation: npt.NDArray[np.float64],
    pixel_spacing: npt.NDArray[np.float64],
    spacing_between: float | None,
    frame_shape: tuple[int, ...],
) -> tuple[ImageGeometry, list[Finding]]:
    frame_of_reference = str(dataset.get("FrameOfReferenceUID", "")) or None
    if reference is not None:
        geometry = reference.geometry if isinstance(reference, ReferenceSeries) else reference
        if geometry.shape[1:] != tuple(frame_shape):
            raise GeometryError(
                f"SEG frames are {frame_shape[0]}x{frame_shape[1]}, the reference slices {geometry.shape[1]}x{geometry.shape[2]}"
            )
        if frame_of_reference and geometry.frame_of_reference_uid and frame_of_reference != geometry.frame_of_reference_uid:
            raise GeometryError(
                f"the SEG is in Frame of Reference {frame_of_reference}, the reference series in {geometry.frame_of_reference_uid}"
            )
        reference_orientation = np.concatenate([geometry.direction[:, 0], geometry.direction[:, 1]])
        if np.max(np.abs(reference_orientation - orientation)) > 1e-3:
            raise GeometryError(
                f"SEG Image Orientation {orientation.tolist()} differs from the reference's {reference_orientation.tolist()}"
            )
        return geometry, []
    normal = np.cross(orientation[:3], orientation[3:])
    distances = positions @ normal
    order = np.argsort(distances)
    unique = np.unique(np.round(distances[order], 4))
    gaps = np.diff(unique)
    findings: list[Finding] = []
    step = spacing_between or (float(gaps.min()) if gaps.size else 1.0)
    if spacing_between and gaps.size:
        problem = spacing_contradiction(unique, spacing_between, referenced_instance_count(dataset))
        if problem:
            step = float(gaps.min())
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"{problem}; the grid uses the frames' spacing {step:g} mm (pass the reference series to place them exactly)",
                    attribute="SpacingBetweenSlices",
                )
            )
    first = positions[order[0]]
    count = int(round((unique[-1] - unique[0]) / step)) + 1 if unique.size else 1
    geometry = ImageGeometry.from_orientation(
        orientation, first, pixel_spacing, step, (count, frame_shape[0], frame_shape[1]), frame_of_reference
    )
    return geometry, findings


def place_frames(geometry: ImageGeometry, positions: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    ijk = geometry.to_ijk(positions)
    k = np.round(ijk[:, 2]).astype(np.int64)
    off = (
        (np.abs(ijk[:, :2]).max(axis=1) > _GRID_TOLERANCE) | (np.abs(ijk[:, 2] - k) > _GRID_TOLERANCE) | (k < 0) | (k >= geometry.shape[0])
    )
    if np.any(off):
        index = int(np.flatnonzero(off)[0])
        raise GeometryError(
            f"frame {index + 1} at {positions[index].tolist()} is not on a slice of the grid (index {ijk[index].round(3).tolist()})"
        )
    return k


def tiled_grid(
    dataset: Dataset, groups: FunctionalGroups | None, count: int, planes: int = 1
) -> tuple[ImageGeometry, npt.NDArray[np.int64]]:
    """Tiled images (slide microscopy): ``planes`` focal planes of Total Pixel Matrix Rows x
    Columns; with ``groups`` (TILED_SPARSE) each frame a tile placed by its Row/Column Position
    In Total Image Pixel Matrix. The grid is in the slide coordinate system, from Image
    Orientation (Slide) and the Total Pixel Matrix Origin (taken as the first pixel's centre);
    focal planes lie Spacing Between Slices apart."""
    rows, columns = int(dataset.TotalPixelMatrixRows), int(dataset.TotalPixelMatrixColumns)
    placements: list[list[int]] = []
    if groups is not None:
        if int(dataset.get("TotalPixelMatrixFocalPlanes", 1) or 1) != 1:
            raise InvalidDicomError(
                "tiled SEGs with several focal planes are supported only as TILED_FULL", attribute="TotalPixelMatrixFocalPlanes"
            )
        placements = [
            [0, int(item.RowPositionInTotalImagePixelMatrix) - 1, int(item.ColumnPositionInTotalImagePixelMatrix) - 1]
            for item in groups.items(count, "PlanePositionSlideSequence", "RowPositionInTotalImagePixelMatrix")
        ]
    shared = dataset.get("SharedFunctionalGroupsSequence")
    measures_items = shared[0].get("PixelMeasuresSequence") if shared else None
    measures = measures_items[0] if measures_items else None
    if groups is not None:
        measures = groups.item(0, "PixelMeasuresSequence")
    spacing = [float(v) for v in measures.PixelSpacing] if measures is not None and "PixelSpacing" in measures else [1.0, 1.0]
    thickness = float(measures.get("SliceThickness", 1.0) or 1.0) if measures is not None else 1.0
    between = float(measures.get("SpacingBetweenSlices", 0) or 0) if measures is not None else 0.0
    orientation = [float(v) for v in dataset.get("ImageOrientationSlide", [0, -1, 0, -1, 0, 0])]
    origin_items = dataset.get("TotalPixelMatrixOriginSequence", [])
    origin = [0.0, 0.0, 0.0]
    if origin_items:
        origin = [
            float(origin_items[0].get("XOffsetInSlideCoordinateSystem", 0)),
            float(origin_items[0].get("YOffsetInSlideCoordinateSystem", 0)),
            0.0,
        ]
    geometry = ImageGeometry.from_orientation(
        orientation,
        origin,
        spacing,
        between if between > 0 else thickness,
        (planes, rows, columns),
        str(dataset.get("FrameOfReferenceUID", "")) or None,
    )
    return geometry, np.asarray(placements, dtype=np.int64)


def paste(target: npt.NDArray[np.generic], tile: npt.NDArray[np.generic], row: int, column: int) -> None:
    """Put ``tile`` at ``(row, column)`` of ``target``, clipped to it (edge tiles overhang)."""
    height = min(tile.shape[0], target.shape[0] - row)
    width = min(tile.shape[1], target.shape[1] - column)
    if row < 0 or column < 0 or height <= 0 or width <= 0:
        raise GeometryError(
            f"a tile at row {row + 1}, column {column + 1} lies outside the {target.shape[0]}x{target.shape[1]} total pixel matrix"
        )
    target[row : row + height, column : column + width] = tile[:height, :width]

"""Image geometry: a regular 3D grid of voxels in DICOM patient coordinates (LPS).

Conventions (the same as Slicer's ``slicer.util.arrayFromVolume``):

* Arrays are indexed ``[k, j, i]`` = ``[slice, row, column]``; :attr:`ImageGeometry.shape`
  is in that order.
* :attr:`ImageGeometry.spacing` and the columns of :attr:`ImageGeometry.direction` are in
  IJK order: ``i`` runs along a row (DICOM Image Orientation's first triplet), ``j`` down
  the rows (second triplet), ``k`` along the slice normal (their cross product), so the
  IJK frame is right-handed.
* Coordinates are DICOM patient coordinates in millimetres, LPS. Slicer's RAS differs by
  the sign of the first two axes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import GeometryError

FloatArray = npt.NDArray[np.float64]

#: Direction cosines are accepted as unit and orthogonal within this tolerance.
ORIENTATION_TOLERANCE = 1e-4


class ImageGeometry:
    """A regular voxel grid in LPS.

    Parameters
    ----------
    shape
        ``(slices, rows, columns)``.
    origin
        LPS position (mm) of the centre of voxel ``[0, 0, 0]``.
    spacing
        Voxel size in mm along ``(i, j, k)``: column spacing, row spacing, slice spacing.
    direction
        3x3 matrix whose columns are the LPS unit vectors of the i, j and k axes.
    frame_of_reference_uid
        The DICOM Frame of Reference the coordinates belong to, when known.

    The arrays are read-only.
    """

    __slots__ = ("shape", "origin", "spacing", "direction", "frame_of_reference_uid")

    def __init__(
        self,
        shape: tuple[int, int, int] | npt.ArrayLike,
        origin: npt.ArrayLike,
        spacing: npt.ArrayLike,
        direction: npt.ArrayLike,
        frame_of_reference_uid: str | None = None,
    ) -> None:
        dimensions = tuple(int(n) for n in np.asarray(shape).ravel())
        if len(dimensions) != 3 or min(dimensions) < 1:
            raise GeometryError(f"a grid needs three positive dimensions, got shape {dimensions}")
        self.shape: tuple[int, int, int] = (dimensions[0], dimensions[1], dimensions[2])
        self.origin: FloatArray = _readonly(np.asarray(origin, dtype=np.float64).reshape(3))
        self.spacing: FloatArray = _readonly(np.asarray(spacing, dtype=np.float64).reshape(3))
        self.direction: FloatArray = _readonly(np.asarray(direction, dtype=np.float64).reshape(3, 3))
        self.frame_of_reference_uid = frame_of_reference_uid
        if not np.all(np.isfinite(self.spacing)) or np.any(self.spacing <= 0):
            raise GeometryError(f"voxel spacing must be positive and finite, got {self.spacing.tolist()}")
        if not np.all(np.isfinite(self.origin)):
            raise GeometryError(f"grid origin must be finite, got {self.origin.tolist()}")
        _check_orthonormal(self.direction)

    def __repr__(self) -> str:
        return (
            f"ImageGeometry(shape={self.shape}, origin={self.origin.tolist()}, spacing={self.spacing.tolist()}, "
            f"direction={self.direction.tolist()}, frame_of_reference_uid={self.frame_of_reference_uid!r})"
        )

    # -- derived quantities ---------------------------------------------------------------
    @property
    def slice_normal(self) -> FloatArray:
        """LPS unit vector of the k axis."""
        return self.direction[:, 2].copy()

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing))

    @property
    def ijk_to_lps(self) -> FloatArray:
        """4x4 homogeneous matrix from (i, j, k) voxel indices to LPS millimetres."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.direction * self.spacing[np.newaxis, :]
        matrix[:3, 3] = self.origin
        return matrix

    @property
    def lps_to_ijk(self) -> FloatArray:
        """4x4 homogeneous matrix from LPS millimetres to continuous (i, j, k) indices."""
        matrix = np.eye(4)
        rotation_inverse = self.direction.T / self.spacing[:, np.newaxis]
        matrix[:3, :3] = rotation_inverse
        matrix[:3, 3] = -rotation_inverse @ self.origin
        return matrix

    def to_ijk(self, points_lps: npt.ArrayLike) -> FloatArray:
        """Continuous (i, j, k) indices of LPS points, shape ``(N, 3)``."""
        points = np.asarray(points_lps, dtype=np.float64).reshape(-1, 3)
        return ((points - self.origin) @ self.direction) / self.spacing

    def to_lps(self, points_ijk: npt.ArrayLike) -> FloatArray:
        """LPS positions of continuous (i, j, k) indices, shape ``(N, 3)``."""
        points = np.asarray(points_ijk, dtype=np.float64).reshape(-1, 3)
        return self.origin + (points * self.spacing) @ self.direction.T

    def slice_positions(self) -> FloatArray:
        """LPS position of the first voxel of every slice, shape ``(slices, 3)``."""
        k = np.arange(self.shape[0], dtype=np.float64)
        return self.origin + np.outer(k * self.spacing[2], self.direction[:, 2])

    # -- comparisons and construction ------------------------------------------------------
    def is_close(self, other: ImageGeometry, tolerance_mm: float = 1e-4) -> bool:
        """True when both grids have the same shape and voxel centres within ``tolerance_mm``."""
        if self.shape != other.shape:
            return False
        corners = np.array(
            [[i, j, k] for i in (0, self.shape[2] - 1) for j in (0, self.shape[1] - 1) for k in (0, self.shape[0] - 1)],
            dtype=np.float64,
        )
        return bool(np.max(np.abs(self.to_lps(corners) - other.to_lps(corners))) <= tolerance_mm)

    @classmethod
    def from_ijk_to_lps(
        cls, shape: tuple[int, int, int], ijk_to_lps: npt.ArrayLike, frame_of_reference_uid: str | None = None
    ) -> ImageGeometry:
        """Build a geometry from a 4x4 (or 3x4) IJK-to-LPS matrix, as NRRD and Slicer keep it."""
        matrix = np.asarray(ijk_to_lps, dtype=np.float64)
        axes = matrix[:3, :3]
        spacing = np.linalg.norm(axes, axis=0)
        if np.any(spacing <= 0):
            raise GeometryError("the IJK-to-LPS matrix has a zero-length axis")
        return cls(shape, matrix[:3, 3], spacing, axes / spacing, frame_of_reference_uid)

    @classmethod
    def from_orientation(
        cls,
        image_orientation: npt.ArrayLike,
        first_position: npt.ArrayLike,
        pixel_spacing: npt.ArrayLike,
        slice_spacing: float,
        shape: tuple[int, int, int],
        frame_of_reference_uid: str | None = None,
    ) -> ImageGeometry:
        """Build a geometry from DICOM Image Orientation (Patient), the first slice's Image
        Position (Patient), Pixel Spacing (row spacing, column spacing) and the slice spacing."""
        orientation = np.asarray(image_orientation, dtype=np.float64).reshape(6)
        row_direction, column_direction = orientation[:3], orientation[3:]
        normal = np.cross(row_direction, column_direction)
        direction = np.column_stack([row_direction, column_direction, normal])
        row_spacing, column_spacing = np.asarray(pixel_spacing, dtype=np.float64).reshape(2)
        return cls(shape, first_position, [column_spacing, row_spacing, slice_spacing], direction, frame_of_reference_uid)


def check_image_orientation(image_orientation: npt.ArrayLike) -> FloatArray:
    """Validate a DICOM Image Orientation (Patient) value; return it as 6 floats.

    Raises
    ------
    GeometryError
        When the two direction cosines are not unit length or not orthogonal.
    """
    orientation = np.asarray(image_orientation, dtype=np.float64)
    if orientation.shape != (6,) or not np.all(np.isfinite(orientation)):
        raise GeometryError(f"Image Orientation (Patient) must hold 6 finite numbers, got {orientation.tolist()}")
    row_direction, column_direction = orientation[:3], orientation[3:]
    normal = np.cross(row_direction, column_direction)
    _check_orthonormal(np.column_stack([row_direction, column_direction, normal]))
    return orientation


def _check_orthonormal(direction: FloatArray) -> None:
    if not np.all(np.isfinite(direction)):
        raise GeometryError("direction cosines must be finite")
    deviation = np.abs(direction.T @ direction - np.eye(3)).max()
    if deviation > ORIENTATION_TOLERANCE * 10:
        raise GeometryError(
            f"direction cosines are not unit length and orthogonal (deviation {deviation:.2g}); check Image Orientation (Patient)"
        )


def _readonly(array: FloatArray) -> FloatArray:
    array = array.copy()
    array.flags.writeable = False
    return array


def describe_difference(found: ImageGeometry, expected: ImageGeometry) -> str:
    """What differs between two grids, in words: size, spacing, direction, origin."""
    parts = []
    if tuple(found.shape) != tuple(expected.shape):
        parts.append(f"size {list(found.shape)} vs {list(expected.shape)} (slices, rows, columns)")
    if not np.allclose(found.spacing, expected.spacing, atol=1e-4):
        parts.append(f"spacing {np.round(found.spacing, 4).tolist()} vs {np.round(expected.spacing, 4).tolist()} mm (i, j, k)")
    if not np.allclose(found.direction, expected.direction, atol=1e-4):
        parts.append(f"direction {np.round(found.direction, 4).tolist()} vs {np.round(expected.direction, 4).tolist()} (columns i, j, k)")
    if not np.allclose(found.origin, expected.origin, atol=1e-3):
        parts.append(f"origin {np.round(found.origin, 3).tolist()} vs {np.round(expected.origin, 3).tolist()} mm (LPS)")
    return "; ".join(parts) or "below the tolerance of 0.001 mm"


def lattice_permutation(found: ImageGeometry, expected: ImageGeometry, tolerance_mm: float = 1e-3) -> tuple[list[int], list[bool]] | None:
    """How to put an array on ``found`` onto ``expected`` when both grids hold the same voxel
    centres with their axes in another order or direction (a NIfTI written with flipped axes):
    ``(axes, flips)`` for :func:`reorient`, or ``None`` when the lattices differ.

    ``axes[a]`` is the array axis of ``found`` that becomes axis ``a`` of ``expected`` (array
    axes in ``(k, j, i)`` order); ``flips[a]`` whether it runs the other way.
    """
    mapping = expected.lps_to_ijk @ found.ijk_to_lps  # found (i, j, k) -> expected (i, j, k)
    signed = np.round(mapping[:3, :3])
    if not np.allclose(mapping[:3, :3], signed, atol=1e-4) or sorted(np.abs(signed).sum(axis=0).tolist()) != [1, 1, 1]:
        return None
    found_ijk_shape = found.shape[::-1]
    expected_ijk_shape = expected.shape[::-1]
    axes_ijk, flips_ijk = [], []
    for target in range(3):
        source = int(np.flatnonzero(signed[target])[0])
        sign = int(signed[target, source])
        start = mapping[target, 3] if sign > 0 else mapping[target, 3] - (found_ijk_shape[source] - 1)
        if abs(start) * float(min(expected.spacing)) > tolerance_mm or found_ijk_shape[source] != expected_ijk_shape[target]:
            return None
        axes_ijk.append(source)
        flips_ijk.append(sign < 0)
    # (i, j, k) axis numbers -> array axes (k, j, i)
    axes = [2 - axes_ijk[2 - a] for a in range(3)]
    flips = [flips_ijk[2 - a] for a in range(3)]
    return axes, flips


def reorient(array: npt.NDArray[np.generic], axes: list[int], flips: list[bool]) -> npt.NDArray[np.generic]:
    """Apply :func:`lattice_permutation`'s result: no resampling, only axes swapped or reversed."""
    moved = np.transpose(array, axes)
    for axis, flip in enumerate(flips):
        if flip:
            moved = np.flip(moved, axis=axis)
    return np.ascontiguousarray(moved)


#: Significant digits of geometry numbers in reports (JSON): floating-point noise goes
#: (``3.000000000000002`` -> ``3.0``), exact values stay (``0.9765625``, ``-249.51171875``), and
#: positions keep far better than 1e-6 mm.
REPORT_DIGITS = 12


def report_numbers(values: npt.ArrayLike) -> Any:
    """``values`` (a number or a nested array) as plain floats rounded to :data:`REPORT_DIGITS`
    significant digits, ``-0.0`` written as ``0.0``: for JSON reports, never for computing."""
    array = np.asarray(values, dtype=np.float64)
    rounded = [float(f"{value:.{REPORT_DIGITS}g}") + 0.0 for value in array.ravel().tolist()]
    return np.asarray(rounded, dtype=np.float64).reshape(array.shape).tolist()

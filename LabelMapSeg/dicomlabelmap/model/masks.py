"""Boolean masks on a reference grid, stored cropped to their bounding box.

A full-grid mask per ROI would cost ``slices x rows x columns`` bytes each (35 MB for a
512x512x134 CT); most ROIs fill a small part of the grid, so masks keep only their box
and give the full grid on request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class BoxMask:
    """A mask on a grid of ``shape``, stored as its bounding box ``offset`` + ``crop``."""

    shape: tuple[int, int, int]
    offset: tuple[int, int, int]
    crop: BoolArray

    @classmethod
    def empty(cls, shape: tuple[int, int, int]) -> BoxMask:
        return cls(shape, (0, 0, 0), np.zeros((0, 0, 0), dtype=bool))

    @classmethod
    def from_full(cls, mask: BoolArray) -> BoxMask:
        shape = tuple(int(n) for n in mask.shape)
        if not mask.any():
            return cls.empty(shape)  # type: ignore[arg-type]
        bounds = [np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis))) for axis in range(3)]
        box = tuple(slice(int(b[0]), int(b[-1]) + 1) for b in bounds)
        return cls(shape, tuple(s.start for s in box), mask[box].copy())  # type: ignore[arg-type]

    @classmethod
    def from_planes(cls, shape: tuple[int, int, int], planes: dict[int, BoolArray]) -> BoxMask:
        """A mask from 2D planes ``{k: (rows, columns) mask}``; other slices are empty."""
        occupied = {k: plane for k, plane in planes.items() if plane.any()}
        if not occupied:
            return cls.empty(shape)
        rows = np.flatnonzero(np.any([plane.any(axis=1) for plane in occupied.values()], axis=0))
        columns = np.flatnonzero(np.any([plane.any(axis=0) for plane in occupied.values()], axis=0))
        first, last = min(occupied), max(occupied)
        crop = np.zeros((last - first + 1, rows[-1] - rows[0] + 1, columns[-1] - columns[0] + 1), dtype=bool)
        for k, plane in occupied.items():
            crop[k - first] = plane[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
        return cls(shape, (first, int(rows[0]), int(columns[0])), crop)

    @classmethod
    def from_cropped_planes(cls, shape: tuple[int, int, int], planes: dict[int, tuple[int, int, BoolArray]]) -> BoxMask:
        """A mask from 2D planes each cropped to its own box: ``{k: (row, column, crop)}``, the
        crop's first pixel at ``(row, column)``; other slices are empty. Holds no full plane."""
        occupied = {k: entry for k, entry in planes.items() if entry[2].size and entry[2].any()}
        if not occupied:
            return cls.empty(shape)
        top = min(row for row, _, _ in occupied.values())
        left = min(column for _, column, _ in occupied.values())
        bottom = max(row + crop.shape[0] for row, _, crop in occupied.values())
        right = max(column + crop.shape[1] for _, column, crop in occupied.values())
        first, last = min(occupied), max(occupied)
        crop = np.zeros((last - first + 1, bottom - top, right - left), dtype=bool)
        for k, (row, column, plane) in occupied.items():
            crop[k - first, row - top : row - top + plane.shape[0], column - left : column - left + plane.shape[1]] = plane
        return cls(shape, (first, top, left), crop)

    @property
    def box(self) -> tuple[slice, slice, slice]:
        return tuple(slice(o, o + n) for o, n in zip(self.offset, self.crop.shape, strict=True))  # type: ignore[return-value]

    @property
    def voxel_count(self) -> int:
        return int(np.count_nonzero(self.crop))

    def is_empty(self) -> bool:
        return self.crop.size == 0 or not self.crop.any()

    def full(self) -> BoolArray:
        """The mask on the whole grid."""
        mask = np.zeros(self.shape, dtype=bool)
        if self.crop.size:
            mask[self.box] = self.crop
        return mask

    def plane(self, k: int) -> BoolArray:
        """Slice ``k`` of the mask on the whole grid, shape ``(rows, columns)``."""
        plane = np.zeros(self.shape[1:], dtype=bool)
        local = k - self.offset[0]
        if self.crop.size and 0 <= local < self.crop.shape[0]:
            plane[self.box[1], self.box[2]] = self.crop[local]
        return plane

    def overlaps(self, other: BoxMask) -> bool:
        """True when both masks share a voxel."""
        if self.is_empty() or other.is_empty():
            return False
        low = np.maximum(self.offset, other.offset)
        high = np.minimum(np.add(self.offset, self.crop.shape), np.add(other.offset, other.crop.shape))
        if np.any(low >= high):
            return False
        mine = self.crop[tuple(slice(lo - o, h - o) for lo, h, o in zip(low, high, self.offset, strict=True))]
        theirs = other.crop[tuple(slice(lo - o, h - o) for lo, h, o in zip(low, high, other.offset, strict=True))]
        return bool(np.any(mine & theirs))

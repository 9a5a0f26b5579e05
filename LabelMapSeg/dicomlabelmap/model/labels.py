"""Label volumes: integer label maps on a grid, with the segments their values stand for.

Segments that overlap cannot share one label map; they go to separate *layers*, as Slicer
keeps them (shared labelmaps) and as Label Map SEG needs them (one instance per layer).
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from ..errors import DicomLabelMapError, GeometryError
from .geometry import ImageGeometry, describe_difference, lattice_permutation, reorient
from .gridindex import GridIndex
from .masks import BoxMask
from .segment import Segment

#: Largest segment number a 16-bit label map can hold.
MAX_SEGMENT_NUMBER = 65535


class LabelVolume:
    """One label layer: ``array[k, j, i]`` holds segment numbers (0 = background).

    ``segments`` lists every segment of this layer, empty ones included.

    A layer packed from masks (:func:`build_label_volumes`) is painted only when asked:
    :meth:`slab` paints a few slices at a time (writers stream the layer through it, so the
    whole layer never exists in memory), and :attr:`array` paints the whole layer once and
    keeps it.
    """

    def __init__(
        self, array: npt.NDArray[np.integer], geometry: ImageGeometry, segments: list[Segment], present: Iterable[int] | None = None
    ) -> None:
        self._array: npt.NDArray[np.integer] | None = array
        self._masks: list[tuple[int, BoxMask]] = []
        #: The values ``array`` holds, when its maker counted them already (a SEG reader does).
        self._present: set[int] | None = set(present) - {0} if present is not None else None
        self._dtype: np.dtype = np.dtype(array.dtype)
        self.geometry = geometry
        self.segments = segments
        if tuple(array.shape) != geometry.shape:
            raise DicomLabelMapError(f"label array shape {array.shape} differs from its grid's {geometry.shape}")
        self._check_numbers()

    @classmethod
    def painted(cls, geometry: ImageGeometry, dtype: npt.DTypeLike, segments: list[Segment], masks: Sequence[BoxMask]) -> LabelVolume:
        """A layer of segments whose masks do not overlap, each mask painted with its segment's
        number when the layer is read (:meth:`slab`, :attr:`array`)."""
        volume = cls.__new__(cls)
        volume._array, volume._present = None, None
        volume._dtype = np.dtype(dtype)
        volume._masks = [(segment.number, mask) for segment, mask in zip(segments, masks, strict=True) if not mask.is_empty()]
        volume.geometry = geometry
        volume.segments = segments
        volume._check_numbers()
        return volume

    def _check_numbers(self) -> None:
        numbers = [segment.number for segment in self.segments]
        if len(set(numbers)) != len(numbers):
            raise DicomLabelMapError(f"segment numbers repeat within one layer: {sorted(numbers)}")

    def __repr__(self) -> str:
        return f"LabelVolume(shape={self.geometry.shape}, dtype={self._dtype}, segments={[s.number for s in self.segments]})"

    @property
    def array(self) -> npt.NDArray[np.integer]:
        """The whole layer (painted on first use and kept)."""
        if self._array is None:
            self._array = self.slab(0, self.geometry.shape[0])
            self._masks = []
        return self._array

    @array.setter
    def array(self, value: npt.NDArray[np.integer]) -> None:
        if tuple(value.shape) != self.geometry.shape:
            raise DicomLabelMapError(f"label array shape {value.shape} differs from its grid's {self.geometry.shape}")
        self._array, self._masks, self._dtype, self._present = value, [], np.dtype(value.dtype), None

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def materialized(self) -> bool:
        """Whether the whole layer is in memory (:attr:`array`), rather than painted on reading."""
        return self._array is not None

    def voxels(self) -> npt.NDArray[np.integer] | LabelVolume:
        """What a writer streams: the array when it is in memory, else this layer (read through :meth:`slab`)."""
        return self._array if self._array is not None else self

    def slab(self, start: int, stop: int) -> npt.NDArray[np.integer]:
        """Slices ``start:stop`` of the layer, ``(stop - start, rows, columns)``: a view of
        :attr:`array` when it exists, else a new array painted from the masks."""
        if self._array is not None:
            return self._array[start:stop]
        out = np.zeros((stop - start, *self.geometry.shape[1:]), dtype=self._dtype)
        for number, mask in self._masks:
            first, last = max(start, mask.offset[0]), min(stop, mask.offset[0] + mask.crop.shape[0])
            if first >= last:
                continue
            _, rows, columns = mask.box
            region = out[first - start : last - start, rows, columns]
            np.copyto(region, np.asarray(number, dtype=self._dtype), where=mask.crop[first - mask.offset[0] : last - mask.offset[0]])
        return out

    def present_numbers(self) -> set[int]:
        """The non-zero values the layer holds; a layer still to be painted answers from its
        masks (each non-empty, none overlapping) without painting, a layer whose reader counted
        its values (the SEG reader, frame by frame) from that count."""
        if self._array is None:
            return {number for number, _mask in self._masks}
        if self._present is not None:
            return set(self._present)
        return set(present_values(self._array)) - {0}

    def with_segments(self, segments: list[Segment]) -> LabelVolume:
        """The same voxels described by other segments (renamed, recoloured, coded): shares the
        array, or the masks of a layer still to be painted, and what is known of its values."""
        volume = copy.copy(self)
        volume.segments = segments
        volume._check_numbers()
        return volume

    def segment(self, number: int) -> Segment:
        for segment in self.segments:
            if segment.number == number:
                return segment
        raise KeyError(number)

    def mask(self, number: int) -> npt.NDArray[np.bool_]:
        return self.array == number

    def on_grid(self, geometry: ImageGeometry) -> LabelVolume:
        """This layer on ``geometry``: itself when the grids agree, its array with axes swapped or
        reversed when both grids hold the same voxel centres in another axis order (never
        resampled).

        Raises
        ------
        GeometryError
            When the grids differ otherwise; the message says what differs.
        """
        if self.geometry.is_close(geometry, 1e-3):
            return self
        found = lattice_permutation(self.geometry, geometry)
        if found is None:
            raise GeometryError(
                f"the label map's grid differs from the reference series' grid: {describe_difference(self.geometry, geometry)}"
            )
        return LabelVolume(reorient(self.array, *found), geometry, self.segments)  # type: ignore[arg-type]


def present_values(array: np.ndarray) -> list[int]:
    """The distinct values in a label array, ascending. 8- and 16-bit labels are counted a
    quarter of a million voxels at a time (pieces that stay in the processor's cache; no sort,
    no full-size copy as ``np.unique`` and a whole-array ``np.bincount`` make)."""
    if array.dtype not in (np.uint8, np.uint16):
        return [int(v) for v in np.unique(array)]
    bins = 256 if array.dtype == np.uint8 else 65536
    seen = np.zeros(bins, dtype=bool)
    flat = array.reshape(-1)
    for start in range(0, flat.size, 1 << 18):
        seen |= np.bincount(flat[start : start + (1 << 18)], minlength=bins).astype(bool)
    return [int(v) for v in np.flatnonzero(seen)]


def label_dtype(max_number: int) -> np.dtype:
    """The smallest unsigned integer type that holds ``max_number`` (8 or 16 bits)."""
    if max_number > MAX_SEGMENT_NUMBER:
        raise DicomLabelMapError(f"segment number {max_number} exceeds {MAX_SEGMENT_NUMBER}, the most a 16-bit label map holds")
    return np.dtype(np.uint8 if max_number <= 255 else np.uint16)


def assign_layers(masks: Sequence[BoxMask]) -> list[int]:
    """Layer index for each mask such that no two masks of one layer share a voxel.

    Uses DSatur graph colouring on the overlap graph: the fewest layers for overlap graphs
    that need at most two, and close to the fewest otherwise. Masks are compared only when
    their bounding boxes meet (found through a grid, not by comparing all pairs), and the
    next mask to colour comes from a priority queue, so tens of thousands of segments cost
    about as much as their voxels.
    """
    count = len(masks)
    neighbours: list[set[int]] = [set() for _ in range(count)]
    for a, b in _overlapping_pairs(masks):
        neighbours[a].add(b)
        neighbours[b].add(a)
    layer = [-1] * count
    near_layers: list[set[int]] = [set() for _ in range(count)]  # layers of coloured neighbours
    # DSatur: colour next the uncoloured mask whose neighbours use the most distinct layers,
    # then the one with most neighbours, then the first. Stale queue entries are skipped.
    queue = [(0, -len(neighbours[n]), n) for n in range(count)]
    heapq.heapify(queue)
    while queue:
        saturation, _, node = heapq.heappop(queue)
        if layer[node] >= 0 or -saturation != len(near_layers[node]):
            continue
        chosen = next(c for c in range(count + 1) if c not in near_layers[node])
        layer[node] = chosen
        for other in neighbours[node]:
            if layer[other] < 0 and chosen not in near_layers[other]:
                near_layers[other].add(chosen)
                heapq.heappush(queue, (-len(near_layers[other]), -len(neighbours[other]), other))
    return layer


def _overlapping_pairs(masks: Sequence[BoxMask]) -> list[tuple[int, int]]:
    """Index pairs of masks that share a voxel."""
    filled = [n for n, mask in enumerate(masks) if not mask.is_empty()]
    if len(filled) < 2:
        return []
    low = np.array([masks[n].offset for n in filled], dtype=np.float64)
    high = low + np.array([masks[n].crop.shape for n in filled], dtype=np.float64) - 1
    a, b = GridIndex(low, high).shared_cells(budget=2**62)
    meets = np.all(np.maximum(low[a], low[b]) <= np.minimum(high[a], high[b]), axis=1)
    return [
        (filled[x], filled[y])
        for x, y in zip(a[meets].tolist(), b[meets].tolist(), strict=True)
        if masks[filled[x]].overlaps(masks[filled[y]])
    ]


def build_label_volumes(geometry: ImageGeometry, items: Sequence[tuple[Segment, BoxMask]]) -> list[LabelVolume]:
    """Pack segments with their masks into the fewest non-overlapping label layers.

    Every segment keeps its number as its label value, whatever layer it lands in. With no
    segments at all, one empty layer is returned. The layers keep the masks and paint them
    when read (:meth:`LabelVolume.slab`, :attr:`LabelVolume.array`).
    """
    numbers = [segment.number for segment, _ in items]
    if len(set(numbers)) != len(numbers):
        raise DicomLabelMapError(f"segment numbers repeat: {sorted(numbers)}")
    if any(n < 1 for n in numbers):
        raise DicomLabelMapError(f"segment numbers must be 1 or more (0 is background), got {min(numbers)}")
    dtype = label_dtype(max(numbers, default=0))
    layers = assign_layers([mask for _, mask in items])
    count = max(layers, default=0) + 1
    members: list[list[tuple[Segment, BoxMask]]] = [[] for _ in range(count)]
    for item, layer in zip(items, layers, strict=True):
        members[layer].append(item)
    # Painted when read: writers stream each layer a few slices at a time.
    return [LabelVolume.painted(geometry, dtype, [s for s, _ in layer], [m for _, m in layer]) for layer in members]

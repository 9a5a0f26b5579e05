"""A uniform grid over axis-aligned boxes, for finding what meets what without comparing
all pairs: boxes are filed under every cell they touch, points look up their cell.

Used for contour edges and polygon boxes on a plane (2D), horizontal bands (1D) and segment
bounding boxes in a volume (3D). The work and memory grow with the number of boxes and of
pairs actually reported, which callers can bound with a budget.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class OverBudget(Exception):
    """A lookup would report more pairs than its budget allows."""


class GridIndex:
    """Axis-aligned boxes (``low``, ``high``: ``(n, d)``) filed under every cell of a uniform
    grid they touch, optionally per group (only items and queries of one group meet).

    The cell is about as long as a typical box, never finer than 2**-20 of the extent, and
    coarse enough that there are at most 16 (box, cell) entries per box on average, however
    the box sizes are spread (a million tiny edges beside a few long ones).
    """

    def __init__(self, low: FloatArray, high: FloatArray, groups: IntArray | None = None):
        count, dims = low.shape
        sides = high - low
        lengths = np.max(sides, axis=1)
        typical = float(np.median(lengths[lengths > 0])) if np.any(lengths > 0) else 0.0
        self.origin = low.min(axis=0)
        extent = float(np.max(high.max(axis=0) - self.origin))
        self.cell = max(typical, extent / 2**20, 1e-9)
        for _ in range(2):
            first = np.floor((low - self.origin) / self.cell).astype(np.int64)
            spans = np.floor((high - self.origin) / self.cell).astype(np.int64) - first + 1
            per_item = np.prod(spans, axis=1)
            if float(np.prod(spans.astype(np.float64), axis=1).sum()) <= 16 * count:  # in floats: no overflow
                break
            # A few long boxes among many small ones: the coarsest cell the bound asks for.
            self.cell = max(self.cell, _linear_cell(sides, 16 * count))
        self.shape = (first + spans).max(axis=0)
        item = np.repeat(np.arange(count), per_item)
        rest = ramp(per_item)
        key = np.zeros(len(item), dtype=np.int64)
        stride = 1
        for dim in range(dims):
            key += (first[item, dim] + rest % spans[item, dim]) * stride
            rest //= spans[item, dim]
            stride *= int(self.shape[dim])
        if groups is not None:
            key += groups[item] * stride
        self.stride = stride
        self.low = low
        order = np.argsort(key, kind="stable")  # items stay in increasing order within a cell
        self.key, self.item = key[order], item[order]

    def query(self, points: FloatArray, groups: IntArray | None, budget: int) -> tuple[IntArray, IntArray]:
        """For each point, where its cell's items start in ``self.item`` and how many there are."""
        key = self.cell_keys(points)
        if groups is not None:
            key += groups * self.stride
        first = np.searchsorted(self.key, key, side="left")
        counts = np.searchsorted(self.key, key, side="right") - first
        if int(counts.sum()) > budget:
            raise OverBudget
        return first, counts

    def cell_keys(self, points: FloatArray) -> IntArray:
        """The key of the cell each point falls in (clipped to the grid; group 0)."""
        cells = np.clip(np.floor((points - self.origin) / self.cell), 0, self.shape - 1).astype(np.int64)
        key = np.zeros(len(points), dtype=np.int64)
        stride = 1
        for dim in range(points.shape[1]):
            key += cells[:, dim] * stride
            stride *= int(self.shape[dim])
        return key

    def shared_cells(self, budget: int) -> tuple[IntArray, IntArray]:
        """Pairs ``(a, b)`` of distinct items whose boxes overlap, each once: a pair is kept
        only in the cell holding the low corner of the two boxes' intersection."""
        partners = np.searchsorted(self.key, self.key, side="right") - np.arange(len(self.key)) - 1
        if int(partners.sum()) > budget:
            raise OverBudget
        a_parts, b_parts = [], []
        for left, right in chunks(np.arange(len(self.key)) + 1, partners):
            a, b = self.item[left], self.item[right]
            home = self.cell_keys(np.maximum(self.low[a], self.low[b])) == self.key[left]
            a_parts.append(a[home])
            b_parts.append(b[home])
        return np.concatenate(a_parts), np.concatenate(b_parts)


def _linear_cell(sides: FloatArray, entries: int) -> float:
    """The smallest cell for which boxes of these side lengths are filed under at most
    ``entries`` cells in all, from the bound ``cells per side <= side / cell + 2``: the sum
    over boxes of the product over sides of ``side * u + 2`` is a polynomial in ``u = 1 / cell``
    with positive coefficients, so it meets ``entries`` at exactly one positive ``u``."""
    count, dims = sides.shape
    per_box = np.ones((count, 1))
    for dim in range(dims):
        shifted = np.zeros((count, per_box.shape[1] + 1))
        shifted[:, :-1] += 2 * per_box
        shifted[:, 1:] += sides[:, dim : dim + 1] * per_box
        per_box = shifted
    coefficients = per_box.sum(axis=0).tolist()  # of u**0 .. u**dims, summed over boxes
    coefficients[0] -= entries
    if coefficients[0] >= 0 or not any(c > 0 for c in coefficients[1:]):
        return 0.0  # the bound cannot be met, or every box is a point: no limit from here

    if len(coefficients) == 2:  # linear: c0 + c1 u = 0
        return -coefficients[1] / coefficients[0]
    if len(coefficients) == 3:  # quadratic, the positive root written to avoid cancellation
        c0, c1, c2 = coefficients
        return float((c1 + np.sqrt(c1 * c1 - 4 * c2 * c0)) / (-2 * c0))

    def excess(u: float) -> float:
        return sum(c * u**power for power, c in enumerate(coefficients))

    low, high = 0.0, 1.0
    while excess(high) < 0:
        low, high = high, high * 2
    for _ in range(60):  # bisection: the polynomial increases for u > 0
        middle = (low + high) / 2
        low, high = (middle, high) if excess(middle) < 0 else (low, middle)
    return 1 / high


def ramp(counts: IntArray) -> IntArray:
    """``0 .. counts[i] - 1`` for each ``i``, concatenated."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def chunks(first: IntArray, counts: IntArray, size: int = 2**21) -> Iterator[tuple[IntArray, IntArray]]:
    """(query, position) pairs for every query and each of its ``counts`` positions from
    ``first``, in chunks of about ``size`` pairs."""
    cumulative = np.cumsum(counts)
    low = 0
    while low < len(counts):
        done = int(cumulative[low - 1]) if low else 0
        high = max(low + 1, int(np.searchsorted(cumulative, done + size, side="right")))
        n = counts[low:high]
        yield np.repeat(np.arange(low, high), n), np.repeat(first[low:high], n) + ramp(n)
        low = high

"""Holes joined to their outline by zero-width channels ("keyholes", PS3.3 C.8.8.6.3): one
``CLOSED_PLANAR`` polygon per connected piece, for readers that combine the contours of a plane
by union (OR) and so would fill nested holes.

Each hole is joined to the outline right above it: a vertical channel leaves the hole's
topmost-leftmost voxel column a quarter pixel right of the voxel centres
(:data:`CHANNEL_OFFSET`), runs up through the piece's own voxels and ends on the first outline
it meets, which is the piece's outer boundary or another of its holes (itself joined further up).
The channel is walked up and back down, so it adds no area under the even-odd or the non-zero
rule; it never passes through a voxel centre or an outline vertex, and a hole is traversed
against the outer boundary's direction, as keyholes are drawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .outlines import FloatArray, IntArray, Loops

#: Horizontal offset (pixels) of a channel from the voxel centres of its column: clear of every
#: centre (integers), voxel edge (half-integers) and cut corner.
CHANNEL_OFFSET = 0.25


def keyhole_polygons(loops: Loops) -> list[tuple[int, FloatArray]]:
    """One polygon per outer boundary, every hole inside it joined by a channel: ``(k, points)``
    in the order of the outer boundaries."""
    holes = np.flatnonzero(loops.holes)
    outers = np.flatnonzero(~loops.holes)
    if not len(holes):
        return [(int(loops.slices[n]), loops.loop(int(n))) for n in outers]
    edges = _EdgeTable(loops)
    columns = loops.columns[holes]
    ray_x = columns + CHANNEL_OFFSET
    ray_key = loops.slices[holes] * edges.column_count + (columns - edges.first_column)
    key, y, edge = edges.crossings(np.unique(ray_key))
    # Q: the channel's start, the hole's own topmost crossing.
    key_of_loop = np.full(len(loops), -1, dtype=np.int64)
    key_of_loop[holes] = ray_key
    own = np.flatnonzero(key_of_loop[edges.owner[edge]] == key)
    own = own[np.lexsort((y[own], edges.owner[edge[own]]))]
    first = np.flatnonzero(np.r_[True, np.diff(edges.owner[edge[own]]) != 0])
    start_of = {int(edges.owner[edge[own[n]]]): int(own[n]) for n in first}
    start = np.array([start_of[int(hole)] for hole in holes], dtype=np.int64)
    # P: the channel's end, the nearest crossing above Q on the same line.
    span = float(y.max() - y.min()) + 2.0
    combined = key * span + (y - y.min())
    order = np.argsort(combined, kind="stable")
    below = np.searchsorted(combined[order], ray_key * span + (y[start] - y.min()), side="left") - 1
    end = order[below]
    if np.any(below < 0) or np.any(key[end] != ray_key):
        raise AssertionError("a keyhole channel found no outline above its hole")  # an outer boundary always encloses a hole
    splice = _Splice(loops, edges)
    for index, hole in enumerate(holes.tolist()):
        splice.join(hole, int(edge[start[index]]), float(ray_x[index]), float(y[start[index]]), int(edge[end[index]]), float(y[end[index]]))
    return [(int(loops.slices[n]), splice.polygon(int(n))) for n in outers]


class _EdgeTable:
    """The edges of every loop: edge ``e`` runs from point ``e`` to point ``following[e]``."""

    def __init__(self, loops: Loops) -> None:
        self.loops = loops
        self.owner = np.repeat(np.arange(len(loops)), loops.sizes)
        following = np.arange(len(loops.points)) + 1
        following[loops.starts[1:] - 1] = loops.starts[:-1]
        self.following = following
        x = loops.points[:, 0]
        self.first_column = int(np.floor(x.min())) - 1
        self.column_count = int(np.ceil(x.max())) + 2 - self.first_column

    def crossings(self, wanted_keys: IntArray) -> tuple[IntArray, FloatArray, IntArray]:
        """Every crossing of an edge with a channel line ``x = column + CHANNEL_OFFSET`` whose key
        (``slice * column_count + column - first_column``) is wanted: ``(key, y, edge)``."""
        points = self.loops.points
        x0, x1 = points[:, 0], points[self.following, 0]
        low, high = np.minimum(x0, x1), np.maximum(x0, x1)
        # No channel line meets a vertex, so the open interval of the edge decides.
        first = np.floor(low - CHANNEL_OFFSET).astype(np.int64) + 1
        last = np.ceil(high - CHANNEL_OFFSET).astype(np.int64) - 1
        counts = np.maximum(last - first + 1, 0)
        slices = self.loops.slices[self.owner]
        wanted_slices = np.isin(slices, np.unique(wanted_keys // self.column_count))
        counts[~wanted_slices] = 0
        edge = np.repeat(np.arange(len(points)), counts)
        column = first[edge] + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        key = slices[edge] * self.column_count + (column - self.first_column)
        keep = np.isin(key, wanted_keys)
        edge, column, key = edge[keep], column[keep], key[keep]
        line = column + CHANNEL_OFFSET
        y0, y1 = points[edge, 1], points[self.following[edge], 1]
        start_x, end_x = x0[edge], x1[edge]
        y = y0 + (line - start_x) * (y1 - y0) / (end_x - start_x)
        return key, y, edge

    def along(self, edge: int, x: float) -> float:
        """How far along ``edge`` (0 at its start, 1 at its end) the line ``x`` crosses it."""
        x0, x1 = self.loops.points[edge, 0], self.loops.points[self.following[edge], 0]
        return float((x - x0) / (x1 - x0))


@dataclass
class _Splice:
    """Loops with channels inserted, flattened into one polygon per outer boundary."""

    loops: Loops
    edges: _EdgeTable
    #: Per loop: ``(local edge, position along it, kind, payload)`` insertions, kind 0 = the start
    #: of the loop's own channel (holes), 1 = a hole joined here.
    inserts: dict[int, list[tuple[int, float, int, int, FloatArray]]] = field(default_factory=dict)

    def join(self, hole: int, start_edge: int, x: float, start_y: float, end_edge: int, end_y: float) -> None:
        starts = self.loops.starts
        parent = int(self.edges.owner[end_edge])
        self.inserts.setdefault(hole, []).append(
            (start_edge - int(starts[hole]), self.edges.along(start_edge, x), 0, hole, np.array([[x, start_y]]))
        )
        self.inserts.setdefault(parent, []).append(
            (end_edge - int(starts[parent]), self.edges.along(end_edge, x), 1, hole, np.array([[x, end_y]]))
        )

    def polygon(self, outer: int) -> FloatArray:
        return np.concatenate(list(self._flatten(outer)))

    def _items(self, loop: int) -> list[FloatArray | int]:
        """The loop's points in order with its insertions: arrays of points, ``-1`` marking where
        its own channel starts, ``hole`` numbers where a hole is joined (with the channel's end
        point before and after)."""
        points = self.loops.loop(loop)
        items: list[FloatArray | int] = []
        done = 0
        for local, _, kind, hole, point in sorted(self.inserts.get(loop, []), key=lambda entry: (entry[0], entry[1])):
            items.append(points[done : local + 1])
            done = local + 1
            items += [-1, point] if kind == 0 else [point, hole, point]
        items.append(points[done:])
        return items

    def _walk(self, hole: int) -> list[FloatArray | int]:
        """A hole's items as a closed walk from its channel's start back to it."""
        items = self._items(hole)
        marker = next(n for n, item in enumerate(items) if isinstance(item, int) and item < 0)
        start = items[marker + 1]
        return [start] + items[marker + 2 :] + items[:marker] + [start]

    def _flatten(self, outer: int) -> Iterator[FloatArray]:
        stack = [iter(self._items(outer))]
        while stack:
            item = next(stack[-1], None)
            if item is None:
                stack.pop()
            elif isinstance(item, int):
                stack.append(iter(self._walk(item)))
            else:
                yield item

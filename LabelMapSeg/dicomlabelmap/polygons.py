"""Planar polygon algorithms on a pixel grid, vectorised with numpy.

Coordinates are continuous pixel indices ``(x, y)`` = (column, row); the centre of pixel
``[row, column]`` is at ``(column, row)``. A closed polygon's last vertex connects to its
first (PS3.3 C.8.8.6.1: the first point is not repeated).

Filling rule (PS3.3 C.8.8.6.3): a pixel belongs to the region when its centre lies inside an
odd number of the polygons (even-odd; for ``CLOSEDPLANAR_XOR`` contours this *is* the
exclusive or of their interiors, and for nested ``CLOSED_PLANAR`` contours and keyholes it
gives the holes), or lies on any polygon's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: A centre closer than this (in pixels) to a polygon's path is on the path.
DEFAULT_BOUNDARY_TOLERANCE = 1e-3


@dataclass(frozen=True)
class PlaneFill:
    """Result of filling one plane."""

    mask: BoolArray
    #: For each polygon, whether its own interior or path holds at least one pixel centre.
    covers_centre: BoolArray


def fill_polygons(polygons: Sequence[FloatArray], shape: tuple[int, int], tolerance: float = DEFAULT_BOUNDARY_TOLERANCE) -> PlaneFill:
    """Fill closed polygons on a ``(rows, columns)`` grid with the even-odd rule.

    Parameters
    ----------
    polygons
        Each an ``(N, 2)`` array of ``(x, y)`` vertices, ``N >= 1``.
    shape
        ``(rows, columns)`` of the grid.
    tolerance
        Distance in pixels within which a centre counts as lying on a path.

    Returns
    -------
    PlaneFill
        The combined mask and, per polygon, whether it covers any centre on its own.
    """
    rows, columns = shape
    if not polygons:
        return PlaneFill(np.zeros(shape, dtype=bool), np.zeros(0, dtype=bool))
    vertices, polygon_ids, next_index = _edges(polygons, tolerance)
    x0, y0 = vertices[:, 0], vertices[:, 1]
    x1, y1 = vertices[next_index, 0], vertices[next_index, 1]

    crossing_row, crossing_x, crossing_slack, crossing_polygon = _crossings(x0, y0, x1, y1, polygon_ids, rows, tolerance)
    # Even-odd over all polygons: sort crossings along each row and pair them up.
    order = np.lexsort((crossing_x, crossing_row))
    combined = _pair_intervals(crossing_row[order], crossing_x[order], crossing_slack[order], columns)
    # The same per polygon, to know which polygon encloses no centre at all.
    order = np.lexsort((crossing_x, crossing_row, crossing_polygon))
    own_rows, own_starts, own_ends = _pair_intervals(crossing_row[order], crossing_x[order], crossing_slack[order], columns)
    own_polygon = crossing_polygon[order][0::2]

    # Centres on the path that the crossings miss: horizontal edges on a row, and vertices.
    boundary_rows, boundary_starts, boundary_ends, boundary_polygon = _boundary_intervals(
        x0, y0, x1, y1, polygon_ids, rows, columns, tolerance
    )
    mask = _intervals_to_mask((combined[0], boundary_rows), (combined[1], boundary_starts), (combined[2], boundary_ends), rows, columns)
    covers = np.zeros(len(polygons), dtype=bool)
    covers[own_polygon[own_starts <= own_ends]] = True
    covers[boundary_polygon[boundary_starts <= boundary_ends]] = True
    return PlaneFill(mask, covers)


def path_pixels(polygon: FloatArray, shape: tuple[int, int], closed: bool = True) -> tuple[IntArray, IntArray]:
    """Rows and columns of the pixels the polygon's path passes through (inside the grid)."""
    points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    ends = np.roll(points, -1, axis=0) if closed else points[1:]
    starts = points if closed else points[:-1]
    if len(starts) == 0:
        starts, ends = points, points
    lengths = np.ceil(np.max(np.abs(ends - starts), axis=1) * 2).astype(np.int64) + 1
    segment = np.repeat(np.arange(len(starts)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    t = offsets / np.maximum(lengths[segment] - 1, 1)
    samples = starts[segment] + (ends[segment] - starts[segment]) * t[:, np.newaxis]
    columns = np.floor(samples[:, 0] + 0.5).astype(np.int64)
    rows = np.floor(samples[:, 1] + 0.5).astype(np.int64)
    inside = (rows >= 0) & (rows < shape[0]) & (columns >= 0) & (columns < shape[1])
    return rows[inside], columns[inside]


# -- relations between polygons, for reports ------------------------------------------------------
@dataclass(frozen=True)
class PlaneRelations:
    """How the polygons of one plane relate to each other."""

    #: For each polygon, how many other polygons contain it (0 = outer, 1 = hole, 2 = island ...).
    depth: IntArray
    #: Pairs ``(a, b)``, ``a < b``, of polygons whose paths cross or touch (neither nested nor apart).
    overlapping_pairs: list[tuple[int, int]]
    #: For each polygon, whether two of its non-adjacent edges cross or touch (keyhole, figure eight).
    self_touching: BoolArray


def plane_relations(polygons: Sequence[FloatArray]) -> PlaneRelations:
    """Nesting depth of each polygon, the pairs that cross or touch, and the self-touching ones.

    Edge pairs are found through a uniform grid (only edges sharing a cell are compared), so
    the cost grows with the number of edges, not with its square.
    """
    count = len(polygons)
    sizes = np.array([len(p) for p in polygons], dtype=np.int64)
    starts = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons]) if count else np.zeros((0, 2))
    owner = np.repeat(np.arange(count), sizes)
    first = np.cumsum(sizes) - sizes
    local = np.arange(len(starts)) - first[owner]
    successor = np.where(local == sizes[owner] - 1, first[owner], np.arange(len(starts)) + 1)
    ends = starts[successor] if len(starts) else starts
    a, b = _candidate_edge_pairs(starts, ends)
    hits = _segments_intersect(starts[a], ends[a], starts[b], ends[b])
    a, b = a[hits], b[hits]
    same = owner[a] == owner[b]
    # Adjacent edges of one polygon always share a vertex; that is not a self-touch.
    size = sizes[owner[a]]
    gap = np.abs(local[a] - local[b])
    adjacent = same & ((gap == 1) | (gap == size - 1))
    self_touching = np.zeros(count, dtype=bool)
    self_touching[owner[a][same & ~adjacent]] = True
    crossing = {(int(min(x, y)), int(max(x, y))) for x, y in zip(owner[a][~same], owner[b][~same], strict=True)}
    depth = np.zeros(count, dtype=np.int64)
    boxes = np.array([[p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()] for p in polygons]).reshape(-1, 4)
    for x in range(count):
        # A polygon can only contain another whose bounding box lies within its own.
        inside = np.flatnonzero(np.all(boxes[:, :2] >= boxes[x, :2], axis=1) & np.all(boxes[:, 2:] <= boxes[x, 2:], axis=1))
        for y in (int(i) for i in inside):
            if y != x and (min(x, y), max(x, y)) not in crossing and _point_in_polygon(polygons[y][0], polygons[x]):
                depth[y] += 1
    return PlaneRelations(depth, sorted(crossing), self_touching)


def polygon_area(polygon: FloatArray) -> float:
    """Unsigned shoelace area of a closed polygon (in squared coordinate units)."""
    x, y = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


# -- internals ----------------------------------------------------------------------------------
def _edges(polygons: Sequence[FloatArray], tolerance: float) -> tuple[FloatArray, IntArray, IntArray]:
    """All vertices of all polygons, their polygon id, and the index of each vertex's successor.
    Row coordinates within ``tolerance`` of a pixel row snap onto it, so that edges lying on a
    row are exactly horizontal and vertices on a row are exactly on it."""
    sizes = np.array([len(p) for p in polygons], dtype=np.int64)
    vertices = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons])
    rounded = np.round(vertices[:, 1])
    vertices[:, 1] = np.where(np.abs(vertices[:, 1] - rounded) <= tolerance, rounded, vertices[:, 1])
    polygon_ids = np.repeat(np.arange(len(polygons)), sizes)
    first = np.cumsum(sizes) - sizes
    next_index = np.arange(len(vertices)) + 1
    last = first + sizes - 1
    next_index[last] = first
    return vertices, polygon_ids, next_index


def _crossings(
    x0: FloatArray, y0: FloatArray, x1: FloatArray, y1: FloatArray, polygon_ids: IntArray, rows: int, tolerance: float
) -> tuple[IntArray, FloatArray, FloatArray, IntArray]:
    """Where each non-horizontal edge crosses the pixel rows, counting row ``r`` when
    ``min(y0, y1) <= r < max(y0, y1)`` so that a vertex on a row is counted once per pass.
    Also returns, per crossing, the horizontal slack equal to ``tolerance`` measured
    perpendicular to the edge."""
    low, high = np.minimum(y0, y1), np.maximum(y0, y1)
    sloped = low < high
    first_row = np.maximum(np.ceil(low), 0).astype(np.int64)
    last_row = np.minimum(np.ceil(high) - 1, rows - 1).astype(np.int64)
    counts = np.where(sloped, np.maximum(last_row - first_row + 1, 0), 0)
    edge = np.repeat(np.arange(len(x0)), counts)
    row = first_row[edge] + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    dx, dy = x1 - x0, y1 - y0
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(sloped, dx / dy, 0.0)
        slack = tolerance * np.hypot(dx, dy) / np.abs(np.where(sloped, dy, 1.0))
    x = x0[edge] + (row - y0[edge]) * slope[edge]
    return row, x, slack[edge], polygon_ids[edge]


def _pair_intervals(rows: IntArray, xs: FloatArray, slack: FloatArray, columns: int) -> tuple[IntArray, IntArray, IntArray]:
    """Consecutive sorted crossings on a row bound an inside interval; centres on either end
    (within the crossing's slack) are inside."""
    starts = np.ceil(xs[0::2] - slack[0::2]).astype(np.int64)
    ends = np.floor(xs[1::2] + slack[1::2]).astype(np.int64)
    return rows[0::2], np.maximum(starts, 0), np.minimum(ends, columns - 1)


def _boundary_intervals(
    x0: FloatArray,
    y0: FloatArray,
    x1: FloatArray,
    y1: FloatArray,
    polygon_ids: IntArray,
    rows: int,
    columns: int,
    tolerance: float,
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    on_row = (y0 == np.round(y0)) & (y0 >= 0) & (y0 <= rows - 1)
    horizontal = on_row & (y0 == y1)
    # Horizontal edges on a row, then every vertex on a row (a zero-length interval each).
    lows = np.concatenate([np.minimum(x0, x1)[horizontal], x0[on_row]])
    highs = np.concatenate([np.maximum(x0, x1)[horizontal], x0[on_row]])
    boundary_rows = np.concatenate([y0[horizontal], y0[on_row]]).astype(np.int64)
    owners = np.concatenate([polygon_ids[horizontal], polygon_ids[on_row]])
    starts = np.maximum(np.ceil(lows - tolerance), 0).astype(np.int64)
    ends = np.minimum(np.floor(highs + tolerance), columns - 1).astype(np.int64)
    return boundary_rows, starts, ends, owners


def _intervals_to_mask(
    rows_parts: tuple[IntArray, ...], start_parts: tuple[IntArray, ...], end_parts: tuple[IntArray, ...], rows: int, columns: int
) -> BoolArray:
    """Union of inclusive ``[start, end]`` column intervals on rows, through a difference array."""
    interval_rows = np.concatenate(rows_parts)
    starts = np.concatenate(start_parts)
    ends = np.concatenate(end_parts)
    keep = starts <= ends
    interval_rows, starts, ends = interval_rows[keep], starts[keep], ends[keep]
    width = columns + 1
    size = rows * width
    difference = np.bincount(interval_rows * width + starts, minlength=size) - np.bincount(interval_rows * width + ends + 1, minlength=size)
    return np.cumsum(difference.reshape(rows, width), axis=1)[:, :columns] > 0


def _candidate_edge_pairs(starts: FloatArray, ends: FloatArray) -> tuple[IntArray, IntArray]:
    """Index pairs ``(a, b)``, ``a < b``, of edges whose bounding boxes share a grid cell."""
    count = len(starts)
    if count < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low, high = np.minimum(starts, ends), np.maximum(starts, ends)
    origin = low.min(axis=0)
    extent = float(np.max(high.max(axis=0) - origin))
    cell = max(float(np.median(np.max(high - low, axis=1))), extent / 4096, 1e-6)
    while True:
        # Cells about as long as a typical edge; coarser when a few long edges would span so
        # many cells that the bucketing itself became the cost (e.g. a million tiny edges
        # beside ordinary ones): the work stays linear in the number of edges.
        first_cell = np.floor((low - origin) / cell).astype(np.int64)
        last_cell = np.floor((high - origin) / cell).astype(np.int64)
        spans = last_cell - first_cell + 1
        per_edge = spans[:, 0] * spans[:, 1]
        if int(per_edge.sum()) <= 16 * count + 1024 or cell > extent:
            break
        cell *= 2
    edge = np.repeat(np.arange(count), per_edge)
    offset = np.arange(per_edge.sum()) - np.repeat(np.cumsum(per_edge) - per_edge, per_edge)
    cell_x = first_cell[edge, 0] + offset % spans[edge, 0]
    cell_y = first_cell[edge, 1] + offset // spans[edge, 0]
    key = cell_y * (int(last_cell[:, 0].max()) + 1) + cell_x
    order = np.lexsort((edge, key))
    key, edge = key[order], edge[order]
    group_end = np.searchsorted(key, key, side="right")
    partners = group_end - np.arange(len(key)) - 1
    left = np.repeat(np.arange(len(key)), partners)
    right = left + 1 + (np.arange(partners.sum()) - np.repeat(np.cumsum(partners) - partners, partners))
    a, b = edge[left], edge[right]
    unique = np.unique(np.minimum(a, b) * count + np.maximum(a, b))
    return unique // count, unique % count


def _cross(o: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    return (a[:, 0] - o[:, 0]) * (b[:, 1] - o[:, 1]) - (a[:, 1] - o[:, 1]) * (b[:, 0] - o[:, 0])


def _segments_intersect(p1: FloatArray, p2: FloatArray, q1: FloatArray, q2: FloatArray) -> BoolArray:
    """Element-wise: does segment ``p1[n]-p2[n]`` cross or touch segment ``q1[n]-q2[n]``?"""
    scale = 1e-12 * (1 + np.abs(p1).max(axis=1, initial=0)) ** 2 if len(p1) else np.zeros(0)
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    proper = (((d1 > scale) & (d2 < -scale)) | ((d1 < -scale) & (d2 > scale))) & (
        ((d3 > scale) & (d4 < -scale)) | ((d3 < -scale) & (d4 > scale))
    )

    def on_segment(d: FloatArray, point: FloatArray, a: FloatArray, b: FloatArray) -> BoolArray:
        within = np.all((np.minimum(a, b) <= point + 1e-9) & (point <= np.maximum(a, b) + 1e-9), axis=1)
        return (np.abs(d) <= scale) & within

    touching = on_segment(d1, p1, q1, q2) | on_segment(d2, p2, q1, q2) | on_segment(d3, q1, p1, p2) | on_segment(d4, q2, p1, p2)
    return proper | touching


def _point_in_polygon(point: FloatArray, polygon: FloatArray) -> bool:
    """Crossing-number test of one point against a closed polygon."""
    x, y = point
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    straddles = (y0 <= y) != (y1 <= y)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing_x = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return bool(np.count_nonzero(straddles & (crossing_x > x)) % 2)

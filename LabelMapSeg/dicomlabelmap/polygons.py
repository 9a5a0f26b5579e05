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
#: Pairs of edges compared at once when testing intersections (bounds memory).
_EDGE_PAIR_CHUNK = 4_000_000


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
    #: Pairs ``(a, b)`` of polygons whose paths cross or touch (neither nested nor disjoint).
    overlapping_pairs: list[tuple[int, int]]


def plane_relations(polygons: Sequence[FloatArray]) -> PlaneRelations:
    """Nesting depth of each polygon and the pairs that partially overlap."""
    count = len(polygons)
    depth = np.zeros(count, dtype=np.int64)
    overlapping: list[tuple[int, int]] = []
    boxes = np.array([[p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()] for p in polygons]).reshape(-1, 4)
    for a in range(count):
        for b in range(a + 1, count):
            if not _boxes_overlap(boxes[a], boxes[b]):
                continue
            if _paths_intersect(polygons[a], polygons[b]):
                overlapping.append((a, b))
            elif _point_in_polygon(polygons[a][0], polygons[b]):
                depth[a] += 1
            elif _point_in_polygon(polygons[b][0], polygons[a]):
                depth[b] += 1
    return PlaneRelations(depth, overlapping)


def is_self_touching(polygon: FloatArray, max_vertices: int = 50_000) -> bool | None:
    """True when two non-adjacent edges of the closed polygon cross or touch (a keyhole, or a
    figure-eight); ``None`` when the polygon has more than ``max_vertices`` vertices."""
    points = np.asarray(polygon, dtype=np.float64)
    n = len(points)
    if n < 4:
        return False
    if n > max_vertices:
        return None
    starts, ends = points, np.roll(points, -1, axis=0)
    chunk = max(1, _EDGE_PAIR_CHUNK // n)
    for first in range(0, n, chunk):
        a = np.arange(first, min(n, first + chunk))
        hits = _segments_intersect(starts[a], ends[a], starts, ends)
        index_a = a[:, np.newaxis]
        index_b = np.arange(n)[np.newaxis, :]
        adjacent = (index_a == index_b) | ((index_a + 1) % n == index_b) | ((index_b + 1) % n == index_a)
        if np.any(hits & ~adjacent):
            return True
    return False


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


def _boxes_overlap(a: FloatArray, b: FloatArray) -> bool:
    return bool(a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3])


def _paths_intersect(a: FloatArray, b: FloatArray) -> bool:
    a_start, a_end = a, np.roll(a, -1, axis=0)
    b_start, b_end = b, np.roll(b, -1, axis=0)
    chunk = max(1, _EDGE_PAIR_CHUNK // max(1, len(b)))
    for first in range(0, len(a), chunk):
        part = slice(first, first + chunk)
        if np.any(_segments_intersect(a_start[part], a_end[part], b_start, b_end)):
            return True
    return False


def _cross(ox: FloatArray, oy: FloatArray, ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray) -> FloatArray:
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox)


def _segments_intersect(p1: FloatArray, p2: FloatArray, q1: FloatArray, q2: FloatArray) -> BoolArray:
    """Matrix ``[i, j]``: do segments ``p1[i]-p2[i]`` and ``q1[j]-q2[j]`` cross or touch?"""
    px1, py1 = p1[:, 0:1], p1[:, 1:2]
    px2, py2 = p2[:, 0:1], p2[:, 1:2]
    qx1, qy1 = q1[np.newaxis, :, 0], q1[np.newaxis, :, 1]
    qx2, qy2 = q2[np.newaxis, :, 0], q2[np.newaxis, :, 1]
    scale = 1e-12 * (1 + np.abs(px1) + np.abs(py1)) ** 2
    d1 = _cross(qx1, qy1, qx2, qy2, px1, py1)
    d2 = _cross(qx1, qy1, qx2, qy2, px2, py2)
    d3 = _cross(px1, py1, px2, py2, qx1, qy1)
    d4 = _cross(px1, py1, px2, py2, qx2, qy2)
    proper = (((d1 > scale) & (d2 < -scale)) | ((d1 < -scale) & (d2 > scale))) & (
        ((d3 > scale) & (d4 < -scale)) | ((d3 < -scale) & (d4 > scale))
    )

    def on_segment(
        d: FloatArray, ox: FloatArray, oy: FloatArray, ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray
    ) -> BoolArray:
        return (
            (np.abs(d) <= scale)
            & (np.minimum(ax, bx) <= ox + 1e-9)
            & (ox <= np.maximum(ax, bx) + 1e-9)
            & (np.minimum(ay, by) <= oy + 1e-9)
            & (oy <= np.maximum(ay, by) + 1e-9)
        )

    touching = (
        on_segment(d1, px1, py1, qx1, qy1, qx2, qy2)
        | on_segment(d2, px2, py2, qx1, qy1, qx2, qy2)
        | on_segment(d3, qx1, qy1, px1, py1, px2, py2)
        | on_segment(d4, qx2, qy2, px1, py1, px2, py2)
    )
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

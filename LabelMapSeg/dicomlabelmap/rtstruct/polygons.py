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

from ..dicom.limits import check_plane_crossings
from ..model.gridindex import GridIndex, OverBudget, chunks

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
    # The same per polygon, to know which polygon encloses no centre at all (one polygon: the same).
    if len(polygons) == 1:
        own_starts, own_ends, own_polygon = combined[1], combined[2], np.zeros(len(combined[1]), dtype=np.int64)
    else:
        order = np.lexsort((crossing_x, crossing_row, crossing_polygon))
        _, own_starts, own_ends = _pair_intervals(crossing_row[order], crossing_x[order], crossing_slack[order], columns)
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
    check_plane_crossings(int(lengths.sum()) // 2, "tracing the contour's path")
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
    #: False when the polygons are so entangled (edges piled on one another, thousands of
    #: identical contours) that analysing them would take more than :data:`PAIR_BUDGET` pair
    #: tests beyond what their size asks for; then nothing is reported (all zero / empty).
    analysed: bool = True


#: Most pair tests (edge against edge, point against polygon) per plane beyond 16 per edge and
#: per polygon. Ordinary contours need a few per edge; only pathological ones need more.
PAIR_BUDGET = 4_000_000


def plane_relations(polygons: Sequence[FloatArray]) -> PlaneRelations:
    """Nesting depth of each polygon, the pairs that cross or touch, and the self-touching ones.

    Repeated consecutive vertices are dropped first (a zero-length edge touches nothing the
    edges beside it do not). Edges are paired through a uniform grid (only edges sharing a
    cell are compared), containers are found through the grid of bounding boxes and the
    crossing-number test meets only the edges in the point's horizontal band, so the cost
    grows with the number of edges and polygons, not with their squares.
    """
    count = len(polygons)
    cleaned = [_without_repeated_vertices(np.asarray(p, dtype=np.float64).reshape(-1, 2)) for p in polygons]
    sizes = np.array([len(p) for p in cleaned], dtype=np.int64)
    starts = np.concatenate(cleaned) if count else np.zeros((0, 2))
    owner = np.repeat(np.arange(count), sizes)
    first = np.cumsum(sizes) - sizes
    local = np.arange(len(starts)) - first[owner]
    successor = np.where(local == sizes[owner] - 1, first[owner], np.arange(len(starts)) + 1)
    ends = starts[successor] if len(starts) else starts
    budget = PAIR_BUDGET + 16 * (len(starts) + count)
    try:
        a, b = _candidate_touching_edges(cleaned, starts, ends, owner, first, budget)
        same = owner[a] == owner[b]
        # Adjacent edges of one polygon always share a vertex; that is not a self-touch.
        gap = np.abs(local[a] - local[b])
        adjacent = same & ((gap == 1) | (gap == sizes[owner[a]] - 1))
        self_touching = np.zeros(count, dtype=bool)
        self_touching[owner[a][same & ~adjacent]] = True
        crossing = np.unique(np.minimum(owner[a], owner[b])[~same] * count + np.maximum(owner[a], owner[b])[~same])
        depth = _nesting_depth(cleaned, starts, ends, owner, crossing, budget)
    except OverBudget:
        return PlaneRelations(np.zeros(count, dtype=np.int64), [], np.zeros(count, dtype=bool), analysed=False)
    return PlaneRelations(depth, [(int(k // count), int(k % count)) for k in crossing], self_touching)


#: A star-shaped polygon's vertices must turn around their mean by at least this angle each
#: (radians), by less than half a turn minus this margin, and lie at least this fraction of its
#: extent from the mean; otherwise its edges are compared pairwise like any other polygon's.
_STAR_MIN_STEP = 1e-4
_STAR_HALF_TURN_MARGIN = 1e-2
_STAR_MIN_RADIUS = 1e-2

#: Most edge-against-box tests spent finding which edges of meeting polygons come near each other.
_NEAR_BOX_BUDGET = 2_000_000


def _star_shaped(polygon: FloatArray) -> bool:
    """Whether the polygon winds once around the mean of its vertices, every vertex a clear step
    further round in the same direction: then its edges lie in disjoint angular sectors around
    that point, so two edges that do not share a vertex never cross or touch (the polygon is
    simple; most organ contours are). Decided in one vectorised pass."""
    if len(polygon) < 3:
        return False
    centred = polygon - polygon.mean(axis=0)
    radius = np.hypot(centred[:, 0], centred[:, 1])
    extent = float(radius.max())
    if not extent > 0 or float(radius.min()) < _STAR_MIN_RADIUS * extent:
        return False
    angles = np.arctan2(centred[:, 1], centred[:, 0])
    steps = np.diff(angles, append=angles[:1])
    steps = (steps + np.pi) % (2 * np.pi) - np.pi
    if steps[0] < 0:
        steps = -steps
    return bool(
        steps.min() >= _STAR_MIN_STEP and steps.max() <= np.pi - _STAR_HALF_TURN_MARGIN and abs(float(steps.sum()) - 2 * np.pi) < 1e-6
    )


def _candidate_touching_edges(
    polygons: Sequence[FloatArray], starts: FloatArray, ends: FloatArray, owner: IntArray, first: IntArray, budget: int
) -> tuple[IntArray, IntArray]:
    """The pairs of edges that cross or touch (as :func:`_touching_edges`), comparing only the
    edges that can: those of polygons that may touch themselves (all but the star-shaped ones),
    and those of a polygon that come near the box of another polygon whose box meets its own.
    A plane of separate simple contours, or a simple outline with holes well inside it, costs
    no edge comparison at all."""
    if not len(starts):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    star = np.array([_star_shaped(polygon) for polygon in polygons], dtype=bool)
    low = np.array([polygon.min(axis=0) for polygon in polygons])
    high = np.array([polygon.max(axis=0) for polygon in polygons])
    margin = 1e-6 * (1.0 + float(np.abs(starts).max()))
    pairs = _meeting_boxes(low - margin, high + margin, budget)
    selected = np.repeat(~star, np.diff(np.append(first, len(starts))))
    sizes = np.diff(np.append(first, len(starts)))
    if len(pairs) and int(sizes[pairs].sum()) > _NEAR_BOX_BUDGET:
        selected[np.isin(owner, pairs)] = True
    else:
        edge_low, edge_high = np.minimum(starts, ends), np.maximum(starts, ends)

        def near(polygon: int, box_low: FloatArray, box_high: FloatArray) -> IntArray:
            edges = np.arange(int(first[polygon]), int(first[polygon] + sizes[polygon]))
            meets = np.all(edge_low[edges] <= box_high + margin, axis=1) & np.all(edge_high[edges] >= box_low - margin, axis=1)
            return edges[meets]

        for one, other in pairs.tolist():
            # Edges of one near the other's box, then edges of the other near those: a hole
            # well inside its outline selects nothing.
            mine = near(one, low[other], high[other])
            if not len(mine):
                continue
            theirs = near(other, edge_low[mine].min(axis=0), edge_high[mine].max(axis=0))
            if len(theirs):
                selected[mine] = True
                selected[theirs] = True
    chosen = np.flatnonzero(selected)
    if len(chosen) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    a, b = _touching_edges(starts[chosen], ends[chosen], budget)
    a, b = chosen[a], chosen[b]
    keep = ~((owner[a] == owner[b]) & star[owner[a]])  # a star-shaped polygon never touches itself
    return a[keep], b[keep]


def _meeting_boxes(low: FloatArray, high: FloatArray, budget: int) -> IntArray:
    """Index pairs ``(a, b)``, ``a < b``, of boxes that meet, as an ``(n, 2)`` array."""
    count = len(low)
    if count < 2:
        return np.zeros((0, 2), dtype=np.int64)
    if count <= 64:
        a, b = np.triu_indices(count, 1)
    else:
        a, b = GridIndex(low, high).shared_cells(budget)
    meets = np.all(np.maximum(low[a], low[b]) <= np.minimum(high[a], high[b]), axis=1)
    return np.column_stack([np.minimum(a, b)[meets], np.maximum(a, b)[meets]]).astype(np.int64)


#: Two outlines whose paths lie within this many pixels of each other everywhere are one outline.
DEFAULT_DUPLICATE_TOLERANCE = 0.05

#: Largest point-to-edge test count for comparing two outlines that differ in their vertices.
_DUPLICATE_COMPARE_BUDGET = 4_000_000


def repeated_outlines(polygons: Sequence[FloatArray], tolerance: float = DEFAULT_DUPLICATE_TOLERANCE) -> list[int | None]:
    """For each polygon, the index of an earlier polygon with the same closed path, or ``None``.

    The same path means every vertex of each lies within ``tolerance`` of the other's path,
    whatever the starting vertex and direction (repeated vertices ignored). Candidates are
    found through their bounding boxes, so unrelated outlines are never compared point by point.
    """
    cleaned = [_without_repeated_vertices(np.asarray(p, dtype=np.float64).reshape(-1, 2)) for p in polygons]
    result: list[int | None] = [None] * len(cleaned)
    if len(cleaned) < 2:
        return result
    boxes = np.array([np.concatenate([p.min(axis=0), p.max(axis=0)]) for p in cleaned])
    cell = max(4 * tolerance, 1e-6)
    keys = np.floor(boxes[:, :2] / cell).astype(np.int64)
    filed: dict[tuple[int, int], list[int]] = {}
    for index in range(len(cleaned)):
        kx, ky = int(keys[index, 0]), int(keys[index, 1])
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for earlier in filed.get((kx + dx, ky + dy), ()):
                    if result[index] is None and np.all(np.abs(boxes[earlier] - boxes[index]) <= tolerance):
                        if _same_path(cleaned[earlier], cleaned[index], tolerance):
                            result[index] = result[earlier] if result[earlier] is not None else earlier
        if result[index] is None:
            filed.setdefault((kx, ky), []).append(index)
    return result


def _same_path(a: FloatArray, b: FloatArray, tolerance: float) -> bool:
    if len(a) == len(b):
        start = int(np.argmin(np.sum((b - a[0]) ** 2, axis=1)))
        for candidate in (np.roll(b, -start, axis=0), np.roll(b[::-1], start + 1, axis=0)):
            if np.max(np.abs(candidate - a)) <= tolerance:
                return True
    if len(a) * len(b) > _DUPLICATE_COMPARE_BUDGET:
        return False  # too costly to settle; the caller's crossing rule still keeps the area
    return _vertices_near_path(a, b, tolerance) and _vertices_near_path(b, a, tolerance)


def _vertices_near_path(points: FloatArray, polygon: FloatArray, tolerance: float) -> bool:
    """Whether every point lies within ``tolerance`` of the closed polygon's path."""
    starts, ends = polygon, np.roll(polygon, -1, axis=0)
    direction = ends - starts
    length2 = np.maximum(np.sum(direction**2, axis=1), 1e-300)
    for chunk in np.array_split(points, max(1, len(points) * len(polygon) // 1_000_000 + 1)):
        offset = chunk[:, np.newaxis, :] - starts[np.newaxis]
        t = np.clip(np.sum(offset * direction[np.newaxis], axis=2) / length2[np.newaxis], 0.0, 1.0)
        nearest = starts[np.newaxis] + t[..., np.newaxis] * direction[np.newaxis]
        distance2 = np.min(np.sum((chunk[:, np.newaxis, :] - nearest) ** 2, axis=2), axis=1)
        if np.any(distance2 > tolerance**2):
            return False
    return True


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
    check_plane_crossings(int(counts.sum()), "filling the contours of this slice")
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
    mask = np.zeros((rows, columns), dtype=bool)
    if not len(starts):
        return mask
    # Only the box the intervals span is painted: contours cover a small part of most planes.
    top, bottom = int(interval_rows.min()), int(interval_rows.max()) + 1
    left, right = int(starts.min()), int(ends.max()) + 1
    width = right - left + 1
    size = (bottom - top) * width
    first = (interval_rows - top) * width - left
    difference = np.bincount(first + starts, minlength=size) - np.bincount(first + ends + 1, minlength=size)
    mask[top:bottom, left:right] = np.cumsum(difference.reshape(bottom - top, width), axis=1)[:, : right - left] > 0
    return mask


def _without_repeated_vertices(polygon: FloatArray) -> FloatArray:
    """The polygon without vertices equal to the one before them (cyclically); at least one kept."""
    if len(polygon) < 2:
        return polygon
    keep = np.empty(len(polygon), dtype=bool)
    np.any(polygon[1:] != polygon[:-1], axis=1, out=keep[1:])
    keep[0] = bool(np.any(polygon[0] != polygon[-1]))
    if keep.all():
        return polygon
    keep[0] |= not keep.any()
    return polygon[keep]


def _touching_edges(starts: FloatArray, ends: FloatArray, budget: int) -> tuple[IntArray, IntArray]:
    """Pairs ``(a, b)``, ``a < b``, of edges that cross or touch."""
    if len(starts) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    a, b = GridIndex(np.minimum(starts, ends), np.maximum(starts, ends)).shared_cells(budget)
    hits = np.concatenate(
        [
            _segments_intersect(starts[a[n : n + 2**21]], ends[a[n : n + 2**21]], starts[b[n : n + 2**21]], ends[b[n : n + 2**21]])
            for n in range(0, len(a), 2**21)
        ]
        or [np.zeros(0, dtype=bool)]
    )
    return a[hits], b[hits]


def _nesting_depth(
    polygons: Sequence[FloatArray], starts: FloatArray, ends: FloatArray, owner: IntArray, crossing: IntArray, budget: int
) -> IntArray:
    """For each polygon, how many others contain its first vertex, leaving out crossing pairs
    (keys ``low * count + high``). Only pairs whose bounding boxes nest are tested."""
    count = len(polygons)
    depth = np.zeros(count, dtype=np.int64)
    if count < 2:
        return depth
    boxes = np.array([[p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()] for p in polygons])
    points = np.array([p[0] for p in polygons])
    if count <= 64:  # few polygons (the usual slice): all pairs at once cost less than an index
        grid_outer, grid_inner = np.divmod(np.arange(count * count), count)
        candidates = [(grid_inner, grid_outer)]
    else:
        boxes_index = GridIndex(boxes[:, :2], boxes[:, 2:])
        candidates = [(inner, boxes_index.item[position]) for inner, position in chunks(*boxes_index.query(points, None, budget))]
    outer_parts, inner_parts = [], []
    for inner, outer in candidates:
        nested = (
            (outer != inner) & np.all(boxes[inner, :2] >= boxes[outer, :2], axis=1) & np.all(boxes[inner, 2:] <= boxes[outer, 2:], axis=1)
        )
        outer_parts.append(outer[nested])
        inner_parts.append(inner[nested])
    outer, inner = np.concatenate(outer_parts), np.concatenate(inner_parts)
    apart = ~np.isin(np.minimum(outer, inner) * count + np.maximum(outer, inner), crossing)
    outer, inner = outer[apart], inner[apart]
    if len(outer) == 0:
        return depth
    # Crossing number of each inner polygon's first vertex against its candidate container:
    # over all the container's edges when that is little work, else only over the edges
    # filed under the vertex's horizontal band.
    sizes = np.bincount(owner, minlength=count)
    if int(sizes[outer].sum()) <= 2**20:
        lookups = chunks((np.cumsum(sizes) - sizes)[outer], sizes[outer])
        edge_at = np.arange(len(starts))
    else:
        sloped = np.flatnonzero(starts[:, 1] != ends[:, 1])  # horizontal edges never straddle the ray
        y0, y1 = starts[sloped, 1], ends[sloped, 1]
        bands = GridIndex(np.minimum(y0, y1)[:, np.newaxis], np.maximum(y0, y1)[:, np.newaxis], owner[sloped])
        lookups = chunks(*bands.query(points[inner, 1:], outer, budget))
        edge_at = sloped[bands.item]
    hits = np.zeros(len(inner), dtype=np.int64)
    for pair, position in lookups:
        edge = edge_at[position]
        x, y = points[inner[pair], 0], points[inner[pair], 1]
        ya, yb = starts[edge, 1], ends[edge, 1]
        straddles = (ya <= y) != (yb <= y)
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing_x = starts[edge, 0] + (y - ya) * (ends[edge, 0] - starts[edge, 0]) / (yb - ya)
        hits += np.bincount(pair[straddles & (crossing_x > x)], minlength=len(inner))
    np.add.at(depth, inner[hits % 2 == 1], 1)
    return depth


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


def fill_with_groups(
    polygons: list[FloatArray], groups: list[list[int]], shape: tuple[int, int], tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Even-odd over the polygons, each crossing group first merged into its union.

    Returns the mask and, per polygon, whether it covers a voxel centre on its own.
    """
    if not groups:
        filled = fill_polygons(polygons, shape, tolerance)
        return filled.mask, filled.covers_centre
    covers = np.zeros(len(polygons), dtype=bool)
    grouped = {member for group in groups for member in group}
    single = [i for i in range(len(polygons)) if i not in grouped]
    filled = fill_polygons([polygons[i] for i in single], shape, tolerance)
    mask = filled.mask
    covers[single] = filled.covers_centre
    for group in groups:
        union = np.zeros(shape, dtype=bool)
        for member in group:
            own = fill_polygons([polygons[member]], shape, tolerance)
            union |= own.mask
            covers[member] = bool(own.covers_centre[0])
        mask ^= union
    return mask, covers


def mark_path(plane: np.ndarray, polygon: FloatArray, shape: tuple[int, int]) -> int:
    """Set the voxels along a polygon's path; returns how many there are."""
    rows, columns = path_pixels(polygon, shape)
    plane[rows, columns] = True
    return len(set(zip(rows.tolist(), columns.tolist(), strict=True)))

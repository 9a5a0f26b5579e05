"""Layer 1: the vectorised even-odd scanline fill against a slow point-by-point reference,
and the relations used in reports."""

from __future__ import annotations

import numpy as np
import pytest
from dicomlabelmap.rtstruct.polygons import fill_polygons, path_pixels, plane_relations, polygon_area
from dicomlabelmap.synthetic import keyhole_ring

TOLERANCE = 1e-3


def reference_fill(polygons, shape, tolerance=TOLERANCE):
    """Per pixel centre: parity of crossings over all polygons, or distance to a path <= tolerance.
    Also returns the centres too close to the tolerance to call (excluded from comparison)."""
    rows, columns = np.mgrid[0 : shape[0], 0 : shape[1]]
    centres = np.column_stack([columns.ravel(), rows.ravel()]).astype(float)
    parity = np.zeros(len(centres), dtype=bool)
    distance = np.full(len(centres), np.inf)
    for polygon in polygons:
        start, end = polygon, np.roll(polygon, -1, axis=0)
        straddles = (start[:, 1] <= centres[:, 1:2]) != (end[:, 1] <= centres[:, 1:2])
        dy = np.where(end[:, 1] == start[:, 1], 1, end[:, 1] - start[:, 1])
        crossing_x = start[:, 0] + (centres[:, 1:2] - start[:, 1]) * (end[:, 0] - start[:, 0]) / dy
        parity ^= (np.count_nonzero(straddles & (crossing_x > centres[:, 0:1]), axis=1) % 2).astype(bool)
        edge = end - start
        length = np.maximum((edge**2).sum(axis=1), 1e-300)
        t = np.clip(((centres[:, np.newaxis, :] - start) * edge).sum(axis=2) / length, 0, 1)
        nearest = start + t[..., np.newaxis] * edge
        distance = np.minimum(distance, np.linalg.norm(nearest - centres[:, np.newaxis, :], axis=2).min(axis=1))
    inside = parity | (distance <= tolerance)
    undecidable = np.abs(distance - tolerance) < 0.05 * tolerance
    return inside.reshape(shape), undecidable.reshape(shape)


@pytest.mark.parametrize("seed", range(12))
def test_fill_matches_point_by_point_reference(seed):
    """Random polygons (several per plane, self-intersecting, partly outside the grid), on
    and off the pixel lattice: the scanline fill equals the slow reference everywhere."""
    rng = np.random.default_rng(seed)
    for case in range(40):
        count = int(rng.integers(1, 4))
        if case % 2:
            polygons = [rng.integers(-3, 30, (int(rng.integers(3, 12)), 2)).astype(float) for _ in range(count)]
        else:
            polygons = [rng.uniform(-3, 40, (int(rng.integers(3, 30)), 2)) for _ in range(count)]
        shape = (33, 35)
        expected, undecidable = reference_fill(polygons, shape)
        found = fill_polygons(polygons, shape, TOLERANCE).mask
        assert np.array_equal(found[~undecidable], expected[~undecidable]), (seed, case)


def test_rectangle_with_centres_on_its_edges_includes_them():
    """PS3.3 C.8.8.6.3: points on the contour path belong to the ROI."""
    mask = fill_polygons([np.array([[2, 3], [7, 3], [7, 9], [2, 9]], float)], (12, 12)).mask
    expected = np.zeros((12, 12), bool)
    expected[3:10, 2:8] = True
    assert np.array_equal(mask, expected)


def test_nested_xor_in_any_order_gives_island_in_hole():
    outer = np.array([[1.5, 1.5], [20.5, 1.5], [20.5, 20.5], [1.5, 20.5]])
    middle = np.array([[5.5, 5.5], [16.5, 5.5], [16.5, 16.5], [5.5, 16.5]])
    inner = np.array([[8.5, 8.5], [13.5, 8.5], [13.5, 13.5], [8.5, 13.5]])
    expected = np.zeros((24, 24), bool)
    expected[2:21, 2:21] = True
    expected[6:17, 6:17] = False
    expected[9:14, 9:14] = True
    for order in ([outer, middle, inner], [inner, outer, middle], [middle, inner, outer]):
        assert np.array_equal(fill_polygons(order, (24, 24)).mask, expected)


def test_keyhole_equals_nested_pair():
    from dicomlabelmap.synthetic import circle

    keyhole = fill_polygons([keyhole_ring(20.3, 20.2, 15, 6)], (41, 41)).mask
    nested = fill_polygons([circle(20.3, 20.2, 15, 64), circle(20.3, 20.2, 6, 64)], (41, 41)).mask
    assert keyhole.sum() > 500
    assert not keyhole[20, 20] and keyhole[20, 30]
    # The outer paths match exactly (same vertices); the channel adds no centres.
    assert np.array_equal(keyhole, nested)


def test_covers_centre_flags_subpixel_polygons():
    tiny = np.array([[3.2, 3.2], [3.6, 3.2], [3.6, 3.7]])
    big = np.array([[0.5, 0.5], [6.5, 0.5], [6.5, 6.5]])
    assert fill_polygons([tiny, big], (8, 8)).covers_centre.tolist() == [False, True]


def test_relations_depth_and_overlap():
    square = lambda low, high: np.array([[low, low], [high, low], [high, high], [low, high]], float)  # noqa: E731
    relations = plane_relations([square(0, 10), square(2, 8), square(4, 6), square(20, 30), square(25, 35)])
    assert relations.depth.tolist() == [0, 1, 2, 0, 0]
    assert relations.overlapping_pairs == [(3, 4)]


def test_self_touching_detects_keyholes_only():
    from dicomlabelmap.synthetic import circle

    figure_eight = np.array([[0, 0], [4, 4], [4, 0], [0, 4]], float)
    relations = plane_relations([keyhole_ring(10, 10, 8, 3), circle(30, 10, 8), figure_eight + 50])
    assert relations.self_touching.tolist() == [True, False, True]
    assert relations.overlapping_pairs == [] and relations.depth.tolist() == [0, 0, 0]


def _point_in_polygon(point, polygon):
    x, y = point
    inside = False
    for (xa, ya), (xb, yb) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        if (ya <= y) != (yb <= y) and xa + (y - ya) * (xb - xa) / (yb - ya) > x:
            inside = not inside
    return inside


def _brute_force_relations(polygons):
    """All edge pairs, point-in-polygon for every pair: the slow reference. A vertex equal to
    the one before it adds a zero-length edge, which is not a self-touch."""
    polygons = [p[np.any(p != np.roll(p, 1, axis=0), axis=1)] for p in polygons]

    def edges(p):
        return [(p[i], p[(i + 1) % len(p)]) for i in range(len(p))]

    def intersect(p1, p2, q1, q2):
        def cross(o, a, b):
            return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

        d1, d2, d3, d4 = cross(q1, q2, p1), cross(q1, q2, p2), cross(p1, p2, q1), cross(p1, p2, q2)
        if ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0)) and 0 not in (d1, d2, d3, d4):
            return True

        def on(d, r, a, b):
            return d == 0 and min(a[0], b[0]) <= r[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= r[1] <= max(a[1], b[1])

        return on(d1, p1, q1, q2) or on(d2, p2, q1, q2) or on(d3, q1, p1, p2) or on(d4, q2, p1, p2)

    crossing, touching = set(), []
    for x, px in enumerate(polygons):
        ex = edges(px)
        n = len(ex)
        touching.append(any(intersect(*ex[i], *ex[j]) for i in range(n) for j in range(i + 2, n) if not (i == 0 and j == n - 1)))
        for y in range(x + 1, len(polygons)):
            if any(intersect(*e, *f) for e in ex for f in edges(polygons[y])):
                crossing.add((x, y))
    depth = [
        sum(
            1
            for x in range(len(polygons))
            if x != y and tuple(sorted((x, y))) not in crossing and _point_in_polygon(polygons[y][0], polygons[x])
        )
        for y in range(len(polygons))
    ]
    return depth, sorted(crossing), touching


@pytest.mark.parametrize("seed", range(6))
def test_relations_match_all_pairs_reference(seed):
    """The grid-bucketed edge pairing finds exactly what comparing all pairs finds."""
    from dicomlabelmap.synthetic import circle

    rng = np.random.default_rng(seed)
    for _ in range(10):
        polygons = []
        for _ in range(int(rng.integers(1, 6))):
            if rng.random() < 0.5:
                polygons.append(circle(*rng.integers(5, 40, 2), rng.integers(2, 15), int(rng.integers(4, 40))))
            else:
                polygons.append(rng.integers(0, 40, (int(rng.integers(3, 9)), 2)).astype(float))
        found = plane_relations(polygons)
        depth, crossing, touching = _brute_force_relations(polygons)
        assert found.overlapping_pairs == crossing
        assert found.self_touching.tolist() == touching
        assert found.depth.tolist() == depth


def test_path_pixels_and_area():
    rows, columns = path_pixels(np.array([[1, 1], [4, 1]], float), (6, 6), closed=False)
    assert sorted(set(zip(rows.tolist(), columns.tolist(), strict=True))) == [(1, 1), (1, 2), (1, 3), (1, 4)]
    assert polygon_area(np.array([[0, 0], [4, 0], [4, 3], [0, 3]], float)) == 12


def _counting_pair_tests(monkeypatch):
    """Count the edge pairs and (point, edge) pairs plane_relations actually tests."""
    import dicomlabelmap.rtstruct.polygons as polygons

    tested = {"edge pairs": 0}
    original = polygons._segments_intersect

    def counted(p1, p2, q1, q2):
        tested["edge pairs"] += len(p1)
        return original(p1, p2, q1, q2)

    monkeypatch.setattr(polygons, "_segments_intersect", counted)
    return tested


def test_relations_work_is_linear_in_contours_and_edges(monkeypatch):
    """Thousands of islands inside one contour of 200,000 points: the right depths, and the
    number of edge pairs tested grows with the edges, not with their square."""
    from dicomlabelmap.synthetic import circle

    tested = _counting_pair_tests(monkeypatch)
    body = circle(300, 300, 280, 200_000)
    centres = [(x, y) for x in range(150, 450, 6) for y in range(150, 450, 6)]
    islands = [circle(x, y, 1.5, 8) for x, y in centres]
    relations = plane_relations([body, *islands])
    assert relations.analysed
    assert relations.depth.tolist() == [0] + [1] * len(islands)
    assert relations.overlapping_pairs == [] and not relations.self_touching.any()
    edges = len(body) + 8 * len(islands)
    assert tested["edge pairs"] <= 20 * edges, tested


def test_relations_of_many_touching_speckles_are_exact():
    """2,500 small squares in a row, each touching the next: every neighbour pair found."""
    squares = [np.array([[x, 0], [x + 2, 0], [x + 2, 2], [x, 2]], float) for x in range(0, 5000, 2)]
    relations = plane_relations(squares)
    assert relations.overlapping_pairs == [(n, n + 1) for n in range(len(squares) - 1)]
    assert relations.depth.tolist() == [0] * len(squares)


def test_repeated_vertices_are_not_keyholes():
    square = np.array([[0, 0], [4, 0], [4, 4], [4, 4], [0, 4], [0, 0]], float)
    assert plane_relations([square]).self_touching.tolist() == [False]
    collapsed = np.full((1000, 2), 5.0)
    assert plane_relations([collapsed, square]).analysed


def test_edges_piled_on_one_another_are_not_analysed_but_still_filled():
    """A million points going back and forth along one short segment: comparing its edges
    pairwise would take 5e11 tests; the relations give up (flagged), the fill still works."""
    zigzag = np.tile([[10.0, 10.0], [10.4, 10.4]], (500_000, 1))
    ring = np.array([[2, 2], [20, 2], [20, 20], [2, 20]], float)
    relations = plane_relations([ring, zigzag])
    assert not relations.analysed
    assert relations.overlapping_pairs == [] and relations.depth.tolist() == [0, 0]
    filled = fill_polygons([ring, zigzag], (24, 24))
    assert filled.mask[10, 10] and filled.mask[5, 5]


def test_a_zigzag_across_the_image_is_refused_before_allocating():
    from dicomlabelmap.errors import ResourceLimitError

    zigzag = np.tile([[10.0, 10.0], [200.0, 500.0]], (100_000, 1))
    with pytest.raises(ResourceLimitError, match="pixel-row crossings"):
        fill_polygons([zigzag], (512, 512))
    with pytest.raises(ResourceLimitError, match="tracing the contour"):
        path_pixels(zigzag, (512, 512))


def test_star_shaped_polygons_skip_the_edge_grid_with_the_same_relations(monkeypatch):
    """Separate simple contours, and holes well inside their outline, are related without
    comparing edges (each winds once around its vertex mean); a keyhole, a crescent whose vertex
    mean lies outside it, and outlines that touch still have their edges compared, and the
    relations are those of comparing all pairs."""
    from dicomlabelmap.rtstruct.polygons import _star_shaped
    from dicomlabelmap.synthetic import circle

    tested = _counting_pair_tests(monkeypatch)
    ring = [circle(30, 30, 20, 400), circle(30, 30, 8, 400, clockwise=True), circle(80, 30, 5, 64)]
    relations = plane_relations(ring)
    assert tested["edge pairs"] == 0
    assert relations.depth.tolist() == [0, 1, 0] and relations.overlapping_pairs == [] and not relations.self_touching.any()
    angles = np.linspace(0.3, 2 * np.pi - 0.3, 40)
    crescent = np.concatenate([np.column_stack([10 * np.cos(angles), 10 * np.sin(angles)]),
                               np.column_stack([7 * np.cos(angles[::-1]) + 2, 7 * np.sin(angles[::-1])])])  # fmt: skip
    assert [_star_shaped(p) for p in (ring[0], ring[1], keyhole_ring(10, 10, 8, 3), crescent + 50)] == [True, True, False, False]
    square = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)
    touching = [square, square + [4, 1], keyhole_ring(60, 60, 8, 3)]
    found = plane_relations(touching)
    depth, crossing, self_touching = _brute_force_relations(touching)
    assert tested["edge pairs"] > 0 and crossing == [(0, 1)]
    assert (found.depth.tolist(), found.overlapping_pairs, found.self_touching.tolist()) == (depth, crossing, self_touching)

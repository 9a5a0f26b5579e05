"""Layer 1: masks -> outlines. Each outline passes strictly between inside and outside voxel
centres (so the even-odd fill of the outlines gives the mask back exactly, whatever a reader does
with centres on a path), no two outlines touch, and diagonal contacts follow the documented rule
(8-connected foreground, 4-connected background)."""

from __future__ import annotations

import numpy as np
import pytest
from dicomlabelmap.rtstruct.keyholes import CHANNEL_OFFSET, keyhole_polygons
from dicomlabelmap.rtstruct.outlines import CORNER_CUT, ContourShape, trace_loops
from dicomlabelmap.rtstruct.polygons import fill_polygons, plane_relations

SHAPES = list(ContourShape)


def _polygons(mask, shape, keyholes=False):
    loops = trace_loops(mask[np.newaxis], (0, 0, 0), shape)
    if keyholes:
        return [points for _, points in keyhole_polygons(loops)], loops
    return [loops.loop(n) for n in range(len(loops))], loops


def _signed_area(points):
    x, y = points[:, 0], points[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2


def _min_centre_distance(polygons, rows, columns):
    """Smallest distance from any voxel centre of the grid to any edge of the polygons."""
    j, i = np.mgrid[0:rows, 0:columns]
    centres = np.column_stack([i.ravel(), j.ravel()]).astype(float)
    best = np.inf
    for points in polygons:
        start, end = points, np.roll(points, -1, axis=0)
        direction = end - start
        length2 = np.maximum((direction**2).sum(axis=1), 1e-300)
        offset = centres[:, np.newaxis, :] - start[np.newaxis]
        t = np.clip((offset * direction[np.newaxis]).sum(axis=2) / length2, 0, 1)
        nearest = start[np.newaxis] + t[..., np.newaxis] * direction[np.newaxis]
        best = min(best, float(np.sqrt(((centres[:, np.newaxis] - nearest) ** 2).sum(axis=2)).min()))
    return best


def test_a_single_voxel():
    mask = np.zeros((5, 5), dtype=bool)
    mask[2, 3] = True
    (diamond,), _ = _polygons(mask, ContourShape.MIDPOINT)
    (square,), _ = _polygons(mask, ContourShape.VOXEL_EDGE)
    assert diamond.tolist() == [[3.0, 1.5], [3.5, 2.0], [3.0, 2.5], [2.5, 2.0]]
    assert square.tolist() == [[2.5, 1.5], [3.5, 1.5], [3.5, 2.5], [2.5, 2.5]]
    assert _signed_area(square) == 1.0 and _signed_area(diamond) == 0.5  # clockwise on screen (y down): positive


def test_collinear_points_are_merged_and_holes_run_the_other_way():
    mask = np.zeros((8, 9), dtype=bool)
    mask[1:7, 1:8] = True
    mask[3:5, 3:5] = False
    polygons, loops = _polygons(mask, ContourShape.VOXEL_EDGE)
    assert loops.holes.tolist() == [False, True]
    assert polygons[0].tolist() == [[0.5, 0.5], [7.5, 0.5], [7.5, 6.5], [0.5, 6.5]]
    assert polygons[1].tolist() == [[2.5, 2.5], [2.5, 4.5], [4.5, 4.5], [4.5, 2.5]]
    assert _signed_area(polygons[0]) == 42.0 and _signed_area(polygons[1]) == -4.0
    midpoint, _ = _polygons(mask, ContourShape.MIDPOINT)
    assert [len(p) for p in midpoint] == [8, 8]  # corners cut: an octagon, and the hole's octagon


def test_a_diagonal_staircase_becomes_one_straight_midpoint_edge():
    mask = np.tril(np.ones((6, 6), dtype=bool))
    (outline,), _ = _polygons(mask, ContourShape.MIDPOINT)
    # the 45 degree edge from the top voxel to the bottom-right one, then the cut corners
    assert outline.tolist() == [[0.0, -0.5], [5.5, 5.0], [5.0, 5.5], [0.0, 5.5], [-0.5, 5.0], [-0.5, 0.0]]
    (staircase,), _ = _polygons(mask, ContourShape.VOXEL_EDGE)
    assert len(staircase) == 14  # two vertices per step, and the two corners of the left and bottom sides


@pytest.mark.parametrize("shape", SHAPES)
def test_voxels_touching_at_a_corner_are_one_piece(shape):
    """8-connected foreground: two voxels sharing only a corner make one outline, which passes the
    corner once on each side, apart (cut by CORNER_CUT, or half a pixel for midpoints)."""
    mask = np.zeros((4, 4), dtype=bool)
    mask[1, 1] = mask[2, 2] = True
    polygons, loops = _polygons(mask, shape)
    assert len(polygons) == 1 and not loops.holes.any()
    relations = plane_relations(polygons)
    assert not relations.self_touching.any()
    assert np.array_equal(fill_polygons(polygons, mask.shape).mask, mask)
    if shape is ContourShape.VOXEL_EDGE:
        cut = [p for p in polygons[0].tolist() if p[0] % 0.5]
        assert sorted(cut) == [[1.5 - CORNER_CUT, 1.5 + CORNER_CUT], [1.5 + CORNER_CUT, 1.5 - CORNER_CUT]]


@pytest.mark.parametrize("shape", SHAPES)
def test_background_touching_the_outside_at_a_corner_is_a_hole(shape):
    """4-connected background: a background voxel that meets the outside only at a corner is a hole."""
    mask = np.ones((4, 4), dtype=bool)
    mask[0, 0] = False  # the outside reaches in at one corner ...
    mask[1, 1] = False  # ... and this voxel touches it only diagonally
    polygons, loops = _polygons(mask, shape)
    assert loops.holes.tolist() == [False, True]
    assert not plane_relations(polygons).overlapping_pairs
    assert np.array_equal(fill_polygons(polygons, mask.shape).mask, mask)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_checkerboard(shape):
    board = np.indices((8, 8)).sum(axis=0) % 2 == 0
    polygons, loops = _polygons(board, shape)
    assert int(loops.holes.sum()) == 18 and int((~loops.holes).sum()) == 1  # one piece, every inner background voxel a hole
    assert np.array_equal(fill_polygons(polygons, board.shape).mask, board)
    keyholes, _ = _polygons(board, shape, keyholes=True)
    assert len(keyholes) == 1 and np.array_equal(fill_polygons(keyholes, board.shape).mask, board)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("keyholes", [False, True], ids=["loops", "keyholes"])
def test_random_masks_come_back_exactly_and_outlines_never_touch(shape, keyholes):
    rng = np.random.default_rng(20)
    for _ in range(120):
        mask = rng.random((11, 13)) < rng.uniform(0.2, 0.8)
        polygons, loops = _polygons(mask, shape, keyholes)
        assert np.array_equal(fill_polygons(polygons, mask.shape).mask, mask)
        relations = plane_relations(polygons)
        assert not relations.overlapping_pairs
        if not keyholes:
            assert not relations.self_touching.any()
        else:
            assert len(polygons) == int((~loops.holes).sum())


@pytest.mark.parametrize("shape, distance", [(ContourShape.MIDPOINT, 0.5 / np.sqrt(2)), (ContourShape.VOXEL_EDGE, 0.5 - CORNER_CUT)])
def test_every_centre_stays_clear_of_every_path(shape, distance):
    """Strict separation: no voxel centre within 0.35 pixel of an outline (0.4 for cut corners),
    nor within CHANNEL_OFFSET of a keyhole channel."""
    rng = np.random.default_rng(7)
    for _ in range(30):
        mask = rng.random((9, 10)) < 0.5
        polygons, _ = _polygons(mask, shape)
        assert _min_centre_distance(polygons, 9, 10) >= distance - 1e-9
        keyholes, _ = _polygons(mask, shape, keyholes=True)
        assert _min_centre_distance(keyholes, 9, 10) >= CHANNEL_OFFSET - 1e-9


def test_slices_and_offsets_place_the_outlines_on_the_grid():
    crop = np.zeros((3, 2, 2), dtype=bool)
    crop[0, 0, 0] = True
    crop[2, 1, 1] = True
    loops = trace_loops(crop, (5, 10, 20), ContourShape.VOXEL_EDGE)
    assert loops.slices.tolist() == [5, 7]
    assert loops.loop(0).tolist() == [[19.5, 9.5], [20.5, 9.5], [20.5, 10.5], [19.5, 10.5]]
    assert loops.loop(1).tolist() == [[20.5, 10.5], [21.5, 10.5], [21.5, 11.5], [20.5, 11.5]]


def test_an_empty_mask_has_no_outline():
    loops = trace_loops(np.zeros((2, 3, 3), dtype=bool))
    assert len(loops) == 0 and loops.points.shape == (0, 2)


@pytest.mark.parametrize("shape", SHAPES)
def test_islands_in_holes_in_islands_each_get_their_own_polygon(shape):
    mask = np.zeros((15, 15), dtype=bool)
    for level, half in enumerate((6, 5, 3, 2, 0)):
        mask[7 - half : 8 + half, 7 - half : 8 + half] = level % 2 == 0
    polygons, loops = _polygons(mask, shape)
    assert loops.holes.tolist() == [False, True, False, True, False]
    keyholes, _ = _polygons(mask, shape, keyholes=True)
    assert len(keyholes) == 3
    assert np.array_equal(fill_polygons(keyholes, mask.shape).mask, mask)
    assert not plane_relations(keyholes).overlapping_pairs

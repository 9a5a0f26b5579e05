"""The uniform grid index finds candidate pairs of boxes without comparing all pairs: every truly
overlapping pair is reported exactly once, groups never meet, the budget stops runaway lookups,
and a few long boxes among many small ones do not blow up the number of entries."""

from __future__ import annotations

import numpy as np
import pytest
from dicomlabelmap.model.gridindex import GridIndex, OverBudget, _linear_cell, chunks, ramp


def test_ramp():
    np.testing.assert_array_equal(ramp(np.array([2, 0, 3])), [0, 1, 0, 1, 2])
    assert ramp(np.array([], dtype=np.int64)).size == 0


def test_chunks_cover_every_pair_in_order():
    first, counts = np.array([10, 20, 30]), np.array([2, 0, 3])
    parts = list(chunks(first, counts, size=2))
    assert len(parts) == 2
    queries = np.concatenate([q for q, _ in parts])
    positions = np.concatenate([p for _, p in parts])
    np.testing.assert_array_equal(queries, [0, 0, 2, 2, 2])
    np.testing.assert_array_equal(positions, [10, 11, 30, 31, 32])


def small_index() -> GridIndex:
    low = np.array([[0, 0], [1, 1], [5, 5], [0.5, 0.5]], dtype=float)
    high = np.array([[2, 2], [3, 3], [6, 6], [0.7, 0.7]], dtype=float)
    return GridIndex(low, high)


def test_cell_is_the_median_box_length():
    index = small_index()
    assert index.cell == 1.5  # box lengths 2, 2, 1, 0.2
    np.testing.assert_array_equal(index.origin, [0, 0])
    np.testing.assert_array_equal(index.shape, [5, 5])


def test_query_finds_the_items_of_a_cell():
    index = small_index()
    first, counts = index.query(np.array([[0.1, 0.1], [5.5, 5.5], [100.0, 100.0]]), None, budget=100)
    found = [sorted(index.item[f : f + c].tolist()) for f, c in zip(first, counts, strict=True)]
    assert found == [[0, 1, 3], [2], [2]]  # far points are clipped to the last cell
    with pytest.raises(OverBudget):
        index.query(np.zeros((50, 2)) + 0.1, None, budget=3)


def test_shared_cells_small_case():
    a, b = small_index().shared_cells(budget=100)
    assert sorted(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 1), (0, 3), (1, 3)]  # 1 and 3 share a cell without touching
    with pytest.raises(OverBudget):
        small_index().shared_cells(budget=1)


def test_groups_never_meet():
    low = np.array([[0, 0], [1, 1], [5, 5], [0.5, 0.5]], dtype=float)
    high = np.array([[2, 2], [3, 3], [6, 6], [0.7, 0.7]], dtype=float)
    a, b = GridIndex(low, high, groups=np.array([0, 1, 0, 0])).shared_cells(budget=100)
    assert sorted(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 3)]


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_overlapping_pair_reported_once(dims, seed):
    """Compared with all pairs by brute force: a superset of the overlapping pairs, no pair twice."""
    rng = np.random.default_rng(seed)
    count = 150
    low = rng.uniform(0, 100, (count, dims))
    high = low + rng.exponential(4, (count, dims))
    a, b = GridIndex(low, high).shared_cells(budget=10**7)
    reported = [tuple(sorted(pair)) for pair in zip(a.tolist(), b.tolist(), strict=True)]
    assert len(reported) == len(set(reported)) and all(i != j for i, j in reported)
    overlapping = {(i, j) for i in range(count) for j in range(i + 1, count) if np.all(low[i] <= high[j]) and np.all(low[j] <= high[i])}
    assert overlapping <= set(reported)


def test_long_boxes_among_tiny_ones_keep_entries_bounded():
    """4000 tiny edges and 5 boxes across the whole extent: at most 16 entries per box on average."""
    rng = np.random.default_rng(7)
    tiny_low = rng.uniform(0, 1000, (4000, 2))
    low = np.vstack([tiny_low, np.zeros((5, 2))])
    high = np.vstack([tiny_low + 0.01, np.full((5, 2), 1000.0)])
    index = GridIndex(low, high)
    assert len(index.key) <= 16 * len(low)
    assert index.cell > 0.01  # coarser than the median box asks for


def test_linear_cell_bound():
    """Two boxes of side 10 filed under at most 8 cells: cells of 5 (10 / 5 + 2 = 4 each)."""
    sides = np.array([[10.0], [10.0]])
    assert _linear_cell(sides, 8) == pytest.approx(5.0)
    assert _linear_cell(sides, 4) == 0.0  # two cells per box are always possible: no limit
    square = np.array([[10.0, 10.0]])  # (10u + 2)**2 = 16 -> u = 0.2
    assert _linear_cell(square, 16) == pytest.approx(5.0)
    cube = np.array([[10.0, 10.0, 10.0]])  # (10u + 2)**3 = 64 -> u = 0.2 (bisection)
    assert _linear_cell(cube, 64) == pytest.approx(5.0, rel=1e-9)

"""Layer 1: packing segments into the fewest non-overlapping label layers."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import axial_geometry
from dicomlabelmap.errors import DicomLabelMapError
from dicomlabelmap.model.labels import LabelVolume, assign_layers, build_label_volumes, label_dtype
from dicomlabelmap.model.masks import BoxMask
from dicomlabelmap.model.segment import Segment


def box(shape, *slices):
    mask = np.zeros(shape, bool)
    mask[slices] = True
    return BoxMask.from_full(mask)


def test_box_mask_round_trip_and_plane():
    shape = (4, 5, 6)
    mask = np.zeros(shape, bool)
    mask[1, 2, 3] = mask[2, 4, 1] = True
    boxed = BoxMask.from_full(mask)
    assert boxed.offset == (1, 2, 1) and boxed.crop.shape == (2, 3, 3)
    assert np.array_equal(boxed.full(), mask) and boxed.voxel_count == 2
    assert np.array_equal(boxed.plane(2), mask[2]) and not boxed.plane(0).any()
    assert BoxMask.from_full(np.zeros(shape, bool)).is_empty()


def test_box_mask_from_planes_equals_from_full():
    shape = (5, 6, 7)
    rng = np.random.default_rng(1)
    planes = {1: rng.random(shape[1:]) > 0.8, 3: np.zeros(shape[1:], bool), 4: rng.random(shape[1:]) > 0.9}
    full = np.zeros(shape, bool)
    for k, plane in planes.items():
        full[k] = plane
    from_planes, from_full = BoxMask.from_planes(shape, planes), BoxMask.from_full(full)
    assert from_planes.offset == from_full.offset and np.array_equal(from_planes.crop, from_full.crop)
    assert BoxMask.from_planes(shape, {2: np.zeros(shape[1:], bool)}).is_empty()


def test_disjoint_segments_share_one_layer():
    shape = (2, 10, 10)
    masks = [box(shape, 0, slice(0, 3), slice(0, 3)), box(shape, 0, slice(5, 8), slice(5, 8)), BoxMask.empty(shape)]
    assert assign_layers(masks) == [0, 0, 0]


def test_chain_of_overlaps_needs_two_layers_not_three():
    """a-b-c-d overlapping in a chain is 2-colourable; greedy in order would also manage, but
    the star below needs DSatur's choice."""
    shape = (1, 4, 40)
    chain = [box(shape, 0, slice(0, 2), slice(10 * i, 10 * i + 12)) for i in range(4)]
    layers = assign_layers(chain)
    assert max(layers) == 1
    assert all(layers[i] != layers[i + 1] for i in range(3))


def test_crown_graph_gets_two_layers():
    """Segments 0..5 where a_i overlaps b_j for i != j: a crown graph, on which first-fit in
    the order a0, b0, a1, b1, ... uses three layers; DSatur finds two."""
    shape = (1, 12, 12)
    a = [np.zeros(shape, bool) for _ in range(3)]
    b = [np.zeros(shape, bool) for _ in range(3)]
    for i in range(3):
        for j in range(3):
            if i != j:
                a[i][0, 4 * i + j, 4 * j + i] = True
                b[j][0, 4 * i + j, 4 * j + i] = True
    masks = [BoxMask.from_full(m) for pair in zip(a, b, strict=True) for m in pair]
    layers = assign_layers(masks)
    assert max(layers) == 1
    for first in range(6):
        for second in range(first + 1, 6):
            if masks[first].overlaps(masks[second]):
                assert layers[first] != layers[second]


def test_build_keeps_segment_numbers_as_label_values():
    geometry = axial_geometry(shape=(2, 6, 6))
    big = box(geometry.shape, slice(0, 2), slice(0, 6), slice(0, 6))
    small = box(geometry.shape, 1, slice(2, 4), slice(2, 4))
    empty = BoxMask.empty(geometry.shape)
    volumes = build_label_volumes(geometry, [(Segment(7, "big"), big), (Segment(300, "small"), small), (Segment(2, "empty"), empty)])
    assert len(volumes) == 2
    assert all(v.array.dtype == np.uint16 for v in volumes)
    by_name = {s.label: (i, v) for i, v in enumerate(volumes) for s in v.segments}
    assert np.array_equal(by_name["big"][1].mask(7), big.full())
    assert np.array_equal(by_name["small"][1].mask(300), small.full())
    assert by_name["big"][0] != by_name["small"][0]
    assert "empty" in by_name


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ([(Segment(1, "a"), None), (Segment(1, "b"), None)], "repeat"),
        ([(Segment(0, "a"), None)], "1 or more"),
        ([(Segment(70000, "a"), None)], "exceeds 65535"),
    ],
)
def test_bad_segment_numbers_are_refused(items, match):
    geometry = axial_geometry(shape=(1, 2, 2))
    items = [(segment, BoxMask.empty(geometry.shape)) for segment, _ in items]
    with pytest.raises(DicomLabelMapError, match=match):
        build_label_volumes(geometry, items)


def test_label_dtype():
    assert label_dtype(255) == np.uint8 and label_dtype(256) == np.uint16


def test_the_most_segments_a_label_map_holds_are_packed_in_one_pass():
    """65535 segments (3000 single voxels, 400 bars in overlapping chains, 300 large overlapping
    boxes, the rest empty):
    layers exact, every segment kept. Comparing all pairs or rescanning all masks for each
    choice (the obvious algorithms) would take hours here."""
    shape = (40, 64, 64)
    geometry = axial_geometry(shape)
    rng = np.random.default_rng(0)
    voxels = rng.choice(np.prod(shape), 3000, replace=False)
    items = []
    for n, flat in enumerate(voxels, start=1):
        items.append(
            (Segment(n, f"dot {n}"), BoxMask(shape, tuple(int(v) for v in np.unravel_index(flat, shape)), np.ones((1, 1, 1), bool)))
        )
    for n in range(400):
        # two-voxel bars along the rows of slice 0: each overlaps its neighbours in its row
        items.append((Segment(3001 + n, f"bar {n}"), BoxMask(shape, (0, n // 63, n % 63), np.ones((1, 1, 2), bool))))
    # 300 large boxes among the single voxels (whose size would make a naive cell tiny)
    for n in range(300):
        corner = (n % 20, (n * 7) % 34, (n * 13) % 34)
        items.append((Segment(3401 + n, f"box {n}"), BoxMask(shape, corner, np.ones((20, 30, 30), bool))))
    items += [(Segment(n, f"empty {n}"), BoxMask.empty(shape)) for n in range(3701, 65536)]
    volumes = build_label_volumes(geometry, items)
    assert sum(len(v.segments) for v in volumes) == 65535 and len(volumes) > 3  # the boxes overlap
    assert all(v.array.dtype == np.uint16 for v in volumes)
    dots_and_bars = [mask for _, mask in items[:3400]]
    layers = assign_layers(dots_and_bars)
    # No two masks of one layer share a voxel.
    for layer in set(layers):
        members = [m for m, index in zip(dots_and_bars, layers, strict=True) if index == layer]
        total = np.zeros(shape, np.int64)
        for m in members:
            total[m.box] += m.crop
        assert total.max() == 1
    assert max(layers) + 1 <= 3
    # Every box is whole in its layer (nothing painted over it).
    for volume in volumes:
        for segment in volume.segments:
            if segment.label.startswith("box"):
                mask = next(m for s, m in items if s.number == segment.number)
                np.testing.assert_array_equal(volume.array == segment.number, mask.full())


def test_present_numbers_without_painting_the_layer():
    """A packed layer says which values it holds from its masks (the label tables ask for every
    layer; painting them all would hold every layer in memory at once); the same answer once painted."""
    geometry = axial_geometry((4, 6, 6))
    inside, empty = np.zeros(geometry.shape, bool), np.zeros(geometry.shape, bool)
    inside[1:3, 2:4, 2:4] = True
    items = [(Segment(2, "a"), BoxMask.from_full(inside)), (Segment(5, "empty"), BoxMask.from_full(empty))]
    (volume,) = build_label_volumes(geometry, items)
    assert volume.present_numbers() == {2} and not volume.materialized
    assert set(np.unique(volume.array)) - {0} == volume.present_numbers() == {2}


def test_present_numbers_from_the_makers_count_until_the_array_is_replaced():
    geometry = axial_geometry((2, 3, 3))
    array = np.zeros(geometry.shape, np.uint8)
    array[0, 0, 0] = 4
    volume = LabelVolume(array, geometry, [Segment(4, "a"), Segment(6, "b")], present=[0, 4])
    assert volume.present_numbers() == {4}
    volume.array = np.full(geometry.shape, 6, np.uint8)  # a new array: counted again
    assert volume.present_numbers() == {6}
    assert LabelVolume(array, geometry, [Segment(4, "a")]).present_numbers() == {4}


def test_with_segments_shares_the_voxels_and_paints_nothing():
    geometry = axial_geometry((3, 4, 4))
    inside = np.zeros(geometry.shape, bool)
    inside[1, 1:3, 1:3] = True
    (volume,) = build_label_volumes(geometry, [(Segment(3, "a"), BoxMask.from_full(inside))])
    renamed = volume.with_segments([Segment(3, "renamed", color=(1, 2, 3))])
    assert not renamed.materialized and renamed.present_numbers() == {3}
    assert [s.label for s in volume.segments] == ["a"] and [s.label for s in renamed.segments] == ["renamed"]
    np.testing.assert_array_equal(renamed.array, inside * 3)
    with pytest.raises(DicomLabelMapError, match="repeat"):
        volume.with_segments([Segment(3, "x"), Segment(3, "y")])

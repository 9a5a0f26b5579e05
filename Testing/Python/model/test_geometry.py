"""Layer 1: ImageGeometry index <-> LPS transforms for every orientation."""

from __future__ import annotations

import numpy as np
import pytest
from dicomlabelmap.errors import GeometryError
from dicomlabelmap.model.geometry import ImageGeometry, check_image_orientation
from rotations import CORONAL, SAGITTAL, rotation

DIRECTIONS = {"axial": np.eye(3), "sagittal": SAGITTAL, "coronal": CORONAL, "oblique": rotation((1, 2, 3), 27)}


@pytest.mark.parametrize("name", DIRECTIONS)
def test_ijk_lps_round_trip(name):
    """to_lps and to_ijk are inverse, and the 4x4 matrices agree with them."""
    geometry = ImageGeometry((5, 7, 9), [10.0, -20.0, 30.5], [0.7, 1.3, 2.5], DIRECTIONS[name])
    ijk = np.random.default_rng(0).uniform(-2, 9, (50, 3))
    lps = geometry.to_lps(ijk)
    np.testing.assert_allclose(geometry.to_ijk(lps), ijk, atol=1e-9)
    homogeneous = np.column_stack([ijk, np.ones(len(ijk))])
    np.testing.assert_allclose((geometry.ijk_to_lps @ homogeneous.T).T[:, :3], lps, atol=1e-9)
    np.testing.assert_allclose(geometry.lps_to_ijk @ geometry.ijk_to_lps, np.eye(4), atol=1e-12)


def test_spacing_is_in_ijk_order_and_pixel_spacing_is_row_then_column():
    """DICOM Pixel Spacing is (row spacing, column spacing); the grid keeps (i, j, k)."""
    geometry = ImageGeometry.from_orientation([1, 0, 0, 0, 1, 0], [0, 0, 0], [0.5, 0.8], 3.0, (2, 4, 6))
    np.testing.assert_allclose(geometry.spacing, [0.8, 0.5, 3.0])
    np.testing.assert_allclose(geometry.to_lps([[1, 1, 1]])[0], [0.8, 0.5, 3.0])


def test_from_ijk_to_lps_recovers_geometry():
    original = ImageGeometry((3, 4, 5), [1, 2, 3], [0.5, 0.75, 2.0], DIRECTIONS["oblique"])
    rebuilt = ImageGeometry.from_ijk_to_lps(original.shape, original.ijk_to_lps)
    assert rebuilt.is_close(original, 1e-9)
    assert not rebuilt.is_close(ImageGeometry((3, 4, 5), [1, 2, 3.01], [0.5, 0.75, 2.0], DIRECTIONS["oblique"]), 1e-3)


@pytest.mark.parametrize(
    ("orientation", "match"),
    [
        ([1, 0, 0, 0, 0.9, 0], "not unit length and orthogonal"),
        ([1, 0, 0, 1, 0, 0], "not unit length and orthogonal"),
        ([1, 0, 0, 0, 1], "6 finite numbers"),
        ([1, 0, 0, 0, float("nan"), 0], "6 finite numbers"),
    ],
)
def test_bad_orientation_is_refused(orientation, match):
    with pytest.raises(GeometryError, match=match):
        check_image_orientation(orientation)


@pytest.mark.parametrize(("spacing", "shape"), [([1, 0, 1], (1, 1, 1)), ([1, 1, 1], (0, 2, 2))])
def test_degenerate_grid_is_refused(spacing, shape):
    with pytest.raises(GeometryError):
        ImageGeometry(shape, [0, 0, 0], spacing, np.eye(3))

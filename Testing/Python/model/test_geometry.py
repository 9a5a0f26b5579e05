"""Layer 1: ImageGeometry index <-> LPS transforms for every orientation."""

from __future__ import annotations

import numpy as np
import pytest
from dicomlabelmap.errors import GeometryError
from dicomlabelmap.model.geometry import ImageGeometry, check_image_orientation, report_numbers
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


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3.000000000000002, 3.0),
        (3.000000000000078, 3.0),
        (0.30000000000000004, 0.3),
        (0.9765625, 0.9765625),  # exact pixel spacings stay exact
        (-249.51171875, -249.51171875),
        (-600.123456789012, -600.123456789),  # positions keep 1e-9 mm
        (0.7071067811865476, 0.707106781187),  # direction cosines keep 1e-12
        (-0.0, 0.0),
        (-1e-17, -1e-17),
    ],
)
def test_report_numbers_drop_floating_point_noise_only(value, expected):
    assert report_numbers(value) == expected
    assert report_numbers([[value, 1.0], [2.0, value]]) == [[expected, 1.0], [2.0, expected]]
    assert str(report_numbers(-0.0)) == "0.0"

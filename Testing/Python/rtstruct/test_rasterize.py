"""Layer 1: RT Structure Set -> masks on the reference grid, with exact expected masks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import axial_geometry
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.findings import Severity
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.rtstruct.rasterize import RasterOptions, rasterize_structure_set
from dicomlabelmap.rtstruct.reader import read_rtstruct
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, make_image_series, make_rtstruct, save
from rotations import CORONAL, SAGITTAL, rotation


def square(low, high):
    return [[low, low], [high, low], [high, high], [low, high]]


def rasterize(rois, geometry=None, options=RasterOptions()):
    geometry = geometry or axial_geometry()
    images = make_image_series(geometry)
    structure_set = read_rtstruct(make_rtstruct(images, geometry, rois))
    return {r.roi.name: r for r in rasterize_structure_set(structure_set, geometry, options)}, geometry


def expected_square(geometry, k, low, high):
    """Centres ``low <= x, y <= high`` on slice ``k``."""
    mask = np.zeros(geometry.shape, bool)
    first, last = int(np.ceil(low)), int(np.floor(high))
    mask[k, first : last + 1, first : last + 1] = True
    return mask


def messages(raster, severity=None):
    return [f.message for f in raster.findings if severity is None or f.severity is severity]


def test_mask_has_the_reference_grid_shape_never_cropped():
    result, geometry = rasterize([SyntheticRoi("A", [SyntheticContour(2, square(3.5, 6.5))])])
    mask = result["A"].full_mask()
    assert mask.shape == geometry.shape
    assert np.array_equal(mask, expected_square(geometry, 2, 3.5, 6.5))
    assert (result["A"].plane_count, result["A"].contour_count, result["A"].voxel_count) == (1, 1, 9)


def test_nested_closed_planar_contours_make_a_hole():
    result, geometry = rasterize([SyntheticRoi("Ring", [SyntheticContour(1, square(1.5, 12.5)), SyntheticContour(1, square(4.5, 9.5))])])
    expected = expected_square(geometry, 1, 1.5, 12.5) & ~expected_square(geometry, 1, 4.5, 9.5)
    assert np.array_equal(result["Ring"].full_mask(), expected)
    assert result["Ring"].nested_count == 1 and not result["Ring"].findings


def test_keyhole_contour_makes_the_same_hole():
    # Outer square clockwise, a channel along y=7 (between pixel rows), inner square the other way.
    keyhole = [
        [1.5, 1.5],
        [12.5, 1.5],
        [12.5, 7],
        [9.5, 7],
        [9.5, 4.5],
        [4.5, 4.5],
        [4.5, 9.5],
        [9.5, 9.5],
        [9.5, 7],
        [12.5, 7],
        [12.5, 12.5],
        [1.5, 12.5],
    ]
    result, geometry = rasterize([SyntheticRoi("Keyhole", [SyntheticContour(1, keyhole)])])
    expected = expected_square(geometry, 1, 1.5, 12.5) & ~expected_square(geometry, 1, 4.5, 9.5)
    assert np.array_equal(result["Keyhole"].full_mask(), expected)
    assert result["Keyhole"].keyhole_count == 1


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0)])
def test_xor_contours_in_any_order_give_island_in_hole(order):
    shapes = [square(1.5, 16.5), square(4.5, 13.5), square(7.5, 10.5)]
    contours = [SyntheticContour(3, shapes[i], "CLOSEDPLANAR_XOR") for i in order]
    result, geometry = rasterize([SyntheticRoi("XOR", contours)])
    expected = expected_square(geometry, 3, 1.5, 16.5) & ~expected_square(geometry, 3, 4.5, 13.5) | expected_square(geometry, 3, 7.5, 10.5)
    assert np.array_equal(result["XOR"].full_mask(), expected)
    assert result["XOR"].xor_count == 3 and result["XOR"].nested_count == 2
    assert not result["XOR"].findings


def test_partially_overlapping_xor_contours_are_exclusive_or_without_warning():
    contours = [SyntheticContour(0, square(1.5, 8.5), "CLOSEDPLANAR_XOR"), SyntheticContour(0, square(5.5, 12.5), "CLOSEDPLANAR_XOR")]
    result, geometry = rasterize([SyntheticRoi("X", contours)])
    a, b = expected_square(geometry, 0, 1.5, 8.5), expected_square(geometry, 0, 5.5, 12.5)
    assert np.array_equal(result["X"].full_mask(), a ^ b)
    assert not result["X"].findings


def test_partially_overlapping_closed_planar_contours_are_reported_and_united():
    # Crossing CLOSED_PLANAR contours are undefined in PS3.3 C.8.8.6.3; their union is drawn
    # (even-odd would cancel the common area).
    contours = [SyntheticContour(0, square(1.5, 8.5)), SyntheticContour(0, square(5.5, 12.5))]
    result, geometry = rasterize([SyntheticRoi("P", contours)])
    (finding,) = result["P"].findings
    assert finding.slice_index == 0 and finding.kind == "crossing" and "contours 1, 2 cross or touch" in finding.message
    assert np.array_equal(result["P"].full_mask(), expected_square(geometry, 0, 1.5, 8.5) | expected_square(geometry, 0, 5.5, 12.5))


def test_crossing_xor_contours_stay_exclusive_or():
    contours = [SyntheticContour(0, square(1.5, 8.5), "CLOSEDPLANAR_XOR"), SyntheticContour(0, square(5.5, 12.5), "CLOSEDPLANAR_XOR")]
    result, geometry = rasterize([SyntheticRoi("X", contours)])
    assert not result["X"].findings
    assert np.array_equal(result["X"].full_mask(), expected_square(geometry, 0, 1.5, 8.5) ^ expected_square(geometry, 0, 5.5, 12.5))


def test_slice_mixing_types_is_reported():
    contours = [SyntheticContour(2, square(1.5, 12.5)), SyntheticContour(2, square(4.5, 9.5), "CLOSEDPLANAR_XOR")]
    result, geometry = rasterize([SyntheticRoi("M", contours)])
    assert any("mixes CLOSED_PLANAR and CLOSEDPLANAR_XOR" in m for m in messages(result["M"], Severity.WARNING))
    assert np.array_equal(result["M"].full_mask(), expected_square(geometry, 2, 1.5, 12.5) & ~expected_square(geometry, 2, 4.5, 9.5))


@pytest.mark.parametrize("mark", [True, False])
def test_contour_enclosing_no_voxel_centre(mark):
    tiny = [[5.2, 5.2], [5.6, 5.2], [5.6, 5.7]]
    result, _ = rasterize([SyntheticRoi("Tiny", [SyntheticContour(4, tiny)])], options=RasterOptions(mark_unfilled_contours=mark))
    (finding,) = result["Tiny"].findings
    assert finding.slice_index == 4 and "encloses no voxel centre" in finding.message
    mask = result["Tiny"].full_mask()
    if mark:
        assert np.argwhere(mask).tolist() == [[4, 5, 5], [4, 5, 6], [4, 6, 6]]
    else:
        assert not mask.any() and "not drawn" in finding.message


def test_tiny_hole_is_reported_and_removes_nothing():
    result, geometry = rasterize(
        [SyntheticRoi("H", [SyntheticContour(1, square(1.5, 9.5)), SyntheticContour(1, [[5.2, 5.2], [5.6, 5.2], [5.6, 5.7]])])]
    )
    assert np.array_equal(result["H"].full_mask(), expected_square(geometry, 1, 1.5, 9.5))
    assert "hole that encloses no voxel centre" in messages(result["H"])[0]


def test_points_and_open_contours_are_counted_not_filled():
    contours = [
        SyntheticContour(1, [[3, 3]], "POINT"),
        SyntheticContour(1, [[1, 1], [8, 1], [8, 8]], "OPEN_PLANAR"),
        SyntheticContour(2, [[1, 1], [8, 1], [8, 8]], "OPEN_NONPLANAR"),
    ]
    result, geometry = rasterize([SyntheticRoi("Marks", contours)])
    raster = result["Marks"]
    assert (raster.point_count, raster.open_count, raster.voxel_count, raster.plane_count) == (1, 2, 0, 0)
    np.testing.assert_allclose(
        geometry.to_ijk(raster.roi.points_of_type(*raster.roi.contours[0].geometric_type.__class__)[0])[0], [3, 3, 1], atol=1e-6
    )


def test_contour_between_slices_goes_to_the_nearest():
    result, geometry = rasterize([SyntheticRoi("A", [SyntheticContour(2.4, square(1.5, 4.5))])])
    assert np.array_equal(result["A"].full_mask(), expected_square(geometry, 2, 1.5, 4.5))
    assert not result["A"].findings


def test_contour_outside_the_volume_is_reported_not_moved():
    result, geometry = rasterize([SyntheticRoi("A", [SyntheticContour(-1, square(1.5, 4.5)), SyntheticContour(0, square(1.5, 4.5))])])
    (message,) = messages(result["A"], Severity.WARNING)
    assert "lies 2.00 mm from the nearest slice (0)" in message and "not drawn" in message
    assert np.array_equal(result["A"].full_mask(), expected_square(geometry, 0, 1.5, 4.5))


def test_slice_tolerance_option():
    result, _ = rasterize([SyntheticRoi("A", [SyntheticContour(2.3, square(1.5, 4.5))])], options=RasterOptions(slice_tolerance_mm=0.5))
    assert "lies 0.60 mm from the nearest slice (2)" in messages(result["A"])[0]
    assert result["A"].voxel_count == 0


def test_non_planar_contour_is_an_error_for_its_roi_only():
    geometry = axial_geometry()
    images = make_image_series(geometry)
    dataset = make_rtstruct(
        images,
        geometry,
        [SyntheticRoi("Bent", [SyntheticContour(1, square(1.5, 4.5))]), SyntheticRoi("Fine", [SyntheticContour(1, square(1.5, 4.5))])],
    )
    data = list(dataset.ROIContourSequence[0].ContourSequence[0].ContourData)
    data[2] += 1.5  # lift the first point 1.5 mm off the slice plane
    dataset.ROIContourSequence[0].ContourSequence[0].ContourData = data
    result = {r.roi.name: r for r in rasterize_structure_set(read_rtstruct(dataset), geometry)}
    assert not result["Bent"].converted and "not planar" in messages(result["Bent"], Severity.ERROR)[0]
    assert result["Fine"].converted and result["Fine"].voxel_count == 9
    with pytest.raises(ValueError, match="was not converted"):
        result["Bent"].full_mask()


def test_contour_in_a_tilted_plane_is_an_error():
    geometry = axial_geometry()
    images = make_image_series(geometry)
    dataset = make_rtstruct(images, geometry, [SyntheticRoi("Tilted", [SyntheticContour(2, square(1.5, 9.5))])])
    points = np.asarray(dataset.ROIContourSequence[0].ContourSequence[0].ContourData, float).reshape(-1, 3)
    points[:, 2] += 0.3 * (points[:, 0] - points[0, 0])  # a plane tilted about the y axis
    dataset.ROIContourSequence[0].ContourSequence[0].ContourData = points.ravel().tolist()
    (raster,) = rasterize_structure_set(read_rtstruct(dataset), geometry)
    assert not raster.converted and "tilted 16.7 degrees" in messages(raster, Severity.ERROR)[0]


def test_frame_of_reference_mismatch_is_an_error():
    geometry = axial_geometry()
    images = make_image_series(geometry)
    dataset = make_rtstruct(images, geometry, [SyntheticRoi("A", [SyntheticContour(1, square(1.5, 4.5))])])
    dataset.StructureSetROISequence[0].ReferencedFrameOfReferenceUID = "1.2.999"
    (raster,) = rasterize_structure_set(read_rtstruct(dataset), geometry)
    assert not raster.converted and raster.findings[0].attribute == "ReferencedFrameOfReferenceUID"


def test_slab_thickness_and_wrong_image_reference_are_reported(tmp_path):
    geometry = axial_geometry()
    images = make_image_series(geometry)
    save(images, tmp_path)
    series = read_reference_series(tmp_path)
    dataset = make_rtstruct(
        images, geometry, [SyntheticRoi("A", [SyntheticContour(1, square(1.5, 4.5)), SyntheticContour(2, square(1.5, 4.5))])]
    )
    first, second = dataset.ROIContourSequence[0].ContourSequence
    first.ContourSlabThickness = 5.0
    second.ContourImageSequence[0].ReferencedSOPInstanceUID = images[4].SOPInstanceUID
    (raster,) = rasterize_structure_set(read_rtstruct(dataset), series)
    attributes = sorted(f.attribute for f in raster.findings)
    assert attributes == ["ContourImageSequence", "ContourSlabThickness"]
    assert any("names slice 4 but the contour lies on slice 2" in m for m in messages(raster))
    assert raster.voxel_count == 18  # 3 x 3 centres on each of two slices


ORIENTATIONS = {"sagittal": SAGITTAL, "coronal": CORONAL, "oblique": rotation((1, -2, 0.5), 33)}


@pytest.mark.parametrize("name", ORIENTATIONS)
def test_any_orientation_with_anisotropic_pixels(name):
    """Contours drawn in the plane of a sagittal, coronal or oblique series with 0.6 x 1.7 mm
    pixels land on the same voxels as in index space."""
    geometry = ImageGeometry((5, 18, 16), [30.0, -50.0, 12.0], [0.6, 1.7, 2.2], ORIENTATIONS[name], "1.2.3.4")
    contours = [SyntheticContour(3, square(1.5, 12.5)), SyntheticContour(3, square(4.5, 9.5))]
    result, _ = rasterize([SyntheticRoi("Ring", contours)], geometry)
    expected = expected_square(geometry, 3, 1.5, 12.5) & ~expected_square(geometry, 3, 4.5, 9.5)
    assert np.array_equal(result["Ring"].full_mask(), expected)
    assert not result["Ring"].findings

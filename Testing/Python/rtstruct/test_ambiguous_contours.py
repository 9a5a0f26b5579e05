"""Layers 1 and 2: the documented rules for ambiguous RT Structure Sets, with exact masks.

Each rule of ``rasterize``'s docstring (planes between slices, several planes on one slice,
repeated outlines, crossing near-copies, repeated ROI Numbers, absurd coordinates) is checked
on synthetic series, and on the real LUNG1-001 files changed the way real exports go wrong.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pydicom
import pytest
from conftest import axial_geometry, shared_file
from dicomlabelmap import read_reference_series, read_rtstruct, rtstruct_to_labels
from dicomlabelmap.dicom.images import ReferenceSeries
from dicomlabelmap.findings import Severity
from dicomlabelmap.rtstruct.rasterize import RasterOptions, rasterize_structure_set
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, make_image_series, make_rtstruct


def square(low, high):
    return [[low, low], [high, low], [high, high], [low, high]]


def plane_of(geometry, low, high):
    """Centres ``low <= x, y <= high`` on one slice."""
    plane = np.zeros(geometry.shape[1:], bool)
    first, last = int(np.ceil(low)), int(np.floor(high))
    plane[first : last + 1, first : last + 1] = True
    return plane


def rasterize(rois, geometry=None, image_references=True, options=RasterOptions()):
    geometry = geometry or axial_geometry()
    images = make_image_series(geometry)
    dataset = make_rtstruct(images, geometry, rois, image_references=image_references)
    structure_set = read_rtstruct(dataset)
    return {r.roi.name: r for r in rasterize_structure_set(structure_set, geometry, options)}, geometry, dataset


def kinds(raster, severity=None):
    return {f.kind: f for f in raster.findings if severity is None or f.severity is severity}


# -- planes between slices ------------------------------------------------------------------------
def test_planes_exactly_half_way_go_one_per_slice_to_the_lower_slice():
    # A structure set drawn on a reconstruction shifted by half a slice: planes at k + 0.5.
    # Round-half-to-even put two planes on one slice and cancelled them; now each keeps its own.
    sizes = [(1.5, 4.5), (2.5, 6.5), (3.5, 8.5), (4.5, 10.5)]
    contours = [SyntheticContour(k + 0.5, square(*size)) for k, size in enumerate(sizes)]
    result, geometry, _ = rasterize([SyntheticRoi("Shifted", contours)], image_references=False)
    expected = np.zeros(geometry.shape, bool)
    for k, size in enumerate(sizes):
        expected[k] = plane_of(geometry, *size)
    raster = result["Shifted"]
    assert np.array_equal(raster.full_mask(), expected)
    finding = kinds(raster)["half_way"]
    assert finding.severity is Severity.WARNING and finding.count == 4 and finding.slices == (0, 1, 2, 3)
    assert "half-way" in finding.message and "ROI" in str(finding) and "Shifted" in str(finding)


def test_half_way_plane_follows_its_image_reference_to_the_upper_slice():
    # A plane at 1.5 whose Contour Image Sequence names slice 2: the reference breaks the tie.
    result, geometry, dataset = rasterize([SyntheticRoi("Ref", [SyntheticContour(1.5, square(2.5, 6.5))])], image_references=False)
    structure_set = read_rtstruct(dataset)
    roi = structure_set.rois[0]
    roi.contours[0] = dataclasses.replace(roi.contours[0], referenced_sop_instance_uids=("1.2.3.999",))
    reference = ReferenceSeries.from_geometry(geometry)
    reference.slices[2] = dataclasses.replace(reference.slices[2], sop_instance_uid="1.2.3.999")
    (raster,) = rasterize_structure_set(structure_set, reference)
    expected = np.zeros(geometry.shape, bool)
    expected[2] = plane_of(geometry, 2.5, 6.5)
    assert np.array_equal(raster.full_mask(), expected)
    assert "drawn on slice 2" in kinds(raster)["half_way"].message
    # Without the reference, the lower slice.
    assert np.array_equal(result["Ref"].full_mask()[1], plane_of(geometry, 2.5, 6.5))


def test_several_planes_on_one_slice_are_united_never_cancelled():
    # Planes drawn every 2/3 of a slice: three land nearest slice 2. Even-odd over all of them
    # would cancel the common area; the union keeps every contour's area.
    contours = [
        SyntheticContour(2 - 1 / 3, square(1.5, 8.5)),
        SyntheticContour(2, square(1.5, 8.5)),
        SyntheticContour(2 + 1 / 3, square(4.5, 12.5)),
    ]
    result, geometry, _ = rasterize([SyntheticRoi("Dense", contours)], image_references=False)
    expected = np.zeros(geometry.shape, bool)
    expected[2] = plane_of(geometry, 1.5, 8.5) | plane_of(geometry, 4.5, 12.5)
    assert np.array_equal(result["Dense"].full_mask(), expected)
    finding = kinds(result["Dense"])["planes_share_slice"]
    assert finding.slices == (2,) and "3 contour planes" in finding.message and "mm along the slice normal" in finding.message


def test_holes_stay_holes_within_each_plane_of_a_shared_slice():
    contours = [
        SyntheticContour(3 - 0.3, square(1.5, 12.5)),
        SyntheticContour(3 - 0.3, square(4.5, 9.5)),  # a hole of the first plane
        SyntheticContour(3 + 0.3, square(14.5, 17.5)),
    ]
    result, geometry, _ = rasterize([SyntheticRoi("Ring", contours)], image_references=False)
    expected = np.zeros(geometry.shape, bool)
    expected[3] = (plane_of(geometry, 1.5, 12.5) & ~plane_of(geometry, 4.5, 9.5)) | plane_of(geometry, 14.5, 17.5)
    assert np.array_equal(result["Ring"].full_mask(), expected)


# -- repeated outlines ----------------------------------------------------------------------------
@pytest.mark.parametrize("geometric_type", ["CLOSED_PLANAR", "CLOSEDPLANAR_XOR"])
def test_repeated_outlines_count_once_whatever_start_and_direction(geometric_type):
    outline = np.array(square(1.5, 12.5), float)
    copies = [outline, outline[::-1], np.roll(outline, 2, axis=0), outline + 0.01]
    contours = [SyntheticContour(1, c, geometric_type) for c in copies] + [SyntheticContour(1, square(4.5, 9.5), geometric_type)]
    result, geometry, _ = rasterize([SyntheticRoi("Rep", contours)])
    expected = np.zeros(geometry.shape, bool)
    expected[1] = plane_of(geometry, 1.5, 12.5) & ~plane_of(geometry, 4.5, 9.5)
    raster = result["Rep"]
    assert np.array_equal(raster.full_mask(), expected)
    assert raster.repeated_count == 3
    finding = kinds(raster)["repeated_outline"]
    assert finding.count == 3 and finding.slices == (1,) and "counted once" in finding.message


def test_near_copies_that_cross_keep_their_union_as_lung1_002_does():
    # XiO writes near-identical copies of an outline (shifted a little, crossing each other) up
    # to 25 times; even-odd emptied such slices. Their union is drawn and the crossing reported.
    outline = np.array(square(2.5, 14.5), float)
    copies = [outline + [0.3 * i, 0.2 * i] for i in range(6)]
    contours = [SyntheticContour(2, c) for c in copies]
    result, geometry, _ = rasterize([SyntheticRoi("Lung", contours)])
    expected = np.zeros(geometry.shape, bool)
    for c in copies:
        low, high = c.min(axis=0), c.max(axis=0)
        expected[2, int(np.ceil(low[1])) : int(np.floor(high[1])) + 1, int(np.ceil(low[0])) : int(np.floor(high[0])) + 1] = True
    raster = result["Lung"]
    assert np.array_equal(raster.full_mask(), expected) and raster.voxel_count > 0
    finding = kinds(raster)["crossing"]
    assert finding.slices == (2,) and "union" in finding.message


def test_a_hole_inside_crossing_near_copies_is_still_a_hole():
    outline = np.array(square(1.5, 14.5), float)
    contours = [SyntheticContour(2, outline), SyntheticContour(2, outline + 0.4), SyntheticContour(2, square(5.5, 9.5))]
    result, geometry, _ = rasterize([SyntheticRoi("L", contours)])
    expected = np.zeros(geometry.shape, bool)
    expected[2] = (plane_of(geometry, 1.5, 14.5) | plane_of(geometry, 1.9, 14.9)) & ~plane_of(geometry, 5.5, 9.5)
    assert np.array_equal(result["L"].full_mask(), expected)


def test_thin_ring_whose_hole_removes_every_centre_keeps_its_outline():
    # Outer encloses centres, the hole removes all of them: the plane would vanish silently.
    contours = [SyntheticContour(1, square(3.6, 6.4)), SyntheticContour(1, square(3.8, 6.2))]
    result, geometry, _ = rasterize([SyntheticRoi("Thin", contours)])
    raster = result["Thin"]
    assert raster.full_mask()[1].any()
    assert kinds(raster)["cancelled_plane"].slices == (1,)


# -- ROI Numbers used twice -----------------------------------------------------------------------
def _two_rois():
    return [
        SyntheticRoi("GTV", [SyntheticContour(1, square(1.5, 5.5))]),
        SyntheticRoi("Cord", [SyntheticContour(2, square(8.5, 12.5))]),
        SyntheticRoi("Body", [SyntheticContour(3, square(0.5, 18.5))]),
    ]


def test_duplicate_roi_number_keeps_both_structures_apart():
    geometry = axial_geometry()
    dataset = make_rtstruct(make_image_series(geometry), geometry, _two_rois())
    dataset.StructureSetROISequence[1].ROINumber = 1
    dataset.ROIContourSequence[1].ReferencedROINumber = 1
    dataset.RTROIObservationsSequence[1].ReferencedROINumber = 1
    conversion = rtstruct_to_labels(read_rtstruct(dataset), _reference(geometry))
    by_name = {r.roi.name: r for r in conversion.rois}
    assert np.argwhere(by_name["GTV"].full_mask())[:, 0].tolist() == [1] * 16
    assert np.array_equal(by_name["GTV"].full_mask()[1], plane_of(geometry, 1.5, 5.5))
    assert np.array_equal(by_name["Cord"].full_mask()[2], plane_of(geometry, 8.5, 12.5)) and by_name["Cord"].voxel_count == 16
    assert [conversion.segment_number(r) for r in conversion.rois] == [1, 2, 3]
    warning = [f for f in by_name["Cord"].findings if f.attribute == "ROINumber"][0]
    assert warning.severity is Severity.WARNING and "'GTV' and 'Cord'" in warning.message


def test_duplicate_referenced_roi_number_refuses_only_the_ambiguous_rois():
    geometry = axial_geometry()
    dataset = make_rtstruct(make_image_series(geometry), geometry, _two_rois())
    dataset.ROIContourSequence[1].ReferencedROINumber = 1  # Cord's contours now claim GTV's number
    conversion = rtstruct_to_labels(read_rtstruct(dataset), _reference(geometry))
    by_name = {r.roi.name: r for r in conversion.rois}
    assert not by_name["GTV"].converted and not by_name["Cord"].converted
    assert "ROI Contour items 1, 2 reference ROI Number 1" in str(by_name["GTV"].findings[-1])
    assert "no ROI Contour item references this ROI" in by_name["Cord"].findings[-1].message
    assert np.array_equal(by_name["Body"].full_mask()[3], plane_of(geometry, 0.5, 18.5)) and by_name["Body"].voxel_count == 18 * 18


def _reference(geometry):
    return ReferenceSeries.from_geometry(geometry)


# -- absurd coordinates ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", [1e7, 1e20, 1e308, np.finfo(np.float64).max, -1e300])
def test_absurd_coordinates_fail_their_roi_alone(value):
    geometry = axial_geometry()
    rois = [SyntheticRoi("Bad", [SyntheticContour(1, square(1.5, 5.5)), SyntheticContour(2, square(1.5, 5.5))]), _two_rois()[1]]
    dataset = make_rtstruct(make_image_series(geometry), geometry, rois)
    data = [float(v) for v in dataset.ROIContourSequence[0].ContourSequence[1].ContourData]
    data[3] = value
    dataset.ROIContourSequence[0].ContourSequence[1].ContourData = [repr(v) if abs(v) < 1e300 else f"{v:.16e}" for v in data]
    conversion = rtstruct_to_labels(read_rtstruct(dataset), _reference(geometry))
    bad, cord = conversion.rois
    assert not bad.converted
    (error,) = [f for f in bad.findings if f.severity is Severity.ERROR]
    assert error.kind == "absurd_coordinates" and "contour 2" in error.message and error.attribute == "ContourData"
    assert np.array_equal(cord.full_mask()[2], plane_of(geometry, 8.5, 12.5)) and cord.voxel_count == 16


def test_coordinates_at_the_bound_convert_without_traceback():
    # 0.9 km away: allowed, far outside the volume, reported, nothing drawn.
    geometry = axial_geometry()
    far = np.array(square(1.5, 5.5), float) + 9e5
    result, _, _ = rasterize([SyntheticRoi("Far", [SyntheticContour(1, far)])], geometry)
    assert result["Far"].converted and result["Far"].voxel_count == 0


# -- real data: LUNG1-001 changed as real exports go wrong -----------------------------------------
@pytest.fixture(scope="module")
def lung():
    rtstruct = shared_file("nsclc-lung1-001/rtstruct/RS.dcm")
    reference = read_reference_series(shared_file("nsclc-lung1-001/ct"))
    original = rtstruct_to_labels(rtstruct, reference)
    return pydicom.dcmread(rtstruct), reference, original


def _shifted(dataset, dz):
    changed = copy.deepcopy(dataset)
    for roi in changed.ROIContourSequence:
        for contour in roi.ContourSequence:
            data = np.array([float(v) for v in contour.ContourData]).reshape(-1, 3)
            data[:, 2] += dz
            contour.ContourData = [f"{v:.6f}" for v in data.ravel()]
            contour.pop("ContourImageSequence", None)
    return changed


@pytest.mark.realdata
@pytest.mark.parametrize(("dz", "slice_shift"), [(1.5, 0), (-1.5, -1)])
def test_lung_drawn_half_a_slice_away_keeps_every_plane(lung, dz, slice_shift):
    """+1.5 mm on 3 mm slices puts every plane exactly half-way; the lower slice takes it, so the
    masks equal the original ones (shifted by one slice for -1.5 mm). Was: GTV-1 6,751 voxels."""
    dataset, reference, original = lung
    shifted = rtstruct_to_labels(read_rtstruct(_shifted(dataset, dz)), reference)
    for before, after in zip(original.rois, shifted.rois, strict=True):
        expected = np.roll(before.full_mask(), slice_shift, axis=0)
        if slice_shift:
            expected[slice_shift:] = False
        assert np.array_equal(after.full_mask(), expected), before.roi.name
        half_way = [f for f in after.findings if f.kind == "half_way"]
        assert len(half_way) == 1 and half_way[0].count == before.plane_count - (1 if slice_shift and before.full_mask()[0].any() else 0)


@pytest.mark.realdata
def test_lung_with_every_contour_written_twice_is_unchanged(lung):
    dataset, reference, original = lung
    doubled = copy.deepcopy(dataset)
    for roi in doubled.ROIContourSequence:
        contours = list(roi.ContourSequence)
        reversed_copies = []
        for contour in contours:
            twin = copy.deepcopy(contour)
            data = np.array([float(v) for v in twin.ContourData]).reshape(-1, 3)[::-1]
            twin.ContourData = [f"{v:.6f}" for v in np.roll(data, 5, axis=0).ravel()]
            reversed_copies.append(twin)
        roi.ContourSequence = contours + reversed_copies
    result = rtstruct_to_labels(read_rtstruct(doubled), reference)
    for before, after in zip(original.rois, result.rois, strict=True):
        assert np.array_equal(after.full_mask(), before.full_mask()), before.roi.name
        assert after.repeated_count == len([c for c in before.roi.contours if c.geometric_type.encloses_area])
        assert len([f for f in after.findings if f.kind == "repeated_outline"]) == 1  # one line, not one per contour


@pytest.mark.realdata
def test_lung_duplicate_roi_number_never_merges_gtv_and_cord(lung):
    dataset, reference, original = lung
    changed = copy.deepcopy(dataset)
    names = [str(item.ROIName) for item in changed.StructureSetROISequence]
    cord = names.index("Spinal-Cord")
    gtv_number = changed.StructureSetROISequence[names.index("GTV-1")].ROINumber
    changed.StructureSetROISequence[cord].ROINumber = gtv_number
    for sequence in (changed.ROIContourSequence, changed.RTROIObservationsSequence):
        for item in sequence:
            if int(item.ReferencedROINumber) == int(original.structure_set.rois[cord].number):
                item.ReferencedROINumber = gtv_number
    result = rtstruct_to_labels(read_rtstruct(changed), reference)
    for before, after in zip(original.rois, result.rois, strict=True):
        assert after.roi.name == before.roi.name
        assert np.array_equal(after.full_mask(), before.full_mask()), before.roi.name


def _independent_even_odd(conversion):
    """matplotlib's point-in-polygon (a separate implementation) per contour, exclusive or per
    slice, on the CT's voxel centres."""
    path_module = pytest.importorskip("matplotlib.path", reason="matplotlib is not installed (the preview extra)")
    geometry = conversion.reference.geometry
    rows, columns = geometry.shape[1:]
    for raster in conversion.rois:
        expected = np.zeros(geometry.shape, bool)
        for contour in raster.roi.contours:
            if not contour.geometric_type.encloses_area:
                continue
            ijk = geometry.to_ijk(contour.points)
            k = int(np.floor(float(ijk[:, 2].mean()) + 0.5))
            if not 0 <= k < geometry.shape[0]:
                continue
            low = np.maximum(np.floor(ijk[:, :2].min(axis=0)).astype(int), 0)
            high = np.minimum(np.ceil(ijk[:, :2].max(axis=0)).astype(int), [columns - 1, rows - 1])
            if np.any(high < low):
                continue
            jj, ii = np.mgrid[low[1] : high[1] + 1, low[0] : high[0] + 1]
            inside = path_module.Path(ijk[:, :2]).contains_points(np.column_stack([ii.ravel(), jj.ravel()])).reshape(jj.shape)
            expected[k, low[1] : high[1] + 1, low[0] : high[0] + 1] ^= inside
        yield raster, expected


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("rtstruct", "ct"),
    [("nsclc-lung1-001/rtstruct/RS.dcm", "nsclc-lung1-001/ct"), ("rt-utils/mock_data/rt.dcm", "rt-utils/mock_data")],
    ids=["varian-lung1-001", "rt-utils-mock"],
)
def test_real_structure_sets_agree_with_an_independent_even_odd_rasterisation(rtstruct, ct):
    """Dice >= 0.998 per ROI against matplotlib's polygon test on the exact CT grid."""
    conversion = rtstruct_to_labels(shared_file(rtstruct), shared_file(ct))
    for raster, expected in _independent_even_odd(conversion):
        ours = raster.full_mask()
        total = ours.sum() + expected.sum()
        dice = 2 * np.count_nonzero(ours & expected) / total if total else 1.0
        assert dice >= 0.998, (raster.roi.name, dice)

"""Layers 2 and 3: real files from ../shared/data, and the peer plastimatch on the same input.

LUNG1-001 (TCIA NSCLC-Radiomics, Varian ARIA): 4 ROIs, 358 CLOSED_PLANAR contours, 19 of them
nested inside others (holes).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from conftest import find_tool, shared_file
from dicomlabelmap import read_reference_series, read_rtstruct, rtstruct_to_labels
from dicomlabelmap.findings import Severity
from dicomlabelmap.rtstruct.polygons import fill_polygons, path_pixels, plane_relations
from dicomlabelmap.rtstruct.reader import ContourGeometricType

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def lung():
    rtstruct = shared_file("nsclc-lung1-001/rtstruct/RS.dcm")
    ct = shared_file("nsclc-lung1-001/ct")
    return rtstruct_to_labels(rtstruct, ct), rtstruct, ct


def test_lung_masks_are_on_the_ct_grid(lung):
    conversion, _, ct = lung
    series = read_reference_series(ct)
    geometry = conversion.reference.geometry
    assert geometry.shape == (134, 512, 512)
    assert geometry.is_close(series.geometry, 0)
    for raster in conversion.rois:
        assert raster.full_mask().shape == (134, 512, 512)
    for volume in conversion.label_volumes:
        assert volume.array.shape == (134, 512, 512) and volume.geometry is geometry


def test_lung_report_counts(lung):
    conversion, _, _ = lung
    rows = {row["name"]: row for row in conversion.to_dict()["rois"]}
    assert sum(row["contours"] for row in rows.values()) == 358
    assert sum(row["nested"] for row in rows.values()) == 19
    assert rows["Lung-Left"]["nested"] + rows["Lung-Right"]["nested"] == 19
    assert all(row["converted"] and row["errors"] == 0 for row in rows.values())
    assert all(row["xor"] == 0 for row in rows.values())
    # Lungs of an adult: 2-3.5 litres each.
    assert 2000 < rows["Lung-Left"]["volume_ml"] < 3500 and 2000 < rows["Lung-Right"]["volume_ml"] < 3500
    # GTV-1 overlaps Lung-Left, so two layers are needed, and segment numbers follow the ROI order.
    assert len(conversion.label_volumes) == 2
    assert [rows[name]["segment_number"] for name in ("GTV-1", "Spinal-Cord", "Lung-Left", "Lung-Right")] == [1, 2, 3, 4]


def test_lung_holes_are_carved(lung):
    """Every nested contour's inside is absent from the mask (except sub-voxel holes)."""
    conversion, _, _ = lung
    geometry = conversion.reference.geometry
    lung_right = next(r for r in conversion.rois if r.roi.name == "Lung-Right")
    mask = lung_right.full_mask()
    # The hole on slice 71 (78 points) encloses 450 voxel centres, none of them in the mask.
    hole = next(c for c in lung_right.roi.contours if len(c.points) == 78 and round(float(geometry.to_ijk(c.points)[:, 2].mean())) == 71)
    inside = fill_polygons([geometry.to_ijk(hole.points)[:, :2]], geometry.shape[1:]).mask
    assert inside.sum() > 400
    rows, columns = path_pixels(geometry.to_ijk(hole.points)[:, :2], geometry.shape[1:])
    inside[rows, columns] = False  # centres on the path belong to the ROI
    assert not (mask[71] & inside).any()


@pytest.mark.peer
def test_lung_matches_plastimatch_except_the_holes_it_fills(lung, tmp_path):
    """plastimatch (PyPI 1.10.0) on the same files: Dice >= 0.999 per ROI; every voxel where
    the two differ lies within one pixel of a contour path (boundary decisions), or inside a
    nested contour wound opposite to its outer one (a hole) that plastimatch fills and we
    carve: on Lung-Left slice 65 and Lung-Right slices 71 and 73 (a fourth filled hole, on
    Lung-Right slice 87, is so small that all its voxels lie within a pixel of its path)."""
    plastimatch = find_tool("plastimatch")
    if plastimatch is None:
        pytest.skip("plastimatch is not installed (pip install plastimatch)")
    nrrd = pytest.importorskip("nrrd")
    conversion, rtstruct, ct = lung
    subprocess.run(
        [
            plastimatch,
            "convert",
            "--input",
            str(rtstruct),
            "--referenced-ct",
            str(ct),
            "--output-prefix",
            str(tmp_path / "pm"),
            "--prefix-format",
            "nrrd",
        ],
        check=True,
        capture_output=True,
    )
    geometry = conversion.reference.geometry
    filled_holes = set()
    for raster in conversion.rois:
        theirs, header = nrrd.read(str(tmp_path / "pm" / f"{raster.roi.name}.nrrd"), index_order="C")
        np.testing.assert_allclose(header["space origin"], geometry.origin, atol=1e-3)
        theirs = theirs.astype(bool)
        ours = raster.full_mask()
        dice = 2 * np.count_nonzero(ours & theirs) / (ours.sum() + theirs.sum())
        assert dice >= 0.999, (raster.roi.name, dice)
        near_contour = np.zeros(geometry.shape, bool)
        holes = np.zeros(geometry.shape, bool)
        by_slice = {}
        for contour in raster.roi.contours:
            ijk = geometry.to_ijk(contour.points)
            k = int(round(float(ijk[:, 2].mean())))
            by_slice.setdefault(k, []).append(ijk[:, :2])
            rows, columns = path_pixels(ijk[:, :2], geometry.shape[1:])
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    near_contour[k, np.clip(rows + dr, 0, 511), np.clip(columns + dc, 0, 511)] = True
        for k, polygons in by_slice.items():
            relations = plane_relations(polygons)
            for polygon, depth in zip(polygons, relations.depth, strict=True):
                if depth % 2:
                    assert signed_area(polygon) * signed_area(polygons[int(np.argmin(relations.depth))]) < 0  # wound as a hole
                    holes[k] |= fill_polygons([polygon], geometry.shape[1:]).mask
        far = (ours != theirs) & ~near_contour
        assert not (far & ~holes).any(), (raster.roi.name, np.argwhere(far & ~holes)[:5])
        assert not (far & ours).any()  # inside those holes, only plastimatch has voxels
        filled_holes |= {(raster.roi.name, int(k)) for k in np.unique(np.argwhere(far)[:, 0])}
    assert filled_holes == {("Lung-Left", 65), ("Lung-Right", 71), ("Lung-Right", 73)}


def signed_area(polygon):
    x, y = polygon[:, 0], polygon[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2


def test_rt_utils_hole_with_rewritten_frame_of_reference():
    """rt-utils' mock RTSTRUCT: its Frame of Reference UID differs from the CT's but its
    contours name the CT's images; converted with warnings, the hole kept."""
    conversion = rtstruct_to_labels(shared_file("rt-utils/mock_data/rt.dcm"), shared_file("rt-utils/mock_data"))
    (raster,) = conversion.rois
    # The hole repeats its corner (-32, -32); a repeated vertex is not a keyhole.
    assert raster.converted and raster.nested_count == 1 and raster.keyhole_count == 0
    assert conversion.structure_set.findings[0].attribute == "FrameOfReferenceUID"
    assert conversion.reference.geometry.shape == (2, 512, 512)


def test_rt_utils_contours_beyond_the_volume_are_reported():
    conversion = rtstruct_to_labels(shared_file("rt-utils/mock_data/non_existent_reference_rt.dcm"), shared_file("rt-utils/mock_data"))
    for raster in conversion.rois:
        warnings = [f for f in raster.findings if f.severity is Severity.WARNING]
        assert len(warnings) == 1 and "outside the reference volume" in warnings[0].message
        assert raster.voxel_count > 0


def test_oblique_anisotropic_series():
    series = read_reference_series(shared_file("rt-utils/oriented_data"))
    assert series.geometry.shape == (3, 50, 100)
    np.testing.assert_allclose(series.geometry.spacing[:2], [2.5, 3.5])
    assert abs(series.geometry.direction[2, 2]) < 0.95  # truly oblique
    assert series.skipped == {"not DICOM": 1}


def test_pydicom_points_are_available():
    structure_set = read_rtstruct(shared_file("pydicom/rtstruct.dcm"))
    isocentre = structure_set.roi("Isocenter 1")
    (points,) = isocentre.points_of_type(ContourGeometricType.POINT)
    assert points.shape == (1, 3)


def test_anonymised_totalsegmentator_ct():
    """Empty SOP Class/Instance UIDs and JPEG 2000 pixels: the geometry still reads."""
    series = read_reference_series(shared_file("totalsegmentator/ct_dicom"))
    assert series.geometry.shape == (20, 512, 512)
    np.testing.assert_allclose(series.geometry.spacing, [0.9765625, 0.9765625, 2.0])


@pytest.mark.parametrize("name", ["23x38x3", "24x38x3"])
def test_enhanced_multiframe_equals_single_frame_series(name):
    """dcmqi ships one image as single-frame files and as an enhanced multi-frame file."""
    single = read_reference_series(shared_file(f"dcmqi/{name}/image"))
    multi = read_reference_series(shared_file(f"dcmqi/{name}/multiframe"))
    assert multi.geometry.shape == single.geometry.shape == (3, 38, int(name[:2]))
    assert multi.geometry.is_close(single.geometry, 1e-6)
    assert [s.frame_number for s in multi.slices] == [1, 2, 3]
    assert len({s.sop_instance_uid for s in multi.slices}) == 1

"""Layer 1: RT Structure Set reading; every malformed case names the ROI and the attribute,
and the other ROIs still read."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import axial_geometry
from dicomlabelmap.errors import InvalidDicomError
from dicomlabelmap.findings import Severity
from dicomlabelmap.rtstruct.reader import ContourGeometricType, read_rtstruct
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, make_image_series, make_rtstruct

SQUARE = [[2.5, 2.5], [8.5, 2.5], [8.5, 8.5], [2.5, 8.5]]


def _dataset(rois=None):
    geometry = axial_geometry()
    images = make_image_series(geometry)
    rois = rois or [
        SyntheticRoi("Bad", [SyntheticContour(1, SQUARE)], (10, 20, 30)),
        SyntheticRoi("Good", [SyntheticContour(2, SQUARE), SyntheticContour(3, [[4, 4]], "POINT")], (40, 50, 60)),
    ]
    return make_rtstruct(images, geometry, rois), geometry


def test_reads_rois_contours_and_metadata():
    dataset, geometry = _dataset()
    structure_set = read_rtstruct(dataset)
    good = structure_set.roi("Good")
    assert (good.number, good.color, good.interpreted_type, good.generation_algorithm) == (2, (40, 50, 60), "ORGAN", "MANUAL")
    assert good.frame_of_reference_uid == geometry.frame_of_reference_uid
    assert [c.geometric_type for c in good.contours] == [ContourGeometricType.CLOSED_PLANAR, ContourGeometricType.POINT]
    np.testing.assert_allclose(geometry.to_ijk(good.contours[0].points)[:, :2], SQUARE, atol=1e-6)
    assert len(good.points_of_type(ContourGeometricType.POINT)) == 1
    assert structure_set.roi(2) is good
    with pytest.raises(KeyError) as missing:  # a look-up that finds nothing, and our error naming the ROIs there are
        structure_set.roi("Isocenter")
    assert isinstance(missing.value, InvalidDicomError)
    assert str(missing.value) == "no ROI 'Isocenter' in the RT Structure Set; its ROIs: 1 'Bad', 2 'Good'"
    assert good.contours[0].referenced_sop_instance_uids
    assert structure_set.referenced_series_uids and structure_set.frame_of_reference_uids
    assert not structure_set.findings and not good.findings


def _only_finding(roi):
    assert len(roi.findings) == 1, roi.findings
    return roi.findings[0]


@pytest.mark.parametrize(
    ("mutate", "severity", "attribute", "match"),
    [
        (lambda c: setattr(c, "ContourData", list(c.ContourData)[:-1]), Severity.ERROR, "ContourData", "not a multiple of 3"),
        (lambda c: setattr(c, "NumberOfContourPoints", 99), Severity.WARNING, "NumberOfContourPoints", "says 99 but Contour Data holds 4"),
        (lambda c: setattr(c, "ContourData", [float("nan")] + list(c.ContourData)[1:]), Severity.ERROR, "ContourData", "NaN or infinite"),
        (lambda c: setattr(c, "ContourData", [float("inf")] + list(c.ContourData)[1:]), Severity.ERROR, "ContourData", "NaN or infinite"),
        (lambda c: setattr(c, "ContourGeometricType", "CLOSED"), Severity.ERROR, "ContourGeometricType", "not a defined term"),
        (lambda c: delattr(c, "ContourData"), Severity.ERROR, "ContourData", "missing"),
        (lambda c: setattr(c, "ContourOffsetVector", [1, 2]), Severity.ERROR, "ContourOffsetVector", "three finite numbers"),
    ],
)
def test_malformed_contour_names_roi_and_attribute(mutate, severity, attribute, match):
    dataset, _ = _dataset()
    mutate(dataset.ROIContourSequence[0].ContourSequence[0])
    structure_set = read_rtstruct(dataset)
    finding = _only_finding(structure_set.roi("Bad"))
    assert (finding.severity, finding.attribute, finding.roi_name, finding.roi_number) == (severity, attribute, "Bad", 1)
    assert finding.message.startswith("contour 1")
    assert match in finding.message
    assert structure_set.roi("Bad").has_errors == (severity is Severity.ERROR)
    assert not structure_set.roi("Good").findings and len(structure_set.roi("Good").contours) == 2


def test_unknown_referenced_roi_number_is_reported():
    dataset, _ = _dataset()
    dataset.ROIContourSequence[0].ReferencedROINumber = 77
    structure_set = read_rtstruct(dataset)
    (finding,) = structure_set.findings
    assert (
        finding.attribute == "ReferencedROINumber" and "ROI Number 77" in finding.message and "1 contour(s) are ignored" in finding.message
    )
    assert "no contours" in _only_finding(structure_set.roi("Bad")).message


def test_roi_without_contours_is_kept_with_a_warning():
    dataset, _ = _dataset([SyntheticRoi("Empty", [])])
    roi = read_rtstruct(dataset).roi("Empty")
    finding = _only_finding(roi)
    assert finding.severity is Severity.WARNING and finding.attribute == "ContourSequence" and not roi.has_errors


def test_missing_frame_of_reference_is_assumed_from_the_file():
    dataset, geometry = _dataset()
    del dataset.StructureSetROISequence[0].ReferencedFrameOfReferenceUID
    roi = read_rtstruct(dataset).roi("Bad")
    assert _only_finding(roi).attribute == "ReferencedFrameOfReferenceUID"
    assert roi.frame_of_reference_uid == geometry.frame_of_reference_uid


def test_bad_display_color_gets_default():
    dataset, _ = _dataset()
    dataset.ROIContourSequence[0].ROIDisplayColor = [300, 0, 0]
    roi = read_rtstruct(dataset).roi("Bad")
    assert roi.color is None and _only_finding(roi).attribute == "ROIDisplayColor"


def test_offset_vector_is_applied():
    dataset, geometry = _dataset()
    dataset.ROIContourSequence[0].ContourSequence[0].ContourOffsetVector = [1.0, -2.0, 0.0]
    plain = read_rtstruct(_dataset()[0]).roi("Bad").contours[0].points
    shifted = read_rtstruct(dataset).roi("Bad").contours[0]
    np.testing.assert_allclose(shifted.points - plain, np.tile([1.0, -2.0, 0.0], (4, 1)), atol=1e-6)
    assert shifted.offset_vector == (1.0, -2.0, 0.0)


def test_not_an_rtstruct(tmp_path):
    image = make_image_series(axial_geometry())[0]
    image.save_as(tmp_path / "ct.dcm", enforce_file_format=True)
    with pytest.raises(InvalidDicomError, match=r"ct\.dcm: not an RT Structure Set"):
        read_rtstruct(tmp_path / "ct.dcm")


def test_garbage_file_names_the_file(tmp_path):
    (tmp_path / "junk.dcm").write_bytes(b"\x00" * 10)
    with pytest.raises(InvalidDicomError, match=r"junk\.dcm"):
        read_rtstruct(tmp_path / "junk.dcm")


def _saved_with_patched_contour_data(tmp_path, replacement: bytes):
    """Save a structure set whose first contour's data starts with the text 111.5, then
    overwrite those bytes, as a broken writer would have."""
    dataset, _ = _dataset()
    contour = dataset.ROIContourSequence[0].ContourSequence[0]
    contour.ContourData = [111.5] + list(contour.ContourData)[1:]
    path = tmp_path / "rs.dcm"
    dataset.save_as(path, enforce_file_format=True)
    content = path.read_bytes()
    assert content.count(b"111.5") == 1
    path.write_bytes(content.replace(b"111.5", replacement))
    return path


def test_file_contour_data_parses_like_the_dataset(tmp_path):
    dataset, _ = _dataset()
    path = tmp_path / "rs.dcm"
    dataset.save_as(path, enforce_file_format=True)
    from_file, in_memory = read_rtstruct(path), read_rtstruct(dataset)
    for a, b in zip(from_file.rois, in_memory.rois, strict=True):
        for c, d in zip(a.contours, b.contours, strict=True):
            np.testing.assert_array_equal(c.points, d.points)


@pytest.mark.parametrize(
    ("replacement", "match"),
    [(b"1x1.5", "not a list of numbers"), (b"nan  ", "NaN or infinite"), (b"-inf ", "NaN or infinite")],
)
def test_broken_contour_data_in_a_file(tmp_path, replacement, match):
    structure_set = read_rtstruct(_saved_with_patched_contour_data(tmp_path, replacement))
    finding = _only_finding(structure_set.roi("Bad"))
    assert finding.severity is Severity.ERROR and finding.attribute == "ContourData" and match in finding.message
    assert not structure_set.roi("Good").findings


def test_a_value_too_long_for_its_vr_is_named_once_and_kept():
    """ROI Name longer than LO's 64 characters: one warning on that ROI naming ROIName; the
    name is used as it is; pydicom's own warning (which names no element) is not shown."""
    import warnings

    dataset, _ = _dataset()
    long_name = "N" * 70
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset.StructureSetROISequence[0].ROIName = long_name
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        structure_set = read_rtstruct(dataset)
    roi = structure_set.rois[0]
    assert roi.name == long_name
    (finding,) = [f for f in roi.findings if f.attribute == "ROIName"]
    assert finding.severity is Severity.WARNING and "exceeds the maximum length of 64" in finding.message
    assert not [w for w in shown if "exceeds" in str(w.message)]

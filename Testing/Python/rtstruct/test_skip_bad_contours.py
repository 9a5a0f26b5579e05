"""``--skip-bad-contours`` (``RasterOptions.skip_bad_contours``): contours that cannot be used
(not planar, absurd coordinates, NaN, no Contour Data, an invalid Contour Offset Vector) are left
out, each reported as a warning naming the ROI and the contour, and the ROI converts from the
rest; by default one such contour still fails its whole ROI. Exact masks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import axial_geometry
from dicomlabelmap.findings import Severity
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.rtstruct.rasterize import RasterOptions
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, make_image_series, make_rtstruct, save

GEOMETRY = axial_geometry(shape=(8, 20, 24))  # slices 2 mm apart: planarity tolerance 0.2 mm


def square(low, high):
    return np.array([[low, low], [high, low], [high, high], [low, high]], dtype=float)


def _break(item, how):
    """Spoil one Contour Sequence item the way real exports do."""
    points = [float(v) for v in item.ContourData]
    if how == "not planar":
        points[2] += 1.0  # the first point 1 mm off the plane
    elif how == "absurd":
        points[0] = 1e20
    elif how == "NaN":
        points[4] = float("nan")
    elif how == "offset":
        item.ContourOffsetVector = [1.0, 2.0]  # two values, not three
        return
    elif how == "no data":
        del item.ContourData
        return
    item.ContourData = [f"{v:.6g}" if np.isfinite(v) else "NaN" for v in points]


BROKEN = {2: "not planar", 3: "absurd", 4: "NaN", 5: "offset", 6: "no data"}  # contour number -> how


@pytest.fixture
def case(tmp_path):
    return write_case(tmp_path)


def write_case(tmp_path):
    """ROI 'Box' with one square per slice, contours 2-6 broken; ROI 'Good' intact: (RS, CT folder)."""
    images = make_image_series(GEOMETRY)
    save(images, tmp_path / "ct")
    rois = [
        SyntheticRoi("Box", [SyntheticContour(k, square(2.5, 9.5)) for k in range(8)]),
        SyntheticRoi("Good", [SyntheticContour(k, square(12.5, 16.5)) for k in (3, 4)], color=(0, 200, 0)),
    ]
    dataset = make_rtstruct(images, GEOMETRY, rois)
    for number, how in BROKEN.items():
        _break(dataset.ROIContourSequence[0].ContourSequence[number - 1], how)
    dataset.save_as(tmp_path / "RS.dcm", enforce_file_format=True)
    return tmp_path / "RS.dcm", tmp_path / "ct"


def _expected(slices, low, high):
    mask = np.zeros(GEOMETRY.shape, bool)
    first, last = int(np.ceil(low)), int(np.floor(high))
    for k in slices:
        mask[k, first : last + 1, first : last + 1] = True
    return mask


def test_by_default_one_bad_contour_fails_its_roi(case):
    conversion = rtstruct_to_labels(*case)
    box, good = conversion.rois
    assert not box.converted and good.converted
    errors = [f for f in box.findings if f.severity is Severity.ERROR]
    assert sorted(f.contour_number for f in errors) == [4, 5, 6]  # the unreadable ones: the ROI fails before it is drawn
    np.testing.assert_array_equal(good.full_mask(), _expected((3, 4), 12.5, 16.5))


def test_skip_bad_contours_keeps_the_rest_and_names_each_left_out_contour(case):
    conversion = rtstruct_to_labels(*case, options=RasterOptions(skip_bad_contours=True))
    box, good = conversion.rois
    assert box.converted and not conversion.failed_rois
    np.testing.assert_array_equal(box.full_mask(), _expected((0, 6, 7), 2.5, 9.5))  # slices 1-5 held the broken contours
    np.testing.assert_array_equal(good.full_mask(), _expected((3, 4), 12.5, 16.5))
    left_out = [f for f in box.findings if f.contour_number is not None]
    assert sorted(f.contour_number for f in left_out) == sorted(BROKEN)  # each named once
    assert all(f.severity is Severity.WARNING and f.message.endswith("the contour is left out (--skip-bad-contours)") for f in left_out)
    reasons = {f.contour_number: f.message for f in left_out}
    assert reasons[2].startswith("contour 2 is not planar: its points spread 1.00 mm along the slice normal")
    assert reasons[3].startswith("contour 3 holds a coordinate of 1e+20 mm")
    assert reasons[4] == "contour 4: Contour Data holds NaN or infinite values; the contour is left out (--skip-bad-contours)"
    assert reasons[5].startswith("contour 5: Contour Offset Vector")
    assert reasons[6] == "contour 6: Contour Data is missing; the contour is left out (--skip-bad-contours)"
    assert all(f.roi_name == "Box" for f in left_out) and not [f for f in box.findings if f.severity is Severity.ERROR]
    row = next(r for r in conversion.to_dict()["rois"] if r["name"] == "Box")
    assert sorted(f["contour_number"] for f in row["findings"] if f["contour_number"]) == sorted(BROKEN)


def test_a_contour_with_a_bad_offset_is_never_drawn_unshifted(case):
    """Contour 5's offset cannot be read: leaving it out is the only safe use (drawn without its
    offset, it would sit elsewhere)."""
    conversion = rtstruct_to_labels(*case, options=RasterOptions(skip_bad_contours=True))
    assert not conversion.rois[0].full_mask()[4].any()


def test_the_command_line_option(case, tmp_path, capsys):
    from dicomlabelmap.cli.main import main
    from dicomlabelmap.files.labelfiles import read_label_file

    rs, ct = case
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "a.seg.nrrd")]) == 3  # Box failed
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "b.seg.nrrd"), "--skip-bad-contours"]) == 0
    report = capsys.readouterr().out
    assert report.count("the contour is left out (--skip-bad-contours)") == len(BROKEN)
    (layer,) = read_label_file(tmp_path / "b.seg.nrrd")
    np.testing.assert_array_equal(layer.array == 1, _expected((0, 6, 7), 2.5, 9.5))
    np.testing.assert_array_equal(layer.array == 2, _expected((3, 4), 12.5, 16.5))

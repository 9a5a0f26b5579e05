"""Layer 1: the whole RT Structure Set flow: choosing the reference, progress, cancelling,
and converting onto a different series of the same Frame of Reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dicomlabelmap import OperationCancelled, ReferenceSeriesError, rtstruct_to_labels
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, make_image_series, make_rtstruct, save

FRAME = "1.2.826.0.1.3680043.8.498.77"
FULL = ImageGeometry((10, 16, 16), [0.0, 0.0, 0.0], [1.0, 1.0, 2.0], np.eye(3), FRAME)


def square(low, high):
    return [[low, low], [high, low], [high, high], [low, high]]


def _case(tmp_path):
    """A full CT, its structure set (contours on slices 1..8), and a cropped re-export of the
    CT (slices 3..6, same Frame of Reference, new UIDs)."""
    full = make_image_series(FULL, series_description="full")
    cropped_geometry = ImageGeometry((4, 16, 16), FULL.to_lps([[0, 0, 3]])[0], [1.0, 1.0, 2.0], np.eye(3), FRAME)
    cropped = make_image_series(cropped_geometry, series_description="cropped", study_instance_uid=full[0].StudyInstanceUID)
    save(full, tmp_path / "ct" / "full")
    save(cropped, tmp_path / "ct" / "cropped")
    rtstruct = make_rtstruct(full, FULL, [SyntheticRoi("Box", [SyntheticContour(k, square(3.5, 9.5)) for k in range(1, 9)])])
    path = tmp_path / "rs.dcm"
    rtstruct.save_as(path, enforce_file_format=True)
    return path, full, cropped


def test_prefers_the_referenced_series(tmp_path):
    path, full, _ = _case(tmp_path)
    conversion = rtstruct_to_labels(path, tmp_path / "ct")
    assert conversion.reference.series_instance_uid == full[0].SeriesInstanceUID
    assert conversion.rois[0].voxel_count == 8 * 36 and not conversion.findings


def test_onto_a_cropped_re_export_of_the_same_frame(tmp_path):
    """Contour Image Sequence names the full series; geometry places each contour on the
    cropped grid, and the contours beyond it are reported, not dropped silently."""
    path, _, cropped = _case(tmp_path)
    conversion = rtstruct_to_labels(path, tmp_path / "ct", series_instance_uid=cropped[0].SeriesInstanceUID)
    assert conversion.reference.geometry.shape == (4, 16, 16)
    mask = conversion.rois[0].full_mask()
    assert [int(mask[k].sum()) for k in range(4)] == [36, 36, 36, 36]
    outside = [f for f in conversion.findings if "outside the reference volume" in f.message]
    # one condensed finding standing for the contours on full slices 1, 2, 7 and 8
    assert len(outside) == 1 and outside[0].count == 4 and outside[0].kind == "outside_volume"


def test_ambiguous_reference_is_refused_with_a_list(tmp_path):
    path, full, cropped = _case(tmp_path)
    rtstruct = make_rtstruct(full, FULL, [SyntheticRoi("Box", [SyntheticContour(2, square(3.5, 9.5))])], image_references=False)
    del rtstruct.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence
    rtstruct.save_as(tmp_path / "plain.dcm", enforce_file_format=True)
    with pytest.raises(ReferenceSeriesError, match="several image series found") as error:
        rtstruct_to_labels(tmp_path / "plain.dcm", tmp_path / "ct")
    assert full[0].SeriesInstanceUID in str(error.value) and cropped[0].SeriesInstanceUID in str(error.value)


def test_progress_runs_from_zero_to_one_and_cancel_stops(tmp_path):
    path, _, _ = _case(tmp_path)
    seen = []
    rtstruct_to_labels(path, tmp_path / "ct", progress=lambda fraction, message: seen.append(fraction))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)

    def cancel(fraction, message):
        if fraction > 0.5:
            raise OperationCancelled("cancelled by the user")

    with pytest.raises(OperationCancelled):
        rtstruct_to_labels(path, tmp_path / "ct", progress=cancel)


def test_report_is_plain_json(tmp_path):
    path, _, _ = _case(tmp_path)
    data = json.loads(json.dumps(rtstruct_to_labels(path, tmp_path / "ct").to_dict()))
    (row,) = data["rois"]
    assert (row["name"], row["segment_number"], row["layer"], row["planes"], row["volume_ml"]) == ("Box", 1, 1, 8, 0.576)
    assert data["reference"]["shape"] == [10, 16, 16]

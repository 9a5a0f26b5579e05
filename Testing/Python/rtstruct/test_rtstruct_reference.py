"""Odd references: a structure set that references nothing (an OpenTPS export, Modality RTDOSE)
is put on the only series given, with a warning naming it, and only when its contours lie on
that series' slices; several series or contours off the grid are refused with the real reason.
Reconstructions sharing one Series Instance UID are told apart by the structure set's Contour
Image Sequence (said in a warning), and refused when nothing tells them apart."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dicomlabelmap.cli.common import EXIT_OK
from dicomlabelmap.cli.main import main
from dicomlabelmap.errors import ReferenceSeriesError
from dicomlabelmap.findings import Severity
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.rtstruct.reader import read_rtstruct
from dicomlabelmap.rtstruct.reference import contour_off_grid
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, circle, demo_geometry, demo_rois, make_image_series, make_rtstruct, save
from pydicom.uid import generate_uid


def _unreferenced(rtstruct):
    """What an OpenTPS export looks like: no Frame of Reference, series or image referenced,
    Modality RTDOSE, its own Study Instance UID."""
    del rtstruct.ReferencedFrameOfReferenceSequence
    for item in rtstruct.StructureSetROISequence:
        del item.ReferencedFrameOfReferenceUID
    for roi in rtstruct.ROIContourSequence:
        for contour in roi.ContourSequence:
            if "ContourImageSequence" in contour:
                del contour.ContourImageSequence
    rtstruct.Modality = "RTDOSE"
    rtstruct.StudyInstanceUID = generate_uid()
    return rtstruct


@pytest.fixture
def unreferenced(tmp_path):
    geometry = demo_geometry()
    images = make_image_series(geometry, series_description="CT")
    save(images, tmp_path / "in" / "ct", "CT")
    original = make_rtstruct(images, geometry, demo_rois())
    original.save_as(tmp_path / "RS_original.dcm", enforce_file_format=True)
    path = tmp_path / "in" / "RS_opentps.dcm"
    _unreferenced(make_rtstruct(images, geometry, demo_rois())).save_as(path, enforce_file_format=True)
    return tmp_path / "in" / "ct", path, tmp_path / "RS_original.dcm", images


def test_the_reader_warns_about_a_wrong_modality_and_sees_no_references(unreferenced):
    _, path, original, _ = unreferenced
    structure_set = read_rtstruct(path)
    (modality,) = [f for f in structure_set.findings if f.attribute == "Modality"]
    assert modality.message.startswith("Modality is 'RTDOSE' where an RT Structure Set has RTSTRUCT")
    assert structure_set.references_nothing() and not read_rtstruct(original).references_nothing()


def test_the_only_series_is_assumed_with_a_warning_when_the_contours_lie_on_it(unreferenced):
    ct, path, original, images = unreferenced
    conversion = rtstruct_to_labels(path, ct)
    expected = rtstruct_to_labels(original, ct)
    assert conversion.reference.series_instance_uid == images[0].SeriesInstanceUID
    for mine, theirs in zip(conversion.label_volumes, expected.label_volumes, strict=True):
        np.testing.assert_array_equal(mine.array, theirs.array)
    (assumed,) = [f for f in conversion.findings if f.attribute == "ReferencedFrameOfReferenceSequence"]
    assert assumed.severity is Severity.WARNING
    assert assumed.message == (
        "the structure set references no Frame of Reference, series or image; the only image series given, "
        f"{images[0].SeriesInstanceUID} (CT, 'CT', 12 image(s)), is assumed, since every contour lies on its slices and inside its images"
    )


def test_with_several_series_it_is_refused_with_the_reason(unreferenced, tmp_path):
    ct, path, _, _ = unreferenced
    save(make_image_series(demo_geometry(), series_description="other"), tmp_path / "in" / "other", "CT")
    with pytest.raises(
        ReferenceSeriesError, match=r"RS_opentps\.dcm references no Frame of Reference, series or image; give its series with -r"
    ):
        rtstruct_to_labels(path, tmp_path / "in")
    assert rtstruct_to_labels(path, ct).reference.series_description == "CT"  # given on its own: assumed


def test_contours_off_the_only_series_are_refused(unreferenced, tmp_path):
    _, path, _, _ = unreferenced
    geometry = demo_geometry()
    shifted = ImageGeometry(geometry.shape, geometry.origin + [0, 0, 1.5], geometry.spacing, geometry.direction, generate_uid())
    save(make_image_series(shifted), tmp_path / "shifted", "CT")  # half a slice off every contour
    with pytest.raises(
        ReferenceSeriesError, match=r"its contours do not lie on the only image series given, .*0\.50 slice spacings off a slice"
    ):
        rtstruct_to_labels(path, tmp_path / "shifted")
    structure_set = read_rtstruct(path)
    assert contour_off_grid(structure_set, geometry) is None
    small = ImageGeometry((12, 40, 40), geometry.origin, geometry.spacing, geometry.direction)
    assert "outside its images" in contour_off_grid(structure_set, small)


def test_batch_finds_the_only_series_beside_it(unreferenced, tmp_path, capsys):
    _, path, _, _ = unreferenced
    assert main(["batch", str(path.parent), str(tmp_path / "out"), "--format", "seg.nrrd", "-j", "1", "--json"]) == EXIT_OK
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["status"] == "ok"
    warnings = " ".join(result["warnings"])
    assert "Modality is 'RTDOSE'" in warnings and "the only image series given" in warnings and "is assumed" in warnings


# -- reconstructions sharing one Series Instance UID ----------------------------------------------------
def _reconstructions(folder, references=True):
    """1, 2 and 3 mm reconstructions of one scan under one Series Instance UID; the structure set
    is drawn on the 30 images of the 3 mm set."""
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    sets = {}
    for spacing, count in ((1.0, 90), (2.0, 45), (3.0, 30)):
        geometry = ImageGeometry((count, 24, 24), [-12.0, -12.0, 0.0], [1.0, 1.0, spacing], np.eye(3), frame)
        images = make_image_series(geometry, study_instance_uid=study, series_instance_uid=series)
        save(images, folder / f"{spacing:g}mm", "CT")
        sets[spacing] = (geometry, images)
    geometry, images = sets[3.0]
    rois = [SyntheticRoi("Tumour", [SyntheticContour(k, circle(12, 12, 6)) for k in range(10, 20)])]
    rtstruct = make_rtstruct(images, geometry, rois, image_references=references)
    if not references:
        del rtstruct.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0].ContourImageSequence
    path = folder / "RS.dcm"
    rtstruct.save_as(path, enforce_file_format=True)
    return path, sets


def test_the_contour_image_sequence_picks_the_reconstruction(tmp_path):
    path, sets = _reconstructions(tmp_path / "ct")
    conversion = rtstruct_to_labels(path, tmp_path / "ct")
    geometry, images = sets[3.0]
    assert conversion.reference.geometry.is_close(geometry, 1e-6)
    assert conversion.reference.sop_instance_uids() == {image.SOPInstanceUID for image in images}
    (said,) = [f for f in conversion.findings if f.attribute == "ContourImageSequence" and "image sets" in f.message]
    assert said.message.startswith(f"series {images[0].SeriesInstanceUID} holds several image sets (165 images that are not one grid: ")
    assert said.message.endswith(
        "the 30 images of the set whose 30 images the structure set's Contour Image Sequence names are used, the other 135 are left out"
    )
    expected = rtstruct_to_labels(path, tmp_path / "ct" / "3mm")
    np.testing.assert_array_equal(conversion.label_volumes[0].array, expected.label_volumes[0].array)
    assert int(np.count_nonzero(expected.label_volumes[0].array)) > 0


def test_reconstructions_nothing_tells_apart_are_refused(tmp_path):
    path, sets = _reconstructions(tmp_path / "ct", references=False)
    assert read_rtstruct(path).referenced_sop_instance_uids() == set() and read_rtstruct(path).series_image_uids == set()
    with pytest.raises(ReferenceSeriesError, match=r"holds two image sets|two slices at the same position"):
        rtstruct_to_labels(path, tmp_path / "ct")


def test_references_into_two_reconstructions_do_not_pick_one(tmp_path):
    import pydicom

    path, sets = _reconstructions(tmp_path / "ct")
    dataset = pydicom.dcmread(path)
    series = dataset.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    stray = pydicom.Dataset()
    stray.ReferencedSOPClassUID = sets[1.0][1][0].SOPClassUID
    stray.ReferencedSOPInstanceUID = sets[1.0][1][0].SOPInstanceUID
    series.ContourImageSequence.append(stray)
    dataset.save_as(path)
    with pytest.raises(ReferenceSeriesError, match=r"holds two image sets|two slices at the same position"):
        rtstruct_to_labels(path, tmp_path / "ct")

"""One image file's frames as the reference series reads them: position, orientation, pixel
spacing (row spacing first, as DICOM stores it) and thickness of single-frame and enhanced
multi-frame images; what is refused and why; and the folder walk that follows symbolic links
without looping."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import axial_geometry
from dicomlabelmap.dicom.slices import frames_of, non_image_reason, walk_files
from dicomlabelmap.errors import GeometryError, InvalidDicomError
from dicomlabelmap.synthetic import CT_IMAGE_STORAGE, make_image_series
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

GEOMETRY = axial_geometry(shape=(4, 20, 24), spacing=(0.5, 0.75, 2.0), origin=(-10.0, -12.0, 30.0))


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_walk_files_sorted_following_links_once(tmp_path):
    for relative in ("b/2.dcm", "a/1.dcm", "a/deep/3.dcm", "top.txt"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")
    os.symlink(tmp_path, tmp_path / "a" / "deep" / "loop")  # a loop back to the top
    os.symlink(tmp_path / "missing", tmp_path / "broken")  # a dangling link is no file
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "linked.dcm").write_text("x")
    os.symlink(outside, tmp_path / "z-link")  # a linked folder elsewhere is followed
    found = [p.relative_to(tmp_path).as_posix() for p in walk_files(tmp_path)]
    assert found == ["a/1.dcm", "a/deep/3.dcm", "b/2.dcm", "top.txt", "z-link/linked.dcm"]


def test_walk_files_of_an_empty_or_missing_folder(tmp_path):
    assert walk_files(tmp_path) == []
    assert walk_files(tmp_path / "absent") == []


def test_single_frame_image():
    dataset = make_image_series(GEOMETRY)[2]
    (frame,) = frames_of(Path("CT3.dcm"), dataset)
    assert frame.frame_number is None and frame.path == Path("CT3.dcm") and frame.dataset is dataset
    assert (frame.rows, frame.columns) == (20, 24)
    assert (frame.sop_class_uid, frame.sop_instance_uid) == (CT_IMAGE_STORAGE, dataset.SOPInstanceUID)
    np.testing.assert_array_equal(frame.position, [-10.0, -12.0, 34.0])
    np.testing.assert_array_equal(frame.orientation, [1, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(frame.pixel_spacing, [0.75, 0.5])  # row spacing, column spacing
    assert (frame.thickness, frame.spacing_between_slices) == (2.0, None)


def test_enhanced_multiframe_image_reads_every_frame():
    """Frames are stored in reverse slice order; orientation and spacing come from the shared groups."""
    (dataset,) = make_image_series(GEOMETRY, multiframe=True)
    frames = frames_of(Path("enhanced.dcm"), dataset)
    assert [f.frame_number for f in frames] == [1, 2, 3, 4]
    assert [f.position[2] for f in frames] == [36.0, 34.0, 32.0, 30.0]
    assert all(np.array_equal(f.pixel_spacing, [0.75, 0.5]) and f.thickness == 2.0 for f in frames)


def test_per_frame_groups_win_over_shared():
    (dataset,) = make_image_series(GEOMETRY, multiframe=True)
    measures = Dataset()
    measures.PixelSpacing = [0.8, 0.6]
    measures.SpacingBetweenSlices = 2.5
    dataset.PerFrameFunctionalGroupsSequence[1].PixelMeasuresSequence = [measures]
    frames = frames_of(Path("enhanced.dcm"), dataset)
    np.testing.assert_array_equal(frames[1].pixel_spacing, [0.8, 0.6])
    assert (frames[1].thickness, frames[1].spacing_between_slices) == (None, 2.5)
    np.testing.assert_array_equal(frames[0].pixel_spacing, [0.75, 0.5])


def text_pixel_spacing(dataset: Dataset) -> None:
    """Pixel Spacing as a file may hold it (pydicom refuses to assign such a value)."""
    dataset[0x00280030] = RawDataElement(Tag(0x00280030), "DS", 4, b"a\\1 ", 0, False, True)


def broken(change):
    dataset = make_image_series(GEOMETRY)[0]
    change(dataset)
    return dataset


@pytest.mark.parametrize(
    "dataset, match, attribute",
    [
        (broken(lambda d: setattr(d, "Rows", 0)), "Rows and Columns must be positive", "Rows"),
        (broken(lambda d: delattr(d, "PixelSpacing")), "PixelSpacing is missing", "PixelSpacing"),
        (
            broken(lambda d: setattr(d, "ImagePositionPatient", [1, 2])),
            r"ImagePositionPatient must hold 3 finite numbers",
            "ImagePositionPatient",
        ),
        (
            broken(lambda d: setattr(d, "PixelSpacing", [float("nan"), 1.0])),
            r"PixelSpacing must hold 2 finite numbers, got \[nan, 1\.0\]",
            "PixelSpacing",
        ),
        (broken(text_pixel_spacing), r"PixelSpacing is not numeric \(could not convert string to float: 'a'\)", "PixelSpacing"),
    ],
    ids=["no-rows", "no-spacing", "two-coordinates", "nan-spacing", "text-spacing"],
)
def test_refused_geometry(dataset, match, attribute):
    with pytest.raises(InvalidDicomError, match=match) as error:
        frames_of(Path("bad.dcm"), dataset)
    assert error.value.attribute == attribute and error.value.path == Path("bad.dcm")


def test_parallel_orientation_axes_are_a_geometry_error():
    dataset = broken(lambda d: setattr(d, "ImageOrientationPatient", [1, 0, 0, 1, 0, 0]))
    with pytest.raises(GeometryError, match=r"direction cosines are not unit length and orthogonal \(deviation 1\)"):
        frames_of(Path("bad.dcm"), dataset)


def test_multiframe_without_position_is_refused():
    (dataset,) = make_image_series(GEOMETRY, multiframe=True)
    del dataset.PerFrameFunctionalGroupsSequence[2].PlanePositionSequence
    with pytest.raises(InvalidDicomError, match="PlanePositionSequence is missing from both per-frame and shared functional groups"):
        frames_of(Path("enhanced.dcm"), dataset)


def test_non_image_reason():
    rtstruct, report, image = Dataset(), Dataset(), make_image_series(GEOMETRY)[0]
    rtstruct.SOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    rtstruct.Rows = 1  # even with image attributes
    report.SOPClassUID, report.Modality = "1.2.3.4", "KO"
    assert non_image_reason(rtstruct) == "not an image (RT Structure Set)"
    assert non_image_reason(report) == "no image geometry (KO)"
    assert non_image_reason(Dataset()) == "no image geometry (unknown modality)"
    assert non_image_reason(image) is None

"""Layer 1: reference series reading on synthetic DICOM files."""

from __future__ import annotations

import random

import numpy as np
import pytest
from conftest import axial_geometry
from dicomlabelmap.dicom.scan import read_reference_series, scan_series
from dicomlabelmap.errors import ReferenceSeriesError
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, make_image_series, make_rtstruct, save
from rotations import CORONAL, SAGITTAL, rotation

DIRECTIONS = {"axial": np.eye(3), "sagittal": SAGITTAL, "coronal": CORONAL, "oblique": rotation((0.3, 1, 0.2), 35)}


def _write_shuffled(images, folder):
    """Save with file names in random order, so neither name nor Instance Number gives the order."""
    order = list(range(len(images)))
    random.Random(4).shuffle(order)
    return save([images[i] for i in order], folder, "X")


@pytest.mark.parametrize("name", DIRECTIONS)
@pytest.mark.parametrize("multiframe", [False, True])
def test_series_geometry_is_rebuilt_exactly(tmp_path, name, multiframe):
    """Sorted along the normal, anisotropic pixels, any orientation, single- and multi-frame."""
    geometry = ImageGeometry((5, 6, 7), [12.5, -40.25, 100.0], [0.6, 0.9, 2.5], DIRECTIONS[name], "1.2.3")
    images = make_image_series(geometry, multiframe=multiframe)
    _write_shuffled(images, tmp_path)
    series = read_reference_series(tmp_path)
    assert series.geometry.shape == geometry.shape
    assert series.geometry.is_close(geometry, 1e-6)
    assert series.frame_of_reference_uid == "1.2.3"
    distances = [np.dot(s.position, geometry.slice_normal) for s in series.slices]
    assert distances == sorted(distances)
    if multiframe:
        # Frames are stored in reverse slice order by the synthetic writer.
        assert [s.frame_number for s in series.slices] == [5, 4, 3, 2, 1]
        assert len({s.sop_instance_uid for s in series.slices}) == 1
    else:
        assert all(s.frame_number is None for s in series.slices)
        assert len({s.sop_instance_uid for s in series.slices}) == 5


def test_copies_patient_and_study_attributes(tmp_path):
    images = make_image_series(axial_geometry())
    save(images, tmp_path)
    series = read_reference_series(tmp_path)
    assert series.attributes.PatientID == images[0].PatientID
    assert series.attributes.StudyInstanceUID == images[0].StudyInstanceUID
    assert series.attributes.FrameOfReferenceUID == images[0].FrameOfReferenceUID
    assert "PixelData" not in series.attributes
    assert series.slice_index(images[2].SOPInstanceUID) == 2


def test_skips_and_counts_non_images(tmp_path):
    geometry = axial_geometry()
    images = make_image_series(geometry)
    save(images, tmp_path / "ct")
    rtstruct = make_rtstruct(images, geometry, [SyntheticRoi("A", [SyntheticContour(1, [[2, 2], [5, 2], [5, 5]])])])
    rtstruct.save_as(tmp_path / "rs.dcm", enforce_file_format=True)
    (tmp_path / "notes.txt").write_text("not DICOM")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "empty.bin").write_bytes(b"")
    series = read_reference_series(tmp_path)
    assert series.geometry.shape == geometry.shape
    assert series.skipped == {"not DICOM": 2, "not an image (RT Structure Set)": 1}


def test_several_series_are_listed_then_chosen(tmp_path):
    first = make_image_series(axial_geometry(), series_description="first")
    second = make_image_series(axial_geometry(shape=(3, 20, 24)), series_description="second")
    save(first, tmp_path / "a")
    save(second, tmp_path / "b")
    with pytest.raises(ReferenceSeriesError, match="several image series") as error:
        read_reference_series(tmp_path)
    assert first[0].SeriesInstanceUID in str(error.value) and second[0].SeriesInstanceUID in str(error.value)
    chosen = read_reference_series(tmp_path, series_instance_uid=second[0].SeriesInstanceUID)
    assert chosen.geometry.shape == (3, 20, 24)
    assert scan_series(tmp_path).select(preferred_series_uids=[first[0].SeriesInstanceUID]).series_description == "first"
    with pytest.raises(ReferenceSeriesError, match="not found; available"):
        read_reference_series(tmp_path, series_instance_uid="9.9.9")


def test_missing_slice_names_the_gap_and_files(tmp_path):
    paths = save(make_image_series(axial_geometry(shape=(6, 8, 8))), tmp_path)
    paths[2].unlink()  # slice 2 of 0..5: the gap opens between the files of slices 1 and 3
    with pytest.raises(
        ReferenceSeriesError, match=r"1 slice\(s\) missing .*: 4\.000 mm between .*IMG0002\.dcm and .*IMG0004\.dcm .*--allow-missing-slices"
    ):
        read_reference_series(tmp_path)


def test_missing_slices_allowed_keep_the_regular_grid(tmp_path, caplog):
    geometry = axial_geometry(shape=(6, 8, 8))
    paths = save(make_image_series(geometry), tmp_path)
    paths[2].unlink()
    paths[3].unlink()
    with caplog.at_level("INFO", logger="dicomlabelmap"):
        series = read_reference_series(tmp_path, allow_missing_slices=True)
    assert series.geometry.is_close(geometry) and series.geometry.shape == (6, 8, 8)
    assert series.missing_slices == [2, 3]
    # reported as a finding of the series (every command prints it), and counted in the -v log
    assert [str(f.message) for f in series.findings] == [
        "the reference series has no image at slice(s) 2-3 (counted from 0) of its regular grid; "
        "those positions are kept without an image (--allow-missing-slices)"
    ]
    assert any("6 slice(s) (2 without an image)" in record.getMessage() for record in caplog.records)
    assert [s.path.name for k, s in enumerate(series.slices) if k not in (2, 3)] == [
        "IMG0001.dcm",
        "IMG0002.dcm",
        "IMG0005.dcm",
        "IMG0006.dcm",
    ]


def test_slowly_drifting_spacing_is_refused_against_the_fitted_grid(tmp_path):
    # Each gap within 1% of the median, but the positions drift a whole slice over 300 slices.
    geometry = axial_geometry(shape=(300, 4, 4), spacing=(1.0, 1.0, 1.0))
    images = make_image_series(geometry)
    gaps = 1.0 + np.linspace(-0.0099, 0.0099, 299)
    z = np.concatenate([[0.0], np.cumsum(gaps)]) + 30.0
    for image, position in zip(images, z, strict=True):
        x, y, _ = (float(v) for v in image.ImagePositionPatient)
        image.ImagePositionPatient = [x, y, f"{position:.6f}"]
    assert np.all(np.abs(np.diff(z) - np.median(np.diff(z))) <= 0.01 * np.median(np.diff(z)))
    save(images, tmp_path)
    with pytest.raises(ReferenceSeriesError, match=r"not on a uniform grid: .* from the grid of .* fitted to all 300 slices"):
        read_reference_series(tmp_path)


def test_uniform_series_with_rounded_positions_is_accepted(tmp_path):
    geometry = axial_geometry(shape=(40, 4, 4), spacing=(1.0, 1.0, 0.625))
    images = make_image_series(geometry)
    for image in images:
        x, y, z = (float(v) for v in image.ImagePositionPatient)
        image.ImagePositionPatient = [x, y, f"{z:.2f}"]  # 0.005 mm rounding, as many scanners write
    save(images, tmp_path)
    assert read_reference_series(tmp_path).geometry.shape == (40, 4, 4)


def test_two_reconstructions_under_one_series_uid_are_refused(tmp_path):
    geometry = axial_geometry(shape=(5, 8, 8), spacing=(1.0, 1.0, 3.0))
    first = make_image_series(geometry)
    second = make_image_series(geometry)
    for image in second:
        x, y, z = (float(v) for v in image.ImagePositionPatient)
        image.ImagePositionPatient = [x, y, z + 1.5]
        image.SeriesInstanceUID = first[0].SeriesInstanceUID
        image.StudyInstanceUID = first[0].StudyInstanceUID
        image.FrameOfReferenceUID = first[0].FrameOfReferenceUID
    save(first, tmp_path / "a")
    save(second, tmp_path / "b")
    with pytest.raises(
        ReferenceSeriesError,
        match=r"holds two image sets .*Instance Number 1 is used by .*a/IMG000\d\.dcm at 4\d\.000 mm "
        r"and by .*b/IMG000\d\.dcm at 4\d\.500 mm",
    ):
        read_reference_series(tmp_path)


@pytest.mark.parametrize("how", ["numbered on", "acquisition number"])
def test_two_reconstructions_numbered_apart_are_refused(tmp_path, how):
    # A second set 1.5 mm off on 3 mm slices interleaves into a uniform 1.5 mm grid: only its
    # Instance Numbers (or an alternating attribute) tell the two sets apart.
    geometry = axial_geometry(shape=(5, 8, 8), spacing=(1.0, 1.0, 3.0))
    first, second = make_image_series(geometry), make_image_series(geometry)
    for image in second:
        x, y, z = (float(v) for v in image.ImagePositionPatient)
        image.ImagePositionPatient = [x, y, z + 1.5]
        for keyword in ("SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"):
            setattr(image, keyword, getattr(first[0], keyword))
        image.InstanceNumber = int(image.InstanceNumber) + 5
    if how == "acquisition number":
        # One numbering along the normal over both sets; only the acquisition alternates.
        for image in first + second:
            z = float(image.ImagePositionPatient[2])
            image.InstanceNumber = int(round((z - 30.0) / 1.5)) + 1
            image.AcquisitionNumber = 1 if image in first else 2
    save(first, tmp_path / "a")
    save(second, tmp_path / "b")
    match = "Instance Numbers alternate" if how == "numbered on" else "AcquisitionNumber alternates"
    with pytest.raises(ReferenceSeriesError, match=f"two interleaved image sets.*{match}"):
        read_reference_series(tmp_path)


def test_skipped_file_is_named_with_the_missing_attribute(tmp_path):
    images = make_image_series(axial_geometry(shape=(4, 8, 8)))
    del images[1].PixelSpacing
    save(images, tmp_path)
    scan = scan_series(tmp_path)
    assert scan.skipped == {"invalid image geometry (PixelSpacing)": 1}
    ((path, reason, _),) = scan.skipped_files
    assert path.endswith("IMG0002.dcm") and reason == "invalid image geometry: PixelSpacing is missing"
    with pytest.raises(
        ReferenceSeriesError,
        match=r"missing from the series.*1 file\(s\) of this series were skipped: "
        r".*IMG0002\.dcm: invalid image geometry: PixelSpacing is missing",
    ):
        scan.select()


def test_duplicate_position_is_refused(tmp_path):
    images = make_image_series(axial_geometry(shape=(3, 8, 8)))
    images[1].ImagePositionPatient = images[0].ImagePositionPatient
    save(images, tmp_path)
    with pytest.raises(ReferenceSeriesError, match="two slices at the same position"):
        read_reference_series(tmp_path)


@pytest.mark.parametrize(
    ("keyword", "value", "match"),
    [
        ("ImageOrientationPatient", [0, 1, 0, 0, 0, -1], "Image Orientation .* differs"),
        ("PixelSpacing", [1.5, 1.0], "Pixel Spacing differs"),
        ("Rows", 9, "image size differs"),
        ("FrameOfReferenceUID", "1.2.9", "Frame of Reference UID differs"),
    ],
)
def test_inconsistent_series_is_refused(tmp_path, keyword, value, match):
    images = make_image_series(axial_geometry(shape=(3, 8, 8)))
    setattr(images[1], keyword, value)
    save(images, tmp_path)
    with pytest.raises(ReferenceSeriesError, match=match):
        read_reference_series(tmp_path)


def test_gantry_tilt_is_refused(tmp_path):
    images = make_image_series(axial_geometry(shape=(3, 8, 8)))
    for k, image in enumerate(images):
        x, y, z = (float(v) for v in image.ImagePositionPatient)
        image.ImagePositionPatient = [x, y + 0.5 * k, z]
    save(images, tmp_path)
    with pytest.raises(ReferenceSeriesError, match="not stacked along their normal"):
        read_reference_series(tmp_path)


def test_single_slice_takes_slice_thickness(tmp_path):
    images = make_image_series(axial_geometry(shape=(1, 8, 8), spacing=(1, 1, 2.5)))
    save(images, tmp_path)
    assert read_reference_series(tmp_path).geometry.spacing[2] == pytest.approx(2.5)


def test_file_without_preamble_is_read(tmp_path):
    images = make_image_series(axial_geometry(shape=(2, 8, 8)))
    for index, image in enumerate(images):
        del image.file_meta
        image.preamble = None
        image.save_as(tmp_path / f"raw{index}", implicit_vr=True, little_endian=True)
    assert not (tmp_path / "raw0").read_bytes()[128:132] == b"DICM"
    assert read_reference_series(tmp_path).geometry.shape == (2, 8, 8)


def test_no_images_found(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ReferenceSeriesError, match="no image series found.*1 not DICOM"):
        read_reference_series(tmp_path)
    with pytest.raises(ReferenceSeriesError, match="no such file or folder"):
        read_reference_series(tmp_path / "missing")

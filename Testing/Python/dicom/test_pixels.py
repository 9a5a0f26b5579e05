"""The reference series' image (issue 21): pydicom's rescaled pixel arrays voxel for voxel, placed
on the grid by geometry (oblique, reversed slices, enhanced multi-frame), the integer or float32
type rule, compressed pixel data through pydicom's handlers, a missing handler named, missing
slices filled and reported."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from conftest import shared_file
from dicomlabelmap.dicom.pixels import read_series_image
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.errors import InvalidDicomError, ReferenceSeriesError
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.synthetic import make_image_series, save
from pydicom.pixels import apply_modality_lut
from pydicom.uid import JPEG2000Lossless, JPEGLosslessSV1, JPEGLSLossless, RLELossless
from rotations import rotation

SHAPE = (6, 20, 24)


def random_pixels(seed: int = 0, low: int = -1000, high: int = 3000, shape=SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, size=shape).astype(np.int16)


def write_series(folder, geometry=None, pixels=None, **changes) -> list:
    """A CT series (Rescale Intercept -1024, slope 1 unless ``changes`` say otherwise)."""
    geometry = geometry or ImageGeometry(SHAPE, [-12.0, -10.0, 30.0], [1.0, 1.0, 2.0], np.eye(3), pydicom.uid.generate_uid())
    images = make_image_series(geometry, pixels=random_pixels(shape=geometry.shape) if pixels is None else pixels)
    for image in images:
        for keyword, value in changes.items():
            setattr(image, keyword, value)
    save(images, folder)
    return images


def expected_by_position(reference) -> np.ndarray:
    """pydicom's own rescaled pixel arrays, each file put at the slice its position gives."""
    normal = reference.geometry.slice_normal
    first = reference.geometry.origin @ normal
    result = {}
    for path in {s.path for s in reference.slices}:
        dataset = pydicom.dcmread(path)
        k = int(round((np.asarray(dataset.ImagePositionPatient, dtype=float) @ normal - first) / reference.geometry.spacing[2]))
        result[k] = apply_modality_lut(dataset.pixel_array, dataset)
    return np.stack([result[k] for k in range(reference.geometry.shape[0])])


def test_ct_values_in_int16_equal_pydicom(tmp_path):
    write_series(tmp_path)
    reference = read_reference_series(tmp_path)
    image = read_series_image(reference)
    assert image.array.dtype == np.int16 and image.geometry is reference.geometry
    np.testing.assert_array_equal(image.array, expected_by_position(reference))
    np.testing.assert_array_equal(image.array, random_pixels() - 1024)  # the synthetic series' own truth
    assert image.filled_slices == [] and image.findings == []


@pytest.mark.parametrize(
    ("slope", "intercept", "pixel_representation", "low", "high", "dtype"),
    [
        (1, 0, 0, 0, 60000, np.uint16),  # unsigned values beyond int16
        (1, -1024, 0, 0, 60000, np.int32),  # -1024 .. 58976: neither int16 nor uint16 holds them
        (2, -2048, 1, -1000, 3000, np.int16),  # whole slope and intercept: integers
        (0.5, -1024.25, 1, -1000, 3000, np.float32),  # fractional: float32 of pydicom's float64
    ],
)
def test_the_smallest_type_that_holds_the_values(tmp_path, slope, intercept, pixel_representation, low, high, dtype):
    stored = np.random.default_rng(1).integers(low, high, size=SHAPE)
    pixels = stored.astype(np.uint16 if pixel_representation == 0 else np.int16)
    images = write_series(tmp_path, pixels=pixels.view(np.int16), RescaleSlope=slope, RescaleIntercept=intercept)
    for image in images:
        image.PixelRepresentation = pixel_representation
        image.save_as(tmp_path / f"{image.SOPInstanceUID}.dcm", enforce_file_format=True)
    for path in tmp_path.glob("IMG*.dcm"):
        path.unlink()
    reference = read_reference_series(tmp_path)
    image = read_series_image(reference)
    assert image.array.dtype == dtype
    expected = expected_by_position(reference)
    np.testing.assert_array_equal(image.array, expected.astype(np.float32) if dtype == np.float32 else expected)
    np.testing.assert_array_equal(image.array, (stored * slope + intercept).astype(dtype))


def test_oblique_reversed_series_is_placed_by_position(tmp_path):
    """Slices stacked against +z along an oblique normal, files named and numbered against the
    slice order: each slice is the file at that position."""
    direction = rotation((1, 2, 0.5), 35) @ np.diag([1.0, -1.0, -1.0])
    geometry = ImageGeometry(SHAPE, [5.0, -3.0, 80.0], [0.7, 0.9, 2.5], direction, pydicom.uid.generate_uid())
    images = write_series(tmp_path, geometry)
    reference = read_reference_series(tmp_path)
    assert reference.geometry.is_close(geometry, 1e-4)
    image = read_series_image(reference)
    np.testing.assert_array_equal(image.array, expected_by_position(reference))
    np.testing.assert_array_equal(image.array, random_pixels() - 1024)
    assert images[0].InstanceNumber == SHAPE[0]  # numbered against the slice order


def test_enhanced_multiframe_with_per_frame_rescale(tmp_path):
    geometry = ImageGeometry(SHAPE, [0.0, 0.0, 0.0], [1.0, 1.0, 3.0], np.eye(3), pydicom.uid.generate_uid())
    (dataset,) = make_image_series(geometry, multiframe=True, pixels=random_pixels(2))
    del dataset.RescaleSlope, dataset.RescaleIntercept
    # frames are stored in reverse slice order; frame f (1-based) is slice SHAPE[0] - f
    for index, item in enumerate(dataset.PerFrameFunctionalGroupsSequence):
        transform = pydicom.Dataset()
        transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = index + 1, -1000 * index, "HU"
        item.PixelValueTransformationSequence = pydicom.Sequence([transform])
    save([dataset], tmp_path)
    image = read_series_image(read_reference_series(tmp_path))
    assert image.array.dtype == np.int16  # -1000 * 6 + 5 * -1000 .. 3000 * 6: int16 holds them
    stored = random_pixels(2).astype(np.int64)
    for k in range(SHAPE[0]):
        index = SHAPE[0] - 1 - k
        np.testing.assert_array_equal(image.array[k], stored[k] * (index + 1) - 1000 * index)


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless], ids=lambda s: s.name)
def test_compressed_series_decode_through_pydicom(tmp_path, syntax):
    if not pydicom.pixels.get_encoder(syntax).is_available:
        pytest.skip(f"no pydicom encoder for {syntax.name} installed")
    shape = (3, 40, 48)  # JPEG 2000 through OpenJPEG needs frames of 32x32 pixels or more
    geometry = ImageGeometry(shape, [0.0, 0.0, 0.0], [0.8, 0.8, 2.0], np.eye(3), pydicom.uid.generate_uid())
    images = write_series(tmp_path / "plain", geometry)
    for image in images:
        image.compress(syntax)
    save(images, tmp_path / "compressed")
    reference = read_reference_series(tmp_path / "compressed")
    assert pydicom.dcmread(reference.slices[0].path).file_meta.TransferSyntaxUID == syntax
    image = read_series_image(reference)
    np.testing.assert_array_equal(image.array, random_pixels(shape=shape) - 1024)


def test_a_missing_pixel_handler_is_named(tmp_path):
    images = write_series(tmp_path / "plain")
    from pydicom.encaps import encapsulate

    image = images[2]
    image.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    image.PixelData = encapsulate([b"\xff\xd8\xff\xd9"])
    image["PixelData"].VR = "OB"
    save(images, tmp_path / "ct")
    decoder = pydicom.pixels.get_decoder(JPEGLosslessSV1)
    if decoder.is_available:
        pytest.skip("a JPEG Lossless decoder is installed here")
    reference = read_reference_series(tmp_path / "ct")
    with pytest.raises(InvalidDicomError, match=r"IMG0003\.dcm.*JPEG Lossless.*no installed pydicom pixel data handler.*pylibjpeg-libjpeg"):
        read_series_image(reference)


def test_missing_slices_are_filled_with_the_lowest_value_and_reported(tmp_path):
    images = write_series(tmp_path / "full")
    save([image for k, image in enumerate(images) if k != 2], tmp_path / "gap")
    reference = read_reference_series(tmp_path / "gap", allow_missing_slices=True)
    image = read_series_image(reference)
    expected = random_pixels() - 1024
    assert image.filled_slices == [2] and image.fill_value == expected.min()
    np.testing.assert_array_equal(image.array[2], np.full(SHAPE[1:], expected.min()))
    np.testing.assert_array_equal(np.delete(image.array, 2, axis=0), np.delete(expected, 2, axis=0))
    assert "no image at slice(s) 2" in str(image.findings[0]) and "lowest value" in str(image.findings[0])
    given = read_series_image(reference, fill_value=-3024)
    assert given.fill_value == -3024 and (given.array[2] == -3024).all() and given.array.dtype == np.int16


def test_colour_images_and_grids_without_files_are_refused(tmp_path):
    images = write_series(tmp_path / "ct")
    reference = read_reference_series(tmp_path / "ct")
    colour = images[0]
    colour.SamplesPerPixel, colour.PhotometricInterpretation, colour.PlanarConfiguration = 3, "RGB", 0
    colour.BitsAllocated, colour.BitsStored, colour.HighBit, colour.PixelRepresentation = 8, 8, 7, 0
    colour.PixelData = np.zeros((*SHAPE[1:], 3), dtype=np.uint8).tobytes()
    colour.save_as(tmp_path / "ct" / "IMG0001.dcm", enforce_file_format=True)
    with pytest.raises(InvalidDicomError, match=r"colour image \(3 samples per pixel, RGB\)"):
        read_series_image(read_reference_series(tmp_path / "ct"))
    from dicomlabelmap.dicom.images import ReferenceSeries

    with pytest.raises(ReferenceSeriesError, match="no source files"):
        read_series_image(ReferenceSeries.from_geometry(reference.geometry))


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("folder", "dtype"),
    [
        ("nsclc-lung1-001/ct", np.int16),  # 134 slices, slope 1, intercept -1024
        ("totalsegmentator/ct_dicom", np.int16),  # JPEG 2000 lossless
        ("rt-utils/oriented_data", np.float32),  # oblique, Rescale Slope 0.001
    ],
)
def test_real_series_equal_pydicom_voxel_for_voxel(folder, dtype):
    reference = read_reference_series(shared_file(folder))
    image = read_series_image(reference)
    assert image.array.dtype == dtype
    for k, source in enumerate(reference.slices):
        dataset = pydicom.dcmread(source.path)
        np.testing.assert_array_equal(image.array[k], apply_modality_lut(dataset.pixel_array, dataset).astype(dtype))

"""``read_dataset``, the one safe ``dcmread``: folders, missing paths and broken files become an
``InvalidDicomError`` naming the file; a DICOM data set written without preamble and file meta
(as old systems and pydicom's own test files do) is still read, pixel data included."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from conftest import axial_geometry
from dicomlabelmap.dicom.read import read_dataset
from dicomlabelmap.errors import InvalidDicomError
from dicomlabelmap.synthetic import make_image_series, save


def test_folder_is_refused_naming_what_to_give(tmp_path):
    with pytest.raises(InvalidDicomError, match="is a folder; give the RT Structure Set file$") as error:
        read_dataset(tmp_path, "the RT Structure Set file")
    assert error.value.path == tmp_path and error.value.reason == "is a folder; give the RT Structure Set file"
    with pytest.raises(InvalidDicomError, match="is a folder; give the DICOM file$"):
        read_dataset(tmp_path)


def test_missing_file(tmp_path):
    missing = tmp_path / "RS.dcm"
    with pytest.raises(InvalidDicomError, match=r"RS\.dcm: no such file$") as error:
        read_dataset(missing)
    assert error.value.path == missing


def test_regular_file_with_pixels(tmp_path):
    image = make_image_series(axial_geometry())[0]
    (path,) = save([image], tmp_path)
    dataset = read_dataset(path)
    assert dataset.SOPInstanceUID == image.SOPInstanceUID
    assert dataset.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    np.testing.assert_array_equal(dataset.pixel_array, np.frombuffer(image.PixelData, "<i2").reshape(20, 24))


def test_file_without_preamble_is_read_through_force(tmp_path):
    image = make_image_series(axial_geometry())[0]
    del image.file_meta
    path = tmp_path / "raw.dcm"
    image.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert path.read_bytes()[:4] == b"\x08\x00\x08\x00"  # starts with (0008,0008): no preamble, no "DICM"
    with pytest.raises(pydicom.errors.InvalidDicomError):
        pydicom.dcmread(path)  # pydicom alone refuses it
    dataset = read_dataset(path)
    assert (dataset.SOPInstanceUID, dataset.Rows, dataset.Columns) == (image.SOPInstanceUID, 20, 24)
    assert dataset.PixelData == image.PixelData


def test_text_file_is_invalid_dicom(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello, this is not DICOM\n" * 5)
    with pytest.raises(InvalidDicomError, match=r"notes\.txt: the file is truncated: \(6568,6C6C\) declares \d+ bytes") as error:
        read_dataset(notes)
    assert error.value.path == notes


def test_truncated_file(tmp_path):
    image = make_image_series(axial_geometry())[0]
    (path,) = save([image], tmp_path)
    path.write_bytes(path.read_bytes()[:-100])  # pixel data cut short
    with pytest.raises(InvalidDicomError, match=r"IMG0001\.dcm: .*truncated"):
        read_dataset(path)

"""Layer 1: image headers split without pydicom's reader are the very datasets pydicom reads
(every element, value, VR, encoding, file meta), in explicit and implicit VR, with a header
longer than the first read; anything else (no preamble, big endian, deflated, sequences of
undefined length, a file cut short) is left to pydicom."""

from __future__ import annotations

import pydicom
import pytest
from conftest import axial_geometry
from dicomlabelmap.dicom.rawheader import read_image_header
from dicomlabelmap.dicom.read import read_header
from dicomlabelmap.errors import NotDicomError
from dicomlabelmap.synthetic import make_image_series
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian


def _image(tmp_path, syntax=ExplicitVRLittleEndian, name="image.dcm", long_header=False, undefined=False):
    image = make_image_series(axial_geometry())[0]
    image.SpecificCharacterSet = "ISO_IR 192"
    image.PatientName = "Müller^Zoë"
    image.ImageComments = ""
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    image.ReferencedImageSequence = Sequence([item])
    image["ReferencedImageSequence"].is_undefined_length = undefined
    if long_header:
        image.add_new(0x00090010, "LO", "LMS TEST")
        image.add_new(0x00091010, "OB", bytes(range(256)) * 160)  # pushes the pixel data past the first read
    image.file_meta.TransferSyntaxUID = syntax
    path = tmp_path / name
    image.save_as(path, enforce_file_format=True)
    return path


def _same(found, expected):
    assert [(e.tag, e.VR, e.value) for e in found.iterall()] == [(e.tag, e.VR, e.value) for e in expected.iterall()]
    assert [(e.tag, e.VR, e.value) for e in found.file_meta] == [(e.tag, e.VR, e.value) for e in expected.file_meta]
    assert found.original_encoding == expected.original_encoding and found.preamble == expected.preamble
    assert "PixelData" not in found and str(found.filename) == str(expected.filename)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("long_header", [False, True])
def test_plain_headers_equal_pydicom(tmp_path, syntax, long_header):
    path = _image(tmp_path, syntax, long_header=long_header)
    found = read_image_header(path)
    assert found is not None
    _same(found, pydicom.dcmread(path, stop_before_pixels=True))
    assert str(found.PatientName) == "Müller^Zoë" and found.ReferencedImageSequence[0].ReferencedSOPInstanceUID == "1.2.3"


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: _image(tmp, ExplicitVRBigEndian),
        lambda tmp: _image(tmp, DeflatedExplicitVRLittleEndian),
        lambda tmp: _image(tmp, undefined=True),
    ],
    ids=["big endian", "deflated", "undefined length"],
)
def test_other_files_are_left_to_pydicom(tmp_path, make):
    path = make(tmp_path)
    assert read_image_header(path) is None
    _same(read_header(path), pydicom.dcmread(path, stop_before_pixels=True))


def test_no_preamble_and_cut_files_are_left_to_pydicom(tmp_path):
    path = _image(tmp_path)
    data = path.read_bytes()
    (tmp_path / "bare.dcm").write_bytes(data[132:])
    assert read_image_header(tmp_path / "bare.dcm") is None
    (tmp_path / "cut.dcm").write_bytes(data[: data.index("Müller".encode()) + 3])  # inside an element's value
    assert read_image_header(tmp_path / "cut.dcm") is None
    (tmp_path / "text.txt").write_text("not DICOM")
    assert read_image_header(tmp_path / "text.txt") is None
    with pytest.raises(NotDicomError):
        read_header(tmp_path / "text.txt")

"""Hand-encoded Explicit VR Little Endian elements (the per-frame functional groups of the SEG
writer) are exactly what pydicom writes for the same values, and pydicom reads them back."""

from __future__ import annotations

import struct
from io import BytesIO

import pydicom
import pytest
from dicomlabelmap.dicom.rawencode import code_item, decimal_strings, element, item, raw_sequence_element, sequence, text
from dicomlabelmap.model.segment import Code
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element


def pydicom_bytes(dataset: Dataset) -> bytes:
    """The Explicit VR Little Endian bytes pydicom writes for the elements of ``dataset``."""
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    for data_element in dataset:
        write_data_element(buffer, data_element)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "tag, vr, value, keyword",
    [
        (0x00081155, "UI", "1.2.3", "ReferencedSOPInstanceUID"),  # odd: NUL padded
        (0x00080100, "SH", "T-D0050", "CodeValue"),  # odd: space padded
        (0x00080104, "LO", "Tissue", "CodeMeaning"),  # even: unpadded
        (0x00200032, "DS", "-10\\-12.5\\30", "ImagePositionPatient"),
        (0x0028135A, "CS", "YES", "SpatialLocationsPreserved"),
    ],
)
def test_text_elements_match_pydicom(tag, vr, value, keyword):
    dataset = Dataset()
    setattr(dataset, keyword, value)
    assert text(tag, vr, value) == pydicom_bytes(dataset)


def test_short_and_long_headers():
    assert element(0x00209157, "UL", struct.pack("<I", 7)) == bytes.fromhex("2000 5791 554c 0400 07000000".replace(" ", ""))
    long = element(0x7FE00010, "OB", b"\x01\x02\x03")  # OB: reserved 2 bytes and a 32-bit length, NUL padded
    assert long == b"\xe0\x7f\x10\x00OB\x00\x00\x04\x00\x00\x00\x01\x02\x03\x00"


def test_item_and_sequence_framing():
    content = text(0x00080100, "SH", "AB")
    assert item(content) == b"\xfe\xff\x00\xe0" + struct.pack("<I", len(content)) + content
    encoded = sequence(0x00089215, [content, content])
    assert encoded[:8] == b"\x08\x00\x15\x92SQ\x00\x00"
    assert struct.unpack("<I", encoded[8:12])[0] == 2 * (8 + len(content)) == len(encoded) - 12


def test_code_item_matches_pydicom():
    code = Code("85756007", "SCT", "Tissue")
    dataset = Dataset()
    dataset.CodeValue, dataset.CodingSchemeDesignator, dataset.CodeMeaning = "85756007", "SCT", "Tissue"
    assert code_item(code) == pydicom_bytes(dataset)


@pytest.mark.parametrize(
    "values, expected",
    [
        ([-10, -12.5, 30], "-10\\-12.5\\30"),
        ([1 / 3, 2 / 3], "0.3333333333\\0.6666666667"),
        ([-123456.789012345], "-123456.789"),
        ([1e-12, 12345678901234.0], "1e-12\\1.23456789e+13"),
    ],
)
def test_decimal_strings_fit_sixteen_characters(values, expected):
    result = decimal_strings(values)
    assert result == expected
    assert all(len(part) <= 16 for part in result.split("\\"))


def test_raw_sequence_element_is_read_and_written_by_pydicom():
    """A per-frame functional groups sequence built by hand: pydicom parses it into the values
    given, writes its bytes unchanged, and reads them back."""
    positions = [[-10.0, -12.0, 30.0 + 2 * k] for k in range(3)]
    items = [
        sequence(0x00209111, [element(0x00209157, "UL", struct.pack("<I", k + 1))])
        + sequence(0x00209113, [text(0x00200032, "DS", decimal_strings(position))])
        for k, position in enumerate(positions)
    ]
    encoded = sequence(0x52009230, items)
    dataset = Dataset()
    dataset.PatientID = "raw"
    dataset[0x52009230] = raw_sequence_element(0x52009230, encoded)
    written = pydicom_bytes(dataset)
    assert written.endswith(encoded)  # written as it is
    frames = dataset.PerFrameFunctionalGroupsSequence
    assert [[float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient] for f in frames] == positions
    assert [f.FrameContentSequence[0].DimensionIndexValues for f in frames] == [1, 2, 3]
    again = pydicom.dcmread(BytesIO(written), force=True)  # a bare Explicit VR Little Endian data set
    again_frames = again.PerFrameFunctionalGroupsSequence
    assert [[float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient] for f in again_frames] == positions
    assert again.PatientID == "raw"

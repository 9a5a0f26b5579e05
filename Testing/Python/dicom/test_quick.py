"""Layer 1: header values read from raw element bytes are the values pydicom gives, and what is
not plain goes to pydicom (same values, same errors)."""

from __future__ import annotations

import pydicom
import pytest
from conftest import axial_geometry
from dicomlabelmap.dicom import quick
from dicomlabelmap.dicom.rawheader import read_image_header
from dicomlabelmap.synthetic import make_image_series
from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag


@pytest.fixture
def headers(tmp_path):
    """Image headers as the series scan reads them (raw elements), beside pydicom's reading."""
    found = []
    for index, image in enumerate(make_image_series(axial_geometry())[:3]):
        image.ImagePositionPatient = [" -12.5", "0.000", "1e1"][index : index + 1] + [7, 8]
        path = tmp_path / f"{index}.dcm"
        image.save_as(path, enforce_file_format=True)
        found.append((read_image_header(path), pydicom.dcmread(path, stop_before_pixels=True)))
    return found


def test_values_read_from_bytes_are_pydicoms(headers):
    for raw, converted in headers:
        assert isinstance(raw._dict[BaseTag(0x00200032)], RawDataElement)  # noqa: SLF001 - still raw: the fast path is taken
        for keyword in ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "Modality", "InstanceNumber"):
            value = converted.get(keyword)
            assert quick.text(raw, keyword) == ("" if value is None else str(value))
        for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness"):
            value = converted.get(keyword)
            expected = None if value is None else [float(v) for v in (value if isinstance(value, pydicom.multival.MultiValue) else [value])]
            assert quick.numbers(raw, keyword) == expected
        assert quick.unsigned_short(raw, "Rows") == converted.Rows and quick.unsigned_short(raw, "Columns") == converted.Columns


def test_what_is_not_plain_goes_to_pydicom():
    dataset = pydicom.Dataset()
    dataset.PixelSpacing = [0.5, 0.5]  # already converted: pydicom's value
    dataset._dict[BaseTag(0x00200032)] = RawDataElement(BaseTag(0x00200032), "DS", 9, b"1\\nan\\3 ", 0, False, True)  # noqa: SLF001
    dataset._dict[BaseTag(0x00200013)] = RawDataElement(BaseTag(0x00200013), "IS", 2, b"\xe9 ", 0, False, True)  # noqa: SLF001
    dataset._dict[BaseTag(0x00280010)] = RawDataElement(BaseTag(0x00280010), "US", 2, b"\x00\x02", 0, False, False)  # noqa: SLF001
    assert quick.numbers(dataset, "PixelSpacing") is None and quick.text(dataset, "PixelSpacing") == "0.5\\0.5"
    assert quick.numbers(dataset, "ImagePositionPatient") is None  # NaN: the caller asks pydicom, which names it
    assert quick.numbers(dataset, "SliceThickness") is None and quick.text(dataset, "SliceThickness") == ""
    assert quick.unsigned_short(dataset, "Rows") == 2  # big endian
    with pytest.raises(Exception):  # noqa: B017, PT011 - not ASCII: pydicom's own conversion decides, as before
        int(quick.text(dataset, "InstanceNumber"))

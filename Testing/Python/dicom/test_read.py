"""``read_header`` / ``read_dataset``, the one way the core opens DICOM: folders, missing paths and
broken files become an ``InvalidDicomError`` naming the file with the reason in the user's terms
("not a DICOM file", "truncated at byte N of its pixel data"); a DICOM data set written without
preamble and file meta (as old systems and pydicom's own test files do) is still read."""

from __future__ import annotations

import json
import logging
import struct
import warnings
import zlib

import numpy as np
import pydicom
import pytest
from conftest import axial_geometry, shared_file
from dicomlabelmap.dicom.codecs import TransferSyntax
from dicomlabelmap.dicom.read import looks_like_dicom, read_dataset, read_header
from dicomlabelmap.dicom.structure import Layout, find_truncation, layout
from dicomlabelmap.errors import InvalidDicomError, NotDicomError, TruncatedFileError
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.seg.writer import SegWriteOptions, write_label_map_segs
from dicomlabelmap.synthetic import make_image_series, save, write_demo_case


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


def test_read_header_stops_before_pixels_and_reads_files_without_preamble(tmp_path):
    image = make_image_series(axial_geometry())[0]
    (regular,) = save([image], tmp_path / "regular")
    header = read_header(regular)
    assert header.SOPInstanceUID == image.SOPInstanceUID and "PixelData" not in header
    bare = tmp_path / "bare.dcm"
    del image.file_meta
    image.save_as(bare, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert read_header(bare).SOPInstanceUID == image.SOPInstanceUID  # no preamble: read through force


def test_pydicoms_own_structure_set_without_preamble_is_read_by_both():
    path = shared_file("pydicom/rtstruct.dcm")
    assert path.read_bytes()[:4] == b"\x08\x00\x05\x00"  # (0008,0005), implicit VR, no preamble
    assert looks_like_dicom(path)
    assert str(read_header(path).SOPClassUID) == str(read_dataset(path).SOPClassUID) == "1.2.840.10008.5.1.4.1.1.481.3"


def _png() -> bytes:
    """A real 2x2 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([128, 128]) for _ in range(2))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _random_bytes() -> bytes:
    data = np.random.default_rng(22).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    assert struct.unpack_from("<H", data)[0] not in (0x0002, 0x0008) and data[128:132] != b"DICM"
    return data


NOT_DICOM = {
    "metadata.json": json.dumps({"segmentAttributes": [[{"labelID": 1, "SegmentLabel": "liver"}]]}).encode(),
    "preview.png": _png(),
    "LICENSE": b"MIT License\n\nCopyright (c) 2026\n\nPermission is hereby granted, free of charge, to any person\n" * 3,
    "empty.dcm": b"",
    "random.bin": _random_bytes(),
    "notes.txt": b"hello, this is not DICOM\n" * 5,
}


@pytest.mark.parametrize("name", sorted(NOT_DICOM))
def test_files_that_are_not_dicom_say_so(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(NOT_DICOM[name])
    expected = r"not a DICOM file \(it is empty\)$" if name == "empty.dcm" else r"not a DICOM file \(no DICM marker at byte 128"
    for read in (read_header, read_dataset):
        with pytest.raises(NotDicomError, match=expected) as error:
            read(path)
        assert error.value.path == path and "truncated" not in str(error.value) and "declares" not in str(error.value)
    assert not looks_like_dicom(path)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A CT slice (native pixel data), an RT Structure Set and RLE and explicit Label Map SEGs."""
    folder = tmp_path_factory.mktemp("written")
    ct, rs = write_demo_case(folder / "case")
    conversion = rtstruct_to_labels(rs, ct)
    files = {"ct": sorted(ct.iterdir())[0], "rtstruct": rs}
    for syntax in (TransferSyntax.RLE, TransferSyntax.EXPLICIT):
        (folder / syntax.value).mkdir()
        (files[syntax.value],) = write_label_map_segs(
            conversion.label_volumes[:1], conversion.reference, folder / syntax.value, SegWriteOptions(transfer_syntax=syntax)
        )
    return files


def _pixel_data_start(path):
    """File offset of the Pixel Data value (the last element of our files)."""
    data = path.read_bytes()
    position = data.rindex(b"\xe0\x7f\x10\x00")
    return position + 12


def _cut(path, size, target):
    target.write_bytes(path.read_bytes()[:size])
    return target


@pytest.mark.parametrize("kind", ["ct", "explicit"])
@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 0.99])
def test_native_pixel_data_cut_short_says_at_which_byte(written, tmp_path, kind, fraction, caplog):
    source = written[kind]
    start = _pixel_data_start(source)
    declared = source.stat().st_size - start
    present = 1 + int(fraction * (declared - 2))
    path = _cut(source, start + present, tmp_path / "cut.dcm")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no pydicom warning leaks
        for read in (read_header, read_dataset):
            with pytest.raises(TruncatedFileError) as error:
                read(path)
            assert error.value.reason == f"the file is truncated at byte {present} of its pixel data ({declared} declared)"
            assert error.value.in_pixel_data and error.value.attribute == "PixelData"
            # What precedes the cut is kept: a reference slice still says where it lies.
            assert "ImagePositionPatient" in error.value.header or "PerFrameFunctionalGroupsSequence" in error.value.header
    assert not [record for record in caplog.records if record.name.startswith("pydicom")]


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.95])
def test_encapsulated_pixel_data_cut_short_says_at_which_byte(written, tmp_path, fraction, caplog):
    source = written["rle"]
    start = _pixel_data_start(source)
    present = int(fraction * (source.stat().st_size - start))
    path = _cut(source, start + present, tmp_path / "cut.dcm")
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydicom's "End of file reached before delimiter" does not leak
        for read in (read_header, read_dataset):
            with pytest.raises(TruncatedFileError, match=rf"^.*cut\.dcm: the file is truncated at byte {present} of its pixel data \(its "):
                read(path)
    assert not [record for record in caplog.records if "End of file" in record.getMessage()]


@pytest.mark.parametrize("missing", [8, 4, 1])
def test_only_the_closing_delimiter_missing_loses_nothing(written, tmp_path, missing):
    source = written["rle"]
    path = _cut(source, source.stat().st_size - missing, tmp_path / "cut.dcm")
    assert read_dataset(path).PixelData == pydicom.dcmread(source).PixelData
    assert "PixelData" not in read_header(path)
    # One byte more cut and a frame is short: truncated.
    path = _cut(source, source.stat().st_size - 9, tmp_path / "cut.dcm")
    with pytest.raises(TruncatedFileError, match="of its pixel data"):
        read_dataset(path)


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_structure_set_cut_short_names_the_sequence(written, tmp_path, fraction):
    source = written["rtstruct"]
    size = int(fraction * source.stat().st_size)
    path = _cut(source, size, tmp_path / "RS.dcm")
    for read in (read_header, read_dataset):
        with pytest.raises(TruncatedFileError, match=rf"RS\.dcm: the file is truncated at byte {size}, inside [A-Za-z]+Sequence") as error:
            read(path)
        assert "OSError" not in str(error.value) and "file position" not in str(error.value)
        assert str(error.value.header.SOPClassUID) == "1.2.840.10008.5.1.4.1.1.481.3"  # the elements before the cut


def test_real_structure_set_cut_short(tmp_path):
    source = shared_file("nsclc-lung1-001/rtstruct/RS.dcm")
    path = _cut(source, 50000, tmp_path / "RS.dcm")
    with pytest.raises(TruncatedFileError, match=r"RS\.dcm: the file is truncated at byte 50000, inside ROIContourSequence$"):
        read_dataset(path)


def test_a_cut_inside_an_element_header_is_found(written, tmp_path):
    source = written["ct"]
    data = source.read_bytes()
    # Cut in the middle of the header of the element after Study Date: pydicom ignores the stub.
    position = data.index(b"\x08\x00\x20\x00DA") + 8 + 8
    path = _cut(source, position + 3, tmp_path / "cut.dcm")
    with pytest.raises(TruncatedFileError, match=rf"the file is truncated at byte {position + 3}, inside an element header$"):
        read_dataset(path)


def test_deflated_data_set_cut_short(tmp_path):
    ct, rs = write_demo_case(tmp_path / "case")
    conversion = rtstruct_to_labels(rs, ct)
    (tmp_path / "seg").mkdir()
    (source,) = write_label_map_segs(
        conversion.label_volumes[:1], conversion.reference, tmp_path / "seg", SegWriteOptions(transfer_syntax=TransferSyntax.DEFLATED)
    )
    size = source.stat().st_size * 2 // 3
    path = _cut(source, size, tmp_path / "cut.dcm")
    for read in (read_header, read_dataset):
        with pytest.raises(
            TruncatedFileError, match=rf"cut\.dcm: the file is truncated at byte {size} \(its deflated data set ends early\)$"
        ):
            read(path)


def test_layout_of_the_first_bytes():
    meta = b"\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2\x00\x00\x00"  # Transfer Syntax UID: implicit VR little endian
    with_preamble = layout(b"\x00" * 128 + b"DICM" + meta + b"\x08\x00\x16\x00" + b"\x00" * 8)
    assert with_preamble == Layout(132 + len(meta), True, True, "1.2.840.10008.1.2", raw=False)
    assert layout(meta + b"\x08\x00\x16\x00") == Layout(len(meta), True, True, "1.2.840.10008.1.2", raw=True)  # meta, no preamble
    explicit = layout(b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100")
    assert explicit is not None and (explicit.start, explicit.implicit, explicit.raw) == (0, False, True)
    implicit = layout(b"\x08\x00\x05\x00\x0a\x00\x00\x00ISO_IR 100")
    assert implicit is not None and (implicit.implicit, implicit.raw) == (True, True)
    for garbage in (b"", b'{"a": 1}', b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, b"\x10\x00\x10\x00PN\x04\x00Doe^"):
        assert layout(garbage) is None  # group 0010 first: not how a data set starts


def test_find_truncation_on_bytes(written):
    data = written["ct"].read_bytes()
    file_layout = layout(data)
    assert find_truncation(data, file_layout) is None
    cut = find_truncation(data[:-10], file_layout)
    assert cut is not None and cut.in_pixel_data and cut.keyword == "PixelData" and cut.declared == cut.present + 10
    garbage = find_truncation(data[: file_layout.start] + b"\xfe\xff\x00\xe0" + b"\x00" * 40, file_layout)
    assert garbage is None  # an item tag at the top level: not DICOM elements, nothing to say

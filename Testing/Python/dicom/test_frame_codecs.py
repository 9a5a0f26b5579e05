"""The Deflated Image Frame and JPEG 2000 backends on their own: frames round-trip exactly,
deflate writes a raw DEFLATE stream (RFC 1951) of the little-endian bytes padded to even length,
JPEG 2000 writes a lossless single-component codestream of the frame's precision, and broken or
too small frames are refused with messages that say why."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from dicomlabelmap.dicom.codecs import deflate_frame, jpeg2000
from dicomlabelmap.errors import DicomLabelMapError, InvalidDicomError


def labels(dtype, rows=32, columns=40) -> np.ndarray:
    values = np.arange(rows * columns).reshape(rows, columns)
    return (values % 7).astype(dtype) if dtype == np.uint8 else (values * 37 % 65536).astype(dtype)


@pytest.mark.parametrize("dtype, bits", [(np.uint8, 8), (np.uint16, 16)])
def test_deflate_round_trip(dtype, bits):
    frame = labels(dtype)
    data = deflate_frame.encode(frame)
    assert len(data) % 2 == 0
    assert zlib.decompressobj(-15).decompress(data) == frame.astype(frame.dtype.newbyteorder("<")).tobytes()
    decoded = deflate_frame.decode(data, 32, 40, bits)
    assert decoded.dtype == dtype
    np.testing.assert_array_equal(decoded, frame)


def test_deflate_writes_little_endian_whatever_the_input_order():
    frame = labels(np.uint16)
    assert deflate_frame.encode(frame.astype(">u2")) == deflate_frame.encode(frame)


def test_deflate_pads_odd_streams_with_a_zero_byte():
    frame = np.array([[1]], dtype=np.uint8)  # raw DEFLATE of one byte is 3 bytes long
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = compressor.compress(frame.tobytes()) + compressor.flush()
    assert len(raw) == 3
    assert deflate_frame.encode(frame) == raw + b"\x00"
    np.testing.assert_array_equal(deflate_frame.decode(raw + b"\x00", 1, 1, 8), frame)


def test_deflate_one_bit_frames_stay_packed():
    bits = labels(np.uint8) % 2
    packed = np.packbits(bits.ravel(), bitorder="little").reshape(1, -1)
    decoded = deflate_frame.decode(deflate_frame.encode(packed), 32, 40, 1)
    assert decoded.shape == (1, 160)
    np.testing.assert_array_equal(decoded, packed)


@pytest.mark.parametrize(
    "data, rows, columns, match",
    [
        (b"\x00\x01garbage", 4, 4, r"deflated frame is corrupt \(Error -3"),
        (deflate_frame.encode(np.zeros((2, 40), np.uint8)), 32, 40, "deflated frame holds 80 bytes, 1280 expected"),
        (deflate_frame.encode(np.zeros((32, 40), np.uint8)), 2, 40, "deflated frame holds more than 80 bytes, 80 expected"),
    ],
    ids=["corrupt", "short", "long"],
)
def test_deflate_broken_frames(data, rows, columns, match):
    with pytest.raises(InvalidDicomError, match=match) as error:
        deflate_frame.decode(data, rows, columns, 8)
    assert error.value.attribute == "PixelData"


def test_deflate_backend_needs_no_package():
    assert (deflate_frame.PACKAGE, deflate_frame.IMPORT) == (None, None)


@pytest.mark.parametrize("dtype, bits", [(np.uint8, 8), (np.uint16, 16)])
def test_jpeg2000_round_trip_is_lossless(dtype, bits):
    openjpeg = pytest.importorskip("openjpeg", reason="pylibjpeg-openjpeg is not installed")
    frame = labels(dtype)
    data = jpeg2000.encode(frame)
    assert data[:4] == b"\xff\x4f\xff\x51"  # a J2K codestream: SOC then SIZ
    parameters = openjpeg.get_parameters(data)
    assert (parameters["rows"], parameters["columns"], parameters["samples_per_pixel"]) == (32, 40, 1)
    assert (parameters["precision"], parameters["is_signed"]) == (bits, False)
    decoded = jpeg2000.decode(data, 32, 40, bits)
    assert decoded.dtype == dtype
    np.testing.assert_array_equal(decoded, frame)


def test_jpeg2000_one_bit_frames_come_back_packed():
    pytest.importorskip("openjpeg", reason="pylibjpeg-openjpeg is not installed")
    bits = (labels(np.uint8) % 2).astype(np.uint8)
    decoded = jpeg2000.decode(jpeg2000.encode(bits), 32, 40, 1)
    np.testing.assert_array_equal(decoded, np.packbits(bits.ravel() != 0, bitorder="little").reshape(1, -1))


@pytest.mark.parametrize("shape", [(16, 40), (32, 31), (1, 1)])
def test_jpeg2000_refuses_small_frames(shape):
    rows, columns = shape
    message = f"needs frames of at least 32x32 pixels, these are {rows}x{columns}; choose another transfer syntax"
    with pytest.raises(DicomLabelMapError, match=message):
        jpeg2000.encode(np.zeros(shape, dtype=np.uint8))


def test_jpeg2000_broken_frames():
    pytest.importorskip("openjpeg", reason="pylibjpeg-openjpeg is not installed")
    with pytest.raises(InvalidDicomError, match="JPEG 2000 frame cannot be decoded"):
        jpeg2000.decode(b"\x00" * 20, 32, 40, 8)
    with pytest.raises(InvalidDicomError, match=r"compressed frame is \(32, 40\), \(32, 41\) expected"):
        jpeg2000.decode(jpeg2000.encode(labels(np.uint8)), 32, 41, 8)

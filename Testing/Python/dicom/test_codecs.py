"""Layer 1 + 3: the codec registry, our bundled RLE against pydicom's and pylibjpeg-rle's
decoders (property tests), and every encapsulated syntax round-tripping."""

from __future__ import annotations

import numpy as np
import pytest
from dicomlabelmap.dicom.codecs import TransferSyntax, backend, decode_frame, encode_frame, rle
from dicomlabelmap.errors import DicomLabelMapError, InvalidDicomError, MissingDependencyError
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def pydicom_rle_decode(data: bytes, frame: np.ndarray) -> np.ndarray:
    from pydicom.pixels.decoders.rle import _rle_decode_frame

    bits = frame.dtype.itemsize * 8
    raw = _rle_decode_frame(data, frame.shape[0], frame.shape[1], 1, bits)
    return np.frombuffer(bytes(raw), dtype="<u2" if bits == 16 else np.uint8).reshape(frame.shape)


def pylibjpeg_rle_decode(data: bytes, frame: np.ndarray):
    utils = pytest.importorskip("rle.utils", reason="pylibjpeg-rle is not installed")
    bits = frame.dtype.itemsize * 8
    raw = utils.decode_frame(data, frame.shape[0] * frame.shape[1], bits, "<")
    return np.frombuffer(bytes(raw), dtype="<u2" if bits == 16 else np.uint8).reshape(frame.shape)


shapes = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=70)
label_like = st.one_of(
    hnp.arrays(np.uint8, shapes, elements=st.integers(0, 3)),
    hnp.arrays(np.uint16, shapes, elements=st.sampled_from([0, 1, 255, 256, 300, 65535])),
    hnp.arrays(np.uint8, shapes),
    hnp.arrays(np.uint16, shapes),
)


@settings(max_examples=150, deadline=None)
@given(label_like)
def test_rle_matches_pydicom_and_pylibjpeg(frame):
    data = rle.encode(frame)
    assert len(data) % 2 == 0
    np.testing.assert_array_equal(rle.decode(data, *frame.shape, frame.dtype.itemsize * 8), frame)
    np.testing.assert_array_equal(pydicom_rle_decode(data, frame), frame)
    np.testing.assert_array_equal(pylibjpeg_rle_decode(data, frame), frame)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rle_worst_cases(dtype):
    """Alternating values (all literals), long runs (replicate pieces of 128), single rows."""
    alternating = (np.indices((9, 301)).sum(axis=0) % 2).astype(dtype) * 7
    constant = np.full((3, 1000), 5, dtype=dtype)
    for frame in (alternating, constant, alternating[:1], constant[:, :1]):
        data = rle.encode(frame)
        np.testing.assert_array_equal(pydicom_rle_decode(data, frame), frame)
        np.testing.assert_array_equal(rle.decode(data, *frame.shape, frame.dtype.itemsize * 8), frame)
    # a constant row of 1000 bytes: 8 replicate pieces of 2 bytes each, per segment
    assert len(rle.encode(constant[:1].astype(np.uint8))) == 64 + 16


def test_rle_decodes_what_pylibjpeg_encodes():
    utils = pytest.importorskip("rle.utils", reason="pylibjpeg-rle is not installed")
    frame = np.random.default_rng(2).integers(0, 4, (40, 33)).astype(np.uint16) * 100
    data = utils.encode_frame(frame.astype("<u2").tobytes(), 40, 33, 1, 16, "<")
    np.testing.assert_array_equal(rle.decode(bytes(data), 40, 33, 16), frame)


@pytest.mark.parametrize(
    ("mangle", "match"),
    [
        (lambda d: d[:10], "shorter than its 64-byte header"),
        (lambda d: (2).to_bytes(4, "little") + d[4:], "has 2 segments, 1 expected"),
        (lambda d: d[:4] + (9999).to_bytes(4, "little") + d[8:], "offsets"),
        (lambda d: d[:70], "decodes to"),
    ],
)
def test_rle_broken_frames(mangle, match):
    frame = np.random.default_rng(1).integers(0, 255, (8, 8)).astype(np.uint8)
    with pytest.raises(InvalidDicomError, match=match):
        rle.decode(mangle(rle.encode(frame)), 8, 8, 8)


@pytest.mark.parametrize("syntax", [s for s in TransferSyntax if s.encapsulated], ids=lambda s: s.value)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_every_encapsulated_syntax_round_trips(syntax, dtype):
    frame = np.zeros((37, 41), dtype=dtype)  # JPEG 2000 needs 32+ pixels per side
    frame[5:20, 3:30] = 2
    frame[10:12, 8:9] = np.iinfo(dtype).max
    data = encode_frame(frame, syntax)
    np.testing.assert_array_equal(decode_frame(data, 37, 41, frame.dtype.itemsize * 8, syntax), frame)


def test_deflate_frame_refuses_oversized_output():
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = compressor.compress(b"\x00" * 10_000_000) + compressor.flush()
    with pytest.raises(InvalidDicomError, match="holds"):
        decode_frame(bomb, 10, 10, 8, TransferSyntax.DEFLATED_FRAME)


def test_registry():
    assert TransferSyntax.from_uid("1.2.840.10008.1.2.5") is TransferSyntax.RLE
    assert not TransferSyntax.DEFLATED.encapsulated and TransferSyntax.RLE.encapsulated
    assert backend(TransferSyntax.RLE) is rle
    with pytest.raises(DicomLabelMapError, match="not supported"):
        TransferSyntax.from_uid("1.2.840.10008.1.2.4.50")


def test_missing_codec_package_is_named(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "jpeg_ls", None)
    with pytest.raises(MissingDependencyError, match="pip install pyjpegls"):
        encode_frame(np.zeros((2, 2), np.uint8), TransferSyntax.JPEG_LS)


@pytest.mark.parametrize("bits", [8, 16])
def test_rle_decoders_agree_and_the_fast_one_is_preferred(bits):
    """pylibjpeg-rle decodes when installed (several times faster); it gives the bundled
    decoder's result, and a frame it refuses goes to the bundled decoder, which names the problem."""
    pytest.importorskip("rle", reason="pylibjpeg-rle is not installed (the codecs extra)")
    from dicomlabelmap.dicom.codecs import TransferSyntax, backend, rle, rle_pylibjpeg
    from dicomlabelmap.errors import InvalidDicomError

    assert backend(TransferSyntax.RLE, decoding=True) is rle_pylibjpeg and backend(TransferSyntax.RLE) is rle
    generator = np.random.default_rng(5)
    frame = (generator.random((37, 53)) * (300 if bits == 16 else 40)).astype(np.uint16 if bits == 16 else np.uint8)
    frame[5:30, 10:40] = 7
    encoded = rle.encode(frame)
    np.testing.assert_array_equal(rle_pylibjpeg.decode(encoded, 37, 53, bits), rle.decode(encoded, 37, 53, bits))
    np.testing.assert_array_equal(rle_pylibjpeg.decode(encoded, 37, 53, bits), frame)
    with pytest.raises(InvalidDicomError):
        rle_pylibjpeg.decode(encoded[:70], 37, 53, bits)

"""Deflated Image Frame Compression (1.2.840.10008.1.2.8.1): each frame's native bytes
compressed on their own as a raw DEFLATE stream (RFC 1951, no zlib header), with the
Python standard library."""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt

from ...errors import InvalidDicomError

NAME = "zlib (bundled)"
PACKAGE = None
IMPORT = None


def encode(frame: npt.NDArray[np.integer]) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(np.ascontiguousarray(frame).astype(frame.dtype.newbyteorder("<")).tobytes()) + compressor.flush()
    return data + b"\x00" * (len(data) & 1)


def decode(data: bytes, rows: int, columns: int, bits_allocated: int) -> npt.NDArray[np.integer]:
    expected = (rows * columns + 7) // 8 if bits_allocated == 1 else rows * columns * (bits_allocated // 8)
    decompressor = zlib.decompressobj(-15)
    try:
        # Never inflate past what the frame can hold (a decompression bomb stops here).
        raw = decompressor.decompress(data, expected)
    except zlib.error as error:
        raise InvalidDicomError(f"deflated frame is corrupt ({error})", attribute="PixelData") from error
    if len(raw) != expected or not decompressor.eof:
        found = f"more than {expected}" if len(raw) == expected else str(len(raw))
        raise InvalidDicomError(f"deflated frame holds {found} bytes, {expected} expected", attribute="PixelData")
    if bits_allocated == 1:
        return np.frombuffer(raw, dtype=np.uint8).reshape(1, -1)
    return (
        np.frombuffer(raw, dtype="<u2" if bits_allocated == 16 else np.uint8)
        .reshape(rows, columns)
        .astype(np.uint16 if bits_allocated == 16 else np.uint8)
    )

"""JPEG-LS Lossless (1.2.840.10008.1.2.4.80) through pyjpegls (CharLS)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import InvalidDicomError, optional_import

NAME = "pyjpegls"
PACKAGE = "pyjpegls"
IMPORT = "jpeg_ls"


def _module() -> Any:
    return optional_import(IMPORT, PACKAGE, "JPEG-LS compression")


def encode(frame: npt.NDArray[np.integer]) -> bytes:
    """Lossless JPEG-LS with sample precision P = Bits Stored (8 or 16), as DCMTK requires and
    highdicom and ``dcmcjpls`` write; CharLS would otherwise take P from the frame's largest
    value (2 or 3 bits for a label map)."""
    bits = 16 if frame.dtype.itemsize == 2 else 8
    data = np.ascontiguousarray(frame, dtype="<u2" if bits == 16 else np.uint8)
    rows, columns = data.shape
    return bytes(_module().encode_buffer(data.tobytes(), rows, columns, 1, bits))


def decode(data: bytes, rows: int, columns: int, bits_allocated: int) -> npt.NDArray[np.integer]:
    try:
        array = _module().decode(np.frombuffer(data, dtype=np.uint8))
    except (RuntimeError, ValueError) as error:
        raise InvalidDicomError(f"JPEG-LS frame cannot be decoded ({error})", attribute="PixelData") from error
    return _checked(array, rows, columns, bits_allocated)


def _checked(array: npt.NDArray[Any], rows: int, columns: int, bits_allocated: int) -> npt.NDArray[np.integer]:
    if array.shape != (rows, columns):
        raise InvalidDicomError(f"compressed frame is {array.shape}, ({rows}, {columns}) expected", attribute="PixelData")
    return array.astype(np.uint16 if bits_allocated == 16 else np.uint8, copy=False)

"""RLE Lossless decoding through pylibjpeg-rle (Rust), when it is installed: about seven times
faster than the bundled numpy decoder on label maps. Encoding stays with the bundled encoder
(faster here than pylibjpeg-rle's); 1-bit frames and anything this backend refuses go to the
bundled decoder, whose checks name the problem."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from . import rle as bundled

NAME = "pylibjpeg-rle"
PACKAGE = "pylibjpeg-rle"
IMPORT = "rle"


def decode(data: bytes, rows: int, columns: int, bits_allocated: int) -> npt.NDArray[np.integer]:
    if bits_allocated not in (8, 16):
        return bundled.decode(data, rows, columns, bits_allocated)
    from rle.rle import decode_frame

    try:
        decoded = decode_frame(data, rows * columns, bits_allocated, "<")
    except (ValueError, RuntimeError, OverflowError):
        return bundled.decode(data, rows, columns, bits_allocated)  # its message names what is wrong
    array = np.frombuffer(decoded, dtype="<u2" if bits_allocated == 16 else np.uint8)
    if array.size != rows * columns:
        return bundled.decode(data, rows, columns, bits_allocated)
    return array.reshape(rows, columns).astype(np.uint16 if bits_allocated == 16 else np.uint8, copy=False)

"""JPEG 2000 Lossless (1.2.840.10008.1.2.4.90) through pylibjpeg-openjpeg.

SIGINT and SIGTERM are held back while OpenJPEG codes a frame and delivered after it
(:func:`~dicomlabelmap.outputs.signals_held`): the command line turns them into an
exception, and one raised while OpenJPEG runs (it calls back into Python) crashed the process
with a segmentation fault (an encode stopped with SIGTERM, every time), leaving its staging
folder and helper process behind.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import DicomLabelMapError, InvalidDicomError, optional_import
from ...outputs import signals_held
from .jpegls import _checked

NAME = "pylibjpeg-openjpeg"
PACKAGE = "pylibjpeg-openjpeg"
IMPORT = "openjpeg"


def _module() -> Any:
    return optional_import(IMPORT, PACKAGE, "JPEG 2000 compression")


#: pylibjpeg-openjpeg always uses 6 wavelet resolutions, which need 2**5 pixels per side.
MIN_SIDE = 32


def encode(frame: npt.NDArray[np.integer]) -> bytes:
    if min(frame.shape) < MIN_SIDE:
        raise DicomLabelMapError(
            f"JPEG 2000 through {PACKAGE} needs frames of at least {MIN_SIDE}x{MIN_SIDE} pixels, these are "
            f"{frame.shape[0]}x{frame.shape[1]}; choose another transfer syntax"
        )
    bits = 16 if frame.dtype.itemsize == 2 else 8
    with signals_held():  # see the module description
        return bytes(_module().encode(np.ascontiguousarray(frame), bits_stored=bits, photometric_interpretation=0, use_mct=False))


def decode(data: bytes, rows: int, columns: int, bits_allocated: int) -> npt.NDArray[np.integer]:
    try:
        with signals_held():  # see the module description
            array = _module().decode(data)
    except (RuntimeError, ValueError) as error:
        raise InvalidDicomError(f"JPEG 2000 frame cannot be decoded ({error})", attribute="PixelData") from error
    if bits_allocated == 1:
        # 1-bit frames come back unpacked (one value per pixel); pack them like native frames.
        return np.packbits(_checked(array, rows, columns, 8).ravel() != 0, bitorder="little").reshape(1, -1)
    return _checked(array, rows, columns, bits_allocated)

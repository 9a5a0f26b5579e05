"""A minimal sRGB ICC profile (ICC.1 version 2.1, display class), built here so that PALETTE
COLOR label maps need no extra package. Primaries and white point are the sRGB ones adapted to
the D50 profile connection space (Bradford), as ICC profiles state them; the tone curve is the
sRGB transfer function sampled at 1024 points."""

from __future__ import annotations

import struct
from functools import lru_cache

import numpy as np

_D50 = (0.9642, 1.0, 0.8249)
_PRIMARIES = {b"rXYZ": (0.4361, 0.2225, 0.0139), b"gXYZ": (0.3851, 0.7169, 0.0971), b"bXYZ": (0.1431, 0.0606, 0.7141)}
DESCRIPTION = "sRGB (LabelMapSeg)"


def _s15fixed16(values: tuple[float, ...]) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _xyz(values: tuple[float, float, float]) -> bytes:
    return b"XYZ \x00\x00\x00\x00" + _s15fixed16(values)


def _curve() -> bytes:
    x = np.linspace(0.0, 1.0, 1024)
    y = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    return b"curv\x00\x00\x00\x00" + struct.pack(">I", len(y)) + np.round(y * 65535).astype(">u2").tobytes()


def _description(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\x00"
    return (
        b"desc\x00\x00\x00\x00"
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + struct.pack(">II", 0, 0)
        + struct.pack(">HB", 0, 0)
        + b"\x00" * 67
    )


def _text(text: str) -> bytes:
    return b"text\x00\x00\x00\x00" + text.encode("ascii") + b"\x00"


@lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """The profile's bytes (a few kilobytes)."""
    curve = _curve()
    tags: list[tuple[bytes, bytes]] = [
        (b"desc", _description(DESCRIPTION)),
        (b"cprt", _text("No copyright, use freely")),
        (b"wtpt", _xyz(_D50)),
        *[(signature, _xyz(values)) for signature, values in _PRIMARIES.items()],
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, blocks, placed = [], [], {}
    for signature, data in tags:
        if data not in placed:  # the three tone curves share one block
            placed[data] = offset
            padded = data + b"\x00" * (-len(data) % 4)
            blocks.append(padded)
            offset += len(padded)
        entries.append(struct.pack(">4sII", signature, placed[data], len(data)))
    body = struct.pack(">I", len(tags)) + b"".join(entries) + b"".join(blocks)
    size = 128 + len(body)
    header = (
        struct.pack(">I", size)
        + b"\x00\x00\x00\x00"  # preferred CMM: none
        + struct.pack(">I", 0x02100000)  # version 2.1
        + b"mntr"
        + b"RGB "
        + b"XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\x00" * 4  # platform
        + b"\x00" * 4  # flags
        + b"\x00" * 8  # device manufacturer and model
        + b"\x00" * 8  # device attributes
        + struct.pack(">I", 0)  # perceptual intent
        + _s15fixed16(_D50)
        + b"\x00" * 4  # creator
        + b"\x00" * 44  # profile ID and reserved
    )
    assert len(header) == 128
    return header + body

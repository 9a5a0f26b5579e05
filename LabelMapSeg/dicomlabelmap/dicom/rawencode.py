"""Explicit VR Little Endian encoding of small, repetitive data elements, for the Per-Frame
Functional Groups Sequence: hundreds of items that differ in a few values. Building them as
pydicom Datasets and writing them through pydicom costs more than the pixel data; here each
item is a few ``struct.pack`` calls. The counterpart of :mod:`~dicomlabelmap.dicom.rawsequence`,
which reads such bytes.

The result goes into the dataset as a raw element (``raw_sequence_element``), which pydicom
writes as it is when the dataset is written in the same encoding and parses if read.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from ..model.segment import Code

#: VRs whose length field is 32 bits in explicit VR (PS3.5 7.1.2).
_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}


def element(tag: int, vr: str, value: bytes) -> bytes:
    """One data element; the value is padded to even length (UI with NUL, others with space)."""
    if len(value) % 2:
        value += b"\x00" if vr in ("UI", "OB", "UN") else b" "
    group, number = tag >> 16, tag & 0xFFFF
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHI", group, number, vr.encode("ascii"), 0, len(value)) + value
    return struct.pack("<HH2sH", group, number, vr.encode("ascii"), len(value)) + value


def text(tag: int, vr: str, value: str) -> bytes:
    return element(tag, vr, value.encode("utf-8"))


def item(content: bytes) -> bytes:
    """A sequence item of defined length."""
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(content)) + content


def sequence(tag: int, items: Iterable[bytes]) -> bytes:
    """A sequence of defined length holding already encoded item contents."""
    return element(tag, "SQ", b"".join(item(content) for content in items))


def code_item(code: Code) -> bytes:
    """Content of a Code Sequence item: Code Value, Coding Scheme Designator, Code Meaning."""
    return text(0x00080100, "SH", code.value) + text(0x00080102, "SH", code.scheme) + text(0x00080104, "LO", code.meaning)


def decimal_strings(values: Iterable[float]) -> str:
    """A multi-valued DS: each number in at most 16 characters (10 significant digits)."""
    return "\\".join(f"{value:.10g}" for value in values)


def raw_sequence_element(tag: int, encoded: bytes) -> RawDataElement:
    """A raw SQ element from :func:`sequence`'s output, for a pydicom Dataset."""
    header = 12  # tag, VR, reserved, 32-bit length
    return RawDataElement(Tag(tag), "SQ", len(encoded) - header, encoded[header:], 0, False, True)

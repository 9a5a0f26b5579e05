"""Image headers read only as far as needed, without pydicom's reader.

A reference series is a few hundred image files whose headers (a hundred elements before
the pixel data) are all the conversion needs. pydicom's ``dcmread(stop_before_pixels=True)``
reads each element through a Python generator; here the elements up to the pixel data are
split from the file's first bytes with ``struct`` and handed to pydicom as the undecoded
elements its own reader would have produced (values are decoded by pydicom when used), so the
result is the same :class:`~pydicom.dataset.FileDataset`.

Only the plain case takes this path: a DICOM file with its preamble and File Meta Information,
little endian (implicit or explicit VR; encapsulated pixel data is fine), no element of
undefined length before the pixel data. Anything else returns ``None`` and the caller reads
the file with pydicom.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element, empty_value_for_VR
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import PrivateTransferSyntaxes

from .rawsequence import _LONG_VRS, _SHORT_VRS

_IMPLICIT_LITTLE = "1.2.840.10008.1.2"
#: Transfer syntaxes whose data set is not explicit VR little endian as written.
_OTHER_ENCODINGS = frozenset({"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"})
_PRIVATE_SYNTAXES = frozenset(str(uid) for uid in PrivateTransferSyntaxes)
#: Where pydicom's ``stop_before_pixels`` stops: (7FE0,0008), (7FE0,0009), (7FE0,0010).
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_UNDEFINED = 0xFFFFFFFF
_TAG_VR_SHORT = struct.Struct("<HH2sH")
_LONG_LENGTH = struct.Struct("<I")
_VR_NAMES = {vr: vr.decode("ascii") for vr in _LONG_VRS | _SHORT_VRS}
#: First read; a header longer than this is read again, whole.
_FIRST_READ = 1 << 15


class _Unusual(Exception):
    """Not the plain case: pydicom reads the file."""


class _Truncated(Exception):
    """The bytes read end inside the header."""


def read_image_header(path: Path) -> FileDataset | None:
    """The header of ``path`` (every element before the pixel data), as ``pydicom.dcmread(path,
    stop_before_pixels=True)`` gives it; ``None`` when the file is not the plain case."""
    with open(path, "rb") as handle:
        found = read_plain_header(handle, path)
    return None if found is None else found[0]


def read_plain_header(handle: BinaryIO, path: Path) -> tuple[FileDataset, int] | None:
    """As :func:`read_image_header`, from an open file (read from its start); also returns the
    byte position where the header ends (the pixel data's element, or the end of the file)."""
    handle.seek(0)
    data = handle.read(_FIRST_READ)
    complete = len(data) < _FIRST_READ
    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    try:
        meta, position = _elements(data, 132, False, True, complete)
        syntax = _text(meta.get(BaseTag(0x00020010)))
        if not syntax or syntax in _OTHER_ENCODINGS or syntax in _PRIVATE_SYNTAXES:
            return None
        implicit = syntax == _IMPLICIT_LITTLE
        try:
            elements, stop = _elements(data, position, implicit, False, complete)
        except _Truncated:
            if complete:
                return None
            data += handle.read()  # a long header: the rest of the file, once
            elements, stop = _elements(data, position, implicit, False, True)
    except (_Unusual, _Truncated, struct.error):
        return None
    file_meta = FileMetaDataset(meta)
    file_meta.set_original_encoding(False, True, default_encoding)
    charset = elements.get(BaseTag(0x00080005))
    encoding = convert_encodings(convert_raw_data_element(charset).value) if isinstance(charset, RawDataElement) else default_encoding
    dataset = Dataset(elements)
    dataset.set_original_encoding(implicit, True, encoding)
    result = FileDataset(str(path), dataset, data[:128], file_meta, implicit, True)
    result.set_original_encoding(implicit, True, dataset._character_set)
    return result, stop


def _elements(
    data: bytes, position: int, implicit: bool, meta: bool, complete: bool
) -> tuple[dict[BaseTag, DataElement | RawDataElement], int]:
    """The top-level elements from ``position``: the group 0002 elements (``meta``), or those up
    to the pixel data / the end of the file. Returns them and where the walk stopped."""
    found: dict[BaseTag, DataElement | RawDataElement] = {}
    end = len(data)
    last = -1
    unpack_short, unpack_long = _TAG_VR_SHORT.unpack_from, _LONG_LENGTH.unpack_from
    while True:
        if position + 8 > end:
            if position >= end and complete:
                break
            raise _Truncated  # the header may go on past what was read
        group, element, raw_vr, short = unpack_short(data, position)
        tag = (group << 16) | element
        if meta and group != 2:
            break
        if not meta and tag in _PIXEL_TAGS:
            break
        if tag <= last or (not meta and group < 8):
            raise _Unusual  # out of order, or a command / misplaced meta element: pydicom decides
        last = tag
        if implicit:
            vr = None
            (length,) = unpack_long(data, position + 4)
            start = position + 8
        else:
            vr = _VR_NAMES.get(raw_vr)
            if vr is None:
                raise _Unusual
            if raw_vr in _LONG_VRS:
                if position + 12 > end:
                    raise _Truncated
                (length,) = unpack_long(data, position + 8)
                start = position + 12
            else:
                length, start = short, position + 8
        if length == _UNDEFINED:
            raise _Unusual  # a sequence of undefined length: left to pydicom
        stop = start + length
        if stop > end:
            raise _Truncated
        key = BaseTag(tag)
        value = data[start:stop] if length else empty_value_for_VR(vr, raw=True)  # b"" or None when empty, as pydicom reads it
        found[key] = RawDataElement(key, vr, length, value, start, implicit, True)  # type: ignore[arg-type]
        position = stop
    return found, position


def _text(element: DataElement | RawDataElement | None) -> str:
    if not isinstance(element, RawDataElement) or not element.value:
        return ""
    return bytes(element.value).decode("ascii", errors="replace").strip(" \x00")

"""The outline of a DICOM file: where its data set starts, how it is encoded, and where a file
cut short ends, found by walking the element headers only (PS3.5 7.1 data elements, 7.5 nested
data sets, A.4 encapsulated pixel data), never decoding a value.

pydicom reads a truncated file in several ways: a value shorter than its declared length and no
word about it, a warning ("End of file reached before delimiter") with an *empty* data set when
encapsulated pixel data is cut, or ``OSError: No tag to read at file position ...``. The walk
here names what the user needs to know instead: the element the file ends in and how many of its
bytes are present ("truncated at byte N of its pixel data").
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from pydicom.datadict import keyword_for_tag

#: Offset of the ``DICM`` marker after the 128-byte preamble (PS3.10 7.1).
_MARKER = 128
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_UNDEFINED = 0xFFFFFFFF
#: Value Representations with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_VRS = _LONG_VRS | frozenset(b"AE AS AT CS DA DS DT FD FL IS LO LT PN SH SL SS ST TM UI UL US".split())
_PIXEL_DATA_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_NUMBER_OF_FRAMES = 0x00280008
_MAX_DEPTH = 64
_IMPLICIT_LITTLE = "1.2.840.10008.1.2"
_EXPLICIT_BIG = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
#: Groups a data set written without preamble and File Meta Information starts with: the File
#: Meta group itself, or the Identifying group 0008 (Specific Character Set, Image Type, SOP
#: Class UID, ...), as old systems and pydicom's own test files write them.
_FIRST_GROUPS = (0x0002, 0x0008)


@dataclass(frozen=True)
class Layout:
    """How a file's data set is stored."""

    #: Offset of the data set's first element (after the File Meta Information).
    start: int
    implicit: bool
    little: bool
    transfer_syntax: str
    #: No preamble and ``DICM`` marker (pydicom reads such files only when forced).
    raw: bool

    @property
    def deflated(self) -> bool:
        return self.transfer_syntax == DEFLATED


@dataclass(frozen=True)
class Truncation:
    """Where a file cut short ends."""

    #: File size (bytes).
    size: int
    #: The top-level element the file ends in, ``None`` when it ends in an element header.
    tag: int | None
    #: That element's declared value length (``None``: undefined length).
    declared: int | None
    #: Bytes of its value present in the file.
    present: int
    #: The file ends in its deflated data set (PS3.5 A.5): no element can be named.
    in_deflated: bool = False

    @property
    def keyword(self) -> str | None:
        if self.tag is None:
            return None
        return keyword_for_tag(self.tag) or f"({self.tag >> 16:04X},{self.tag & 0xFFFF:04X})"

    @property
    def in_pixel_data(self) -> bool:
        return self.tag in _PIXEL_DATA_TAGS

    def reason(self) -> str:
        """One sentence for the user."""
        if self.in_deflated:
            return f"the file is truncated at byte {self.size} (its deflated data set ends early)"
        if self.in_pixel_data:
            if self.declared is None:
                return f"the file is truncated at byte {self.present} of its pixel data (its encapsulated frames end early)"
            return f"the file is truncated at byte {self.present} of its pixel data ({self.declared} declared)"
        if self.tag is None:
            return f"the file is truncated at byte {self.size}, inside an element header"
        declared = f" ({self.declared} bytes declared, {self.present} present)" if self.declared is not None else ""
        return f"the file is truncated at byte {self.size}, inside {self.keyword}{declared}"


class _Short(Exception):
    """The file ends before the element being walked."""


class _Malformed(Exception):
    """The bytes are not DICOM elements as expected: nothing can be said about truncation."""


def layout(data: bytes) -> Layout | None:
    """The layout from the file's bytes (at least its first few kilobytes; the whole file when the
    File Meta Information is longer), or ``None`` when the bytes do not start like DICOM."""
    if len(data) >= _MARKER + 4 and data[_MARKER : _MARKER + 4] == b"DICM":
        return _with_meta(data, _MARKER + 4, raw=False)
    if len(data) < 8:
        return None
    group, element = struct.unpack_from("<HH", data, 0)
    if group not in _FIRST_GROUPS:
        return None
    if group == 0x0002:
        return _with_meta(data, 0, raw=True)
    explicit = data[4:6] in _VRS
    if not explicit:
        (length,) = struct.unpack_from("<I", data, 4)
        if length != _UNDEFINED and length > (1 << 31):
            return None
    return Layout(0, not explicit, True, "" if explicit else _IMPLICIT_LITTLE, raw=True)


def _with_meta(data: bytes, position: int, raw: bool) -> Layout | None:
    """Walk the File Meta Information (explicit VR little endian, group 0002) for the Transfer
    Syntax UID; the data set starts after it."""
    syntax = ""
    while position + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, position)
        if group != 0x0002:
            break
        vr = bytes(data[position + 4 : position + 6])
        if vr not in _VRS:
            return None
        if vr in _LONG_VRS:
            if position + 12 > len(data):
                return None
            (length,) = struct.unpack_from("<I", data, position + 8)
            start = position + 12
        else:
            (length,) = struct.unpack_from("<H", data, position + 6)
            start = position + 8
        if length == _UNDEFINED:
            return None
        if element == 0x0010:
            syntax = bytes(data[start : start + length]).decode("ascii", "replace").strip(" \x00")
        position = start + length
    implicit = syntax == _IMPLICIT_LITTLE
    return Layout(position, implicit, syntax != _EXPLICIT_BIG, syntax or "1.2.840.10008.1.2.1", raw)


def find_truncation(data: bytes, file_layout: Layout) -> Truncation | None:
    """Where the file ``data`` (its whole content, or a memory map of it) ends before its last
    element does; ``None`` when it is complete or too malformed to tell."""
    return walk(data, file_layout)[0]


def walk(data: bytes, file_layout: Layout) -> tuple[Truncation | None, int | None]:
    """:func:`find_truncation`, and where the Sequence Delimitation Item closing encapsulated
    Pixel Data should start when only (part of) it is missing (every frame present)."""
    if file_layout.deflated:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            inflated = inflater.decompress(data[file_layout.start :])
        except zlib.error:
            return None, None
        if not inflater.eof:
            return Truncation(len(data), None, None, 0, in_deflated=True), None
        walker = _Walker(inflated, implicit=False, little=True)
        start = 0
    else:
        walker = _Walker(data, file_layout.implicit, file_layout.little)
        start = file_layout.start
    try:
        walker.elements(start, depth=0)
    except _Short:
        size = len(walker.data)
        if walker.top is None:
            return Truncation(size, None, None, 0), None
        tag, value_start, declared = walker.top
        return Truncation(size, tag, declared, max(0, size - value_start)), None
    except (_Malformed, struct.error, RecursionError):
        return None, None
    return None, walker.unterminated


def pixel_data_truncation(data: bytes, position: int, file_layout: Layout, frames: int) -> Truncation | None:
    """Whether the Pixel Data element at ``position`` (where a header-only read stopped) runs past
    the end of ``data``. Encapsulated pixel data is walked fragment by fragment."""
    walker = _Walker(data, file_layout.implicit, file_layout.little)
    walker.frames = frames
    try:
        walker.elements(position, depth=0, count=1)
    except _Short:
        if walker.top is None:
            return Truncation(len(data), None, None, 0)
        tag, value_start, declared = walker.top
        return Truncation(len(data), tag, declared, max(0, len(data) - value_start))
    except (_Malformed, struct.error, RecursionError):
        return None
    return None


class _Walker:
    def __init__(self, data: bytes, implicit: bool, little: bool) -> None:
        self.data = data
        self.implicit = implicit
        self.order = "<" if little else ">"
        #: ``(tag, value start, declared length)`` of the top-level element being walked.
        self.top: tuple[int, int, int | None] | None = None
        #: Number of Frames, once seen (encapsulated pixel data is complete only with as many fragments).
        self.frames = 0
        #: Where the closing delimiter of encapsulated Pixel Data should start, when only it is missing.
        self.unterminated: int | None = None

    def _tag(self, position: int) -> int:
        group, element = struct.unpack_from(self.order + "HH", self.data, position)
        return int(group) << 16 | int(element)

    def elements(self, position: int, depth: int, count: int | None = None) -> int:
        """Walk data elements from ``position`` to the end of the data (``depth`` 0) or to the
        Item Delimitation Item of the item they are in; returns the position after them."""
        if depth > _MAX_DEPTH:
            raise _Malformed
        size = len(self.data)
        walked = 0
        while position < size or depth > 0:
            if count is not None and walked == count:
                return position
            if depth == 0:
                self.top = None
            if position + 8 > size:
                raise _Short
            tag = self._tag(position)
            if depth > 0 and tag == _ITEM_END:
                return position + 8
            if tag >> 16 == 0xFFFE:
                raise _Malformed
            vr = bytes(self.data[position + 4 : position + 6])
            if self.implicit:
                (length,) = struct.unpack_from(self.order + "I", self.data, position + 4)
                start = position + 8
            elif vr not in _VRS:
                raise _Malformed
            elif vr in _LONG_VRS:
                if position + 12 > size:
                    raise _Short
                (length,) = struct.unpack_from(self.order + "I", self.data, position + 8)
                start = position + 12
            else:
                (length,) = struct.unpack_from(self.order + "H", self.data, position + 6)
                start = position + 8
            declared = None if length == _UNDEFINED else int(length)
            if depth == 0:
                self.top = (tag, start, declared)
            if declared is None:
                position = self._items(start, depth + 1, pixel_data=depth == 0 and tag in _PIXEL_DATA_TAGS)
            else:
                if start + declared > size:
                    raise _Short
                if depth == 0 and tag == _NUMBER_OF_FRAMES:
                    self.frames = _integer(bytes(self.data[start : start + declared]))
                position = start + declared
            walked += 1
        return position

    def _items(self, position: int, depth: int, pixel_data: bool) -> int:
        """Walk the items of an undefined-length value (a sequence, or encapsulated frames) to
        its Sequence Delimitation Item; returns the position after it."""
        size = len(self.data)
        items = 0
        while True:
            rest = bytes(self.data[position:size])
            if pixel_data and depth == 1 and len(rest) < 8 and _DELIMITER.startswith(rest) and items - 1 >= max(self.frames, 1):
                self.unterminated = position  # only (part of) the closing delimiter is missing: every frame is there
                return size
            if position + 8 > size:
                raise _Short
            tag = self._tag(position)
            (length,) = struct.unpack_from(self.order + "I", self.data, position + 4)
            if tag == _SEQUENCE_END:
                return position + 8
            if tag != _ITEM:
                raise _Malformed
            items += 1
            if length == _UNDEFINED:
                if pixel_data:
                    raise _Malformed
                position = self.elements(position + 8, depth + 1)
            elif position + 8 + length > size:
                raise _Short
            else:
                position += 8 + length


def _integer(value: bytes) -> int:
    try:
        return int(value.decode("ascii").strip(" \x00"))
    except (UnicodeDecodeError, ValueError):
        return 0

"""Undecoded sequences: the items of a little endian Sequence of Items (explicit VR, or implicit
VR), split from its value bytes without building a pydicom Dataset for each.

A multi-frame file holds one Per-Frame Functional Groups item per frame; pydicom parses all
of them (thousands of nested datasets) the first time the sequence is touched, which costs
more than decoding the frames of a BINARY SEG. :class:`RawItems` splits the value into items
and each item into its top-level elements by walking the element headers only; an item is
parsed by pydicom when somebody asks for it as a Dataset.

The same walk reads the ROI Contour Sequence of RT Structure Sets (thousands of contour items)
without a look-up per attribute. In implicit VR an element of undefined length is a nested
sequence; one of defined length is kept as its bytes (read as a sequence only when asked).

Everything is bounds-checked: anything unexpected (a length that runs past its container, an
unknown Value Representation, trailing bytes) raises :class:`RawFormatError` and the caller
falls back to pydicom's own reading.
"""

from __future__ import annotations

import struct
from io import BytesIO

from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset

_ITEM = (0xFFFE, 0xE000)
_ITEM_END = (0xFFFE, 0xE00D)
_SEQUENCE_END = (0xFFFE, 0xE0DD)
_UNDEFINED = 0xFFFFFFFF
# Value Representations with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_SHORT_VRS = frozenset(b"AE AS AT CS DA DS DT FD FL IS LO LT PN SH SL SS ST TM UI UL US".split())
_HEADER = struct.Struct("<HH")
#: Nested sequences deeper than this are refused (a hostile file could recurse forever).
_MAX_DEPTH = 32


class RawFormatError(ValueError):
    """The bytes are not a well-formed little endian sequence value."""


Span = tuple[int, int]


class RawItems:
    """The items of one sequence value: ``len``, each item's top-level element spans, and
    each item as a pydicom Dataset (parsed on demand, cached)."""

    def __init__(self, value: bytes, implicit: bool = False) -> None:
        self.value = value
        self.implicit = implicit
        self.items: list[tuple[Span, dict[int, Span]]] = []
        end = _walk_items(value, 0, len(value), self.items, depth=0, defined=True, implicit=implicit)
        if end != len(value):
            raise RawFormatError(f"{len(value) - end} bytes after the last item")
        self._parsed: dict[int, Dataset] = {}

    def __len__(self) -> int:
        return len(self.items)

    def element_value(self, index: int, tag: int) -> bytes | None:
        """The value bytes of top-level element ``tag`` of item ``index`` (``None`` if absent)."""
        span = self.items[index][1].get(tag)
        return None if span is None else self.value[span[0] : span[1]]

    def has(self, index: int, tag: int) -> bool:
        return tag in self.items[index][1]

    def sequence(self, index: int, tag: int) -> RawItems | None:
        """The items of nested sequence ``tag`` of item ``index`` (``None`` if absent)."""
        value = self.element_value(index, tag)
        return None if value is None else RawItems(value, self.implicit)

    def dataset(self, index: int) -> Dataset:
        parsed = self._parsed.get(index)
        if parsed is None:
            (start, stop), _ = self.items[index]
            parsed = read_dataset(BytesIO(self.value[start:stop]), is_implicit_VR=self.implicit, is_little_endian=True)
            self._parsed[index] = parsed
        return parsed


def _walk_items(
    data: bytes,
    position: int,
    end: int,
    found: list[tuple[Span, dict[int, Span]]] | None,
    depth: int,
    defined: bool,
    implicit: bool = False,
) -> int:
    """Walk the items of a sequence value starting at ``position``; returns the position after
    the value (after the Sequence Delimitation Item for an undefined length)."""
    if depth > _MAX_DEPTH:
        raise RawFormatError("sequences nested too deeply")
    while position < end:
        if position + 8 > end:
            raise RawFormatError(f"truncated item header at byte {position}")
        tag = _HEADER.unpack_from(data, position)
        (length,) = struct.unpack_from("<I", data, position + 4)
        if tag == _SEQUENCE_END:
            if defined:
                raise RawFormatError(f"Sequence Delimitation Item in a sequence of defined length at byte {position}")
            return position + 8
        if tag != _ITEM:
            raise RawFormatError(f"expected an Item tag at byte {position}, found ({tag[0]:04X},{tag[1]:04X})")
        start = position + 8
        if length == _UNDEFINED:
            elements: dict[int, Span] = {}
            stop = _walk_elements(data, start, end, elements if found is not None else None, depth, True, implicit)
            position = stop + 8
        else:
            stop = start + length
            if stop > end:
                raise RawFormatError(f"item at byte {position} runs past its sequence")
            elements = {}
            if _walk_elements(data, start, stop, elements if found is not None else None, depth, False, implicit) != stop:
                raise RawFormatError(f"item at byte {position} does not end on an element boundary")
            position = stop
        if found is not None:
            found.append(((start, stop), elements))
    if not defined:
        raise RawFormatError("sequence of undefined length without a Sequence Delimitation Item")
    return position


def _walk_elements(
    data: bytes, position: int, end: int, found: dict[int, Span] | None, depth: int, until_item_end: bool, implicit: bool = False
) -> int:
    """Walk the data elements from ``position``; returns the end position (the Item
    Delimitation Item's position when ``until_item_end``)."""
    while position < end:
        if position + 8 > end:
            raise RawFormatError(f"truncated element header at byte {position}")
        group, element = _HEADER.unpack_from(data, position)
        if (group, element) == _ITEM_END:
            if not until_item_end:
                raise RawFormatError(f"Item Delimitation Item in an item of defined length at byte {position}")
            return position
        vr = b"" if implicit else data[position + 4 : position + 6]
        if implicit:
            (length,) = struct.unpack_from("<I", data, position + 4)
            start = position + 8
            if length == _UNDEFINED:
                vr = b"SQ"  # PS3.5 7.5: in implicit VR only a sequence (or pixel data) has an undefined length
        elif vr in _LONG_VRS:
            if position + 12 > end:
                raise RawFormatError(f"truncated element header at byte {position}")
            (length,) = struct.unpack_from("<I", data, position + 8)
            start = position + 12
        elif vr in _SHORT_VRS:
            (length,) = struct.unpack_from("<H", data, position + 6)
            start = position + 8
        else:
            raise RawFormatError(f"unknown Value Representation {vr!r} at byte {position}")
        if length == _UNDEFINED:
            if vr != b"SQ":
                raise RawFormatError(f"undefined length for VR {vr.decode('ascii', 'replace')} at byte {position}")
            stop = _walk_items(data, start, end, None, depth + 1, False, implicit)
            value_end = stop - 8
        else:
            stop = value_end = start + length
            if stop > end:
                raise RawFormatError(f"element at byte {position} runs past its item")
            # A nested sequence of defined length is skipped whole; pydicom checks it if the
            # item is ever parsed.
        if found is not None:
            found[(group << 16) | element] = (start, value_end)
        position = stop
    if until_item_end:
        raise RawFormatError("item of undefined length without an Item Delimitation Item")
    return position

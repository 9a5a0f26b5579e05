"""The ROI Contour Sequence (3006,0039) read without a pydicom look-up per attribute.

A real structure set holds thousands of contour items (a body outline alone several hundred);
through pydicom every attribute of every item is a look-up and a value conversion. Here the
sequence is walked as bytes (:class:`~dicomlabelmap.dicom.rawsequence.RawItems`, explicit or
implicit VR little endian) or, when pydicom has already split it into items, each item's raw
elements are read directly. Only well-formed contours take this path: a contour with anything
unusual (an unknown geometric type, Contour Data that is not a list of finite numbers, a
point count that disagrees, a Contour Offset Vector) is read by the reader's own pydicom path,
which reports it exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from ..dicom.processes import can_fork, map_in_two_processes
from ..dicom.rawsequence import RawFormatError, RawItems
from ..model.geometry import FloatArray

ROI_CONTOUR_SEQUENCE = 0x30060039
REFERENCED_ROI_NUMBER = 0x30060084
ROI_DISPLAY_COLOR = 0x3006002A
CONTOUR_SEQUENCE = 0x30060040
CONTOUR_GEOMETRIC_TYPE = 0x30060042
NUMBER_OF_CONTOUR_POINTS = 0x30060046
CONTOUR_DATA = 0x30060050
CONTOUR_IMAGE_SEQUENCE = 0x30060016
CONTOUR_SLAB_THICKNESS = 0x30060044
CONTOUR_OFFSET_VECTOR = 0x30060045
REFERENCED_SOP_INSTANCE_UID = 0x00081155


class Unusual(Exception):
    """An element this module does not read itself (already converted, or an odd value)."""


class Node:
    """One item of a sequence: its elements' value bytes and nested sequences, and the item as
    a pydicom Dataset for whatever the fast path leaves to pydicom."""

    def __init__(self, raw: RawItems | None = None, index: int = 0, dataset: Dataset | None = None) -> None:
        self._raw, self._index, self._dataset = raw, index, dataset

    def value(self, tag: int) -> bytes | None:
        """The undecoded value of ``tag`` (``None`` when absent); :class:`Unusual` when pydicom
        has already converted it."""
        if self._raw is not None:
            return self._raw.element_value(self._index, tag)
        element = self._dataset.get_item(tag) if self._dataset is not None else None
        if element is None:
            return None
        if isinstance(element, RawDataElement) and isinstance(element.value, (bytes, type(None))):
            return element.value or b""
        raise Unusual

    def items(self, tag: int) -> list[Node]:
        """The items of nested sequence ``tag`` (empty when absent)."""
        if self._raw is not None:
            nested = self._raw.sequence(self._index, tag)
            return [] if nested is None else [Node(nested, index) for index in range(len(nested))]
        return sequence_nodes(self._dataset.get_item(tag) if self._dataset is not None else None)

    def dataset(self) -> Dataset:
        if self._dataset is None:
            assert self._raw is not None
            self._dataset = self._raw.dataset(self._index)
        return self._dataset


def sequence_nodes(element: Any) -> list[Node]:
    """The items of a sequence element as read by pydicom: walked as bytes when pydicom kept
    them undecoded (a sequence of defined length), else pydicom's own items."""
    if element is None:
        return []
    if isinstance(element, RawDataElement):
        if isinstance(element.value, bytes) and element.is_little_endian:
            try:
                raw = RawItems(element.value, bool(element.is_implicit_VR))
            except RawFormatError:
                raw = None
            if raw is not None:
                return [Node(raw, index) for index in range(len(raw))]
        raise Unusual
    return [Node(dataset=item) for item in (element.value or [])]


def roi_contour_nodes(dataset: Dataset) -> list[Node]:
    """The ROI Contour Sequence's items; pydicom's own items when the bytes are unusual."""
    try:
        return sequence_nodes(dataset.get_item(ROI_CONTOUR_SEQUENCE))
    except Unusual:
        return [Node(dataset=item) for item in dataset.get("ROIContourSequence", [])]


def text(value: bytes | None) -> str | None:
    """An ASCII value without its padding; :class:`Unusual` for other bytes."""
    if value is None:
        return None
    try:
        return value.decode("ascii").strip(" \x00")
    except UnicodeDecodeError as error:
        raise Unusual from error


def integer(value: bytes | None) -> int | None:
    """An IS value (``None`` when absent or empty); :class:`Unusual` when it is not a plain integer."""
    found = text(value)
    if not found:
        return None
    try:
        return int(found)
    except ValueError as error:
        raise Unusual from error


def numbers(value: bytes | None) -> FloatArray:
    """A multi-valued DS as floats (empty when absent); :class:`Unusual` when a value is not a
    finite number."""
    found = text(value)
    if not found:
        return np.zeros(0, dtype=np.float64)
    try:
        data = np.array(found.split("\\"), dtype=np.float64)  # numpy accepts the padding spaces
    except ValueError as error:
        raise Unusual from error
    if not np.all(np.isfinite(data)):
        raise Unusual
    return data


#: Contour Data of at least this many bytes in all is parsed by two processes when asked (about
#: a third of a second of parsing; less costs more to fork and send back than it saves).
PARALLEL_MIN_BYTES = 8 << 20


def parse_contour_data(nodes: list[Node], processes: int = 1) -> list[FloatArray | None]:
    """Each contour item's Contour Data parsed as :func:`numbers` does, ``None`` where it is not
    plain (the item is then read in full, and reported). With ``processes=2`` and much data,
    half of the items are parsed by a forked helper (:mod:`~dicomlabelmap.dicom.processes`)."""

    def value(index: int) -> bytes | None:
        try:
            return nodes[index].value(CONTOUR_DATA)
        except (Unusual, RawFormatError):
            return None

    def parse(index: int) -> FloatArray | None:
        try:
            return numbers(value(index))
        except Unusual:
            return None

    # The sizes first (each value fetched and let go: the text is not held all at once).
    sizes = np.array([len(value(index) or b"") for index in range(len(nodes))] if processes > 1 else [0], dtype=np.int64)
    total = int(sizes.sum())
    if processes < 2 or total < PARALLEL_MIN_BYTES or not can_fork():
        return [parse(index) for index in range(len(nodes))]
    # Two halves of the bytes, each sent back as one list (a pickle, not one per contour).
    middle = int(np.searchsorted(np.cumsum(sizes), total / 2))
    halves = [range(0, middle), range(middle, len(nodes))]
    done = map_in_two_processes(lambda half: [parse(index) for index in halves[half]], [0], [1])
    return done[0] + done[1]


def fast_contour(node: Node, make: Callable[..., Any], types: Callable[[str], Any], max_points: int, data: FloatArray | None = None) -> Any:
    """A well-formed contour item as ``make(geometric_type, points, references, slab)``;
    :class:`Unusual` for anything the reader's pydicom path must look at. ``data``: its Contour
    Data already parsed (:func:`parse_contour_data`)."""
    try:
        geometric_type = types(text(node.value(CONTOUR_GEOMETRIC_TYPE)) or "")
    except ValueError as error:
        raise Unusual from error
    if node.value(CONTOUR_OFFSET_VECTOR):
        raise Unusual
    if data is None:
        data = numbers(node.value(CONTOUR_DATA))
    if data.size == 0 or data.size % 3 or data.size > 3 * max_points:
        raise Unusual
    points = data.reshape(-1, 3)
    declared = integer(node.value(NUMBER_OF_CONTOUR_POINTS))
    if declared is not None and declared != len(points):
        raise Unusual
    slab = numbers(node.value(CONTOUR_SLAB_THICKNESS))
    if slab.size > 1:
        raise Unusual
    references = tuple(uid for item in node.items(CONTOUR_IMAGE_SEQUENCE) if (uid := text(item.value(REFERENCED_SOP_INSTANCE_UID))))
    points.flags.writeable = False
    return make(geometric_type, points, references, float(slab[0]) if slab.size else None)

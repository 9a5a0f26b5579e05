"""Functional groups of multi-frame DICOM objects (PS3.3 C.7.6.16): per frame, else shared.

The Per-Frame Functional Groups Sequence is read from its undecoded bytes where pydicom left it
raw (:mod:`.rawsequence`), so that thousands of frames do not each become a pydicom Dataset.
"""

from __future__ import annotations

import logging
import struct

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from ..errors import InvalidDicomError
from .rawsequence import RawFormatError, RawItems

logger = logging.getLogger(__name__)


class FunctionalGroups:
    """A multi-frame dataset's functional group items: per frame, else shared.

    The Per-Frame Functional Groups Sequence is split from its undecoded bytes when pydicom
    left it raw (see :mod:`rawsequence`), so thousands of frames do not each become a pydicom
    Dataset unless asked for; otherwise pydicom's sequence is used."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._raw: RawItems | None = None
        self._per_frame: list[Dataset] = []
        shared = dataset.get("SharedFunctionalGroupsSequence")
        self._shared: Dataset | None = shared[0] if shared else None
        if "PerFrameFunctionalGroupsSequence" not in dataset:
            return
        element = dataset.get_item("PerFrameFunctionalGroupsSequence")
        value = getattr(element, "value", None)
        if isinstance(value, bytes) and not getattr(element, "is_implicit_VR", True) and getattr(element, "is_little_endian", False):
            try:
                self._raw = RawItems(value)
            except RawFormatError as error:
                logger.debug("Per-Frame Functional Groups read by pydicom: %s", error)
        if self._raw is None:
            self._per_frame = list(dataset.PerFrameFunctionalGroupsSequence or [])

    def __len__(self) -> int:
        return len(self._raw) if self._raw is not None else len(self._per_frame)

    def group(self, index: int) -> Dataset | None:
        """Frame ``index``'s Per-Frame Functional Groups item."""
        if not 0 <= index < len(self):
            return None
        return self._raw.dataset(index) if self._raw is not None else self._per_frame[index]

    def item(self, index: int, sequence: str) -> Dataset | None:
        """Frame ``index``'s item of functional group ``sequence``: per-frame if there, else shared."""
        for group in (self.group(index), self._shared):
            if group is not None and sequence in group and len(group[sequence].value):
                return group[sequence].value[0]  # type: ignore[no-any-return]
        return None

    def items(self, count: int, sequence: str, keyword: str) -> list[Dataset]:
        """Each frame's item of ``sequence``, which must hold ``keyword``."""
        items = []
        for index in range(count):
            item = self.item(index, sequence)
            if item is None or keyword not in item:
                raise InvalidDicomError(f"frame {index + 1} has no {sequence} with {keyword}", attribute=sequence)
            items.append(item)
        return items

    def values(self, count: int, sequence: str, element: str) -> list[list[float]] | None:
        """One numeric element's values for every frame, read from the undecoded bytes of
        each frame's ``sequence`` (explicit VR little endian). ``None`` (use :meth:`items`)
        when any frame's group is not in that form, or when the first and last frames
        disagree with pydicom's reading."""
        if len(self) != count:
            return None
        sequence_tag = int(tag_for_keyword(sequence))  # type: ignore[arg-type]
        tag = int(tag_for_keyword(element))  # type: ignore[arg-type]
        vr = dictionary_VR(tag)
        header = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
        values: list[list[float]] = []
        for index in range(count):
            raw = self._raw_sequence(index, sequence, sequence_tag)
            if raw is None:
                return None
            start = raw.find(header)
            if start < 0 or raw.find(header, start + 1) >= 0:
                return None
            length = int.from_bytes(raw[start + 6 : start + 8], "little")
            value = raw[start + 8 : start + 8 + length]
            try:
                if vr == "US":
                    values.append([float(int.from_bytes(value[:2], "little"))])
                else:
                    values.append([float(v) for v in value.decode("ascii").strip(" \x00").split("\\")])
            except ValueError:
                return None
        for index in (0, count - 1):
            item = self.item(index, sequence)
            found = None if item is None else item.get(element)
            expected = [] if found is None else [float(v) for v in (found if isinstance(found, (list, MultiValue)) else [found])]
            if values[index] != expected:
                return None
        return values

    def _raw_sequence(self, index: int, sequence: str, tag: int) -> bytes | None:
        if self._raw is not None:
            return self._raw.element_value(index, tag)
        raw_element = self._per_frame[index].get_item(sequence)
        raw = getattr(raw_element, "value", None)
        if (
            not isinstance(raw, bytes)
            or getattr(raw_element, "is_implicit_VR", True)
            or not getattr(raw_element, "is_little_endian", False)
        ):
            return None
        return raw

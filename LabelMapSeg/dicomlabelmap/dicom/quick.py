"""Header values read straight from the bytes of elements pydicom has not converted yet.

Scanning a reference series asks each of a few hundred image headers for a dozen values (UIDs,
position, orientation, spacing, Instance Number). pydicom converts an element on its first use
through its value hooks and validation, some 40-90 microseconds each: most of a series' scan.
The values asked for here have VRs whose bytes are plain ASCII (UI, DS, IS, CS) or a 16-bit
number (US), so they are decoded here directly when the element is still raw and its VR is the
expected one (or implicit). Anything else (a value pydicom converted already, another VR, bytes
that are not ASCII, numbers that do not parse) goes through pydicom as before: the same values,
the same errors.
"""

from __future__ import annotations

import math

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

#: Tags read here, with the VR each has in the standard's dictionary.
TAGS = {
    "SOPClassUID": (BaseTag(0x00080016), "UI"),
    "SOPInstanceUID": (BaseTag(0x00080018), "UI"),
    "Modality": (BaseTag(0x00080060), "CS"),
    "SliceThickness": (BaseTag(0x00180050), "DS"),
    "SpacingBetweenSlices": (BaseTag(0x00180088), "DS"),
    "ReconstructionDiameter": (BaseTag(0x00181100), "DS"),
    "SeriesInstanceUID": (BaseTag(0x0020000E), "UI"),
    "AcquisitionNumber": (BaseTag(0x00200012), "IS"),
    "InstanceNumber": (BaseTag(0x00200013), "IS"),
    "ImagePositionPatient": (BaseTag(0x00200032), "DS"),
    "ImageOrientationPatient": (BaseTag(0x00200037), "DS"),
    "FrameOfReferenceUID": (BaseTag(0x00200052), "UI"),
    "Rows": (BaseTag(0x00280010), "US"),
    "Columns": (BaseTag(0x00280011), "US"),
    "PixelSpacing": (BaseTag(0x00280030), "DS"),
}


class _Slow(Exception):
    """Not decoded here: pydicom converts the element."""


def _raw_parts(dataset: Dataset, keyword: str) -> list[str] | None:
    """The element's values as stripped strings when it is raw ASCII of its expected VR; ``None``
    when absent; raises :class:`_Slow` otherwise."""
    tag, vr = TAGS[keyword]
    element = dataset._dict.get(tag)  # noqa: SLF001 - get_item would convert a deferred value; headers here are in memory
    if element is None:
        return None
    if not isinstance(element, RawDataElement) or element.VR not in (None, vr) or not isinstance(element.value, bytes) or vr == "US":
        raise _Slow
    try:
        text = element.value.decode("ascii")
    except UnicodeDecodeError:
        raise _Slow from None
    return [part.strip(" \0") for part in text.split("\\")]


def text(dataset: Dataset, keyword: str) -> str:
    """The value as text, as ``str(dataset.get(keyword, ""))`` gives it for a single value; several
    values joined with backslashes (whichever way it was read); ``""`` when absent or empty."""
    try:
        parts = _raw_parts(dataset, keyword)
    except _Slow:
        value = dataset.get(keyword)
        if value is None:
            return ""
        return "\\".join(str(v) for v in value) if isinstance(value, (MultiValue, list, tuple)) else str(value)
    return "" if parts is None else "\\".join(parts)


def numbers(dataset: Dataset, keyword: str) -> list[float] | None:
    """The value's numbers (DS), or ``None`` when they are not plain numbers read from the bytes:
    then the caller asks pydicom, which names what is wrong."""
    try:
        parts = _raw_parts(dataset, keyword)
        values = None if parts is None or any("_" in part for part in parts) else [float(part) for part in parts]
    except (_Slow, ValueError):
        return None
    return values if values is not None and all(math.isfinite(v) for v in values) else None


def unsigned_short(dataset: Dataset, keyword: str) -> int:
    """A US value (Rows, Columns): little-endian bytes decoded here, else through pydicom; 0 when
    absent or empty."""
    tag, _ = TAGS[keyword]
    element = dataset._dict.get(tag)  # noqa: SLF001 - see _raw_parts
    if isinstance(element, RawDataElement) and element.VR in (None, "US") and isinstance(element.value, bytes) and len(element.value) == 2:
        return int.from_bytes(element.value, "little" if element.is_little_endian else "big")
    return int(dataset.get(keyword, 0) or 0)

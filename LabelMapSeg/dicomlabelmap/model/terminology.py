"""Slicer terminology entry strings <-> coded concepts.

Slicer keeps a segment's codes in its ``TerminologyEntry`` tag as seven ``~``-separated
fields, each code written ``scheme^value^meaning``::

    context~category~type~type modifier~anatomic context~anatomic region~region modifier

for example::

    Segmentation category and type - 3D Slicer General Anatomy list~SCT^85756007^Tissue~SCT^85756007^Tissue~^^~
    Anatomic codes - DICOM master list~^^~^^

(one line in the file).
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import DicomLabelMapError
from .segment import Code, Segment

CATEGORY_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"


def code_to_field(code: Code | None) -> str:
    return "^^" if code is None else f"{code.scheme}^{code.value}^{code.meaning}"


def field_to_code(text: str) -> Code | None:
    parts = text.split("^")
    if len(parts) != 3:
        raise DicomLabelMapError(f"terminology code '{text}' is not scheme^value^meaning")
    scheme, value, meaning = parts
    if not scheme and not value:
        return None
    if not scheme or not value:
        raise DicomLabelMapError(f"terminology code '{text}' lacks its coding scheme or its code value")
    return Code(value, scheme, meaning)


def to_terminology_string(segment: Segment) -> str:
    """The Slicer terminology entry string of a segment's codes."""
    return "~".join(
        [
            CATEGORY_CONTEXT,
            code_to_field(segment.category),
            code_to_field(segment.type),
            code_to_field(segment.type_modifier),
            ANATOMIC_CONTEXT,
            code_to_field(segment.anatomic_region),
            code_to_field(segment.anatomic_region_modifier),
        ]
    )


def apply_terminology_string(segment: Segment, text: str) -> Segment:
    """A copy of ``segment`` with the codes of a Slicer terminology entry string.

    Raises
    ------
    DicomLabelMapError
        When the string does not have the seven fields or a code is malformed.
    """
    fields = text.split("~")
    if len(fields) != 7:
        raise DicomLabelMapError(f"terminology entry has {len(fields)} '~'-separated fields, expected 7: '{text}'")
    category, segment_type = field_to_code(fields[1]), field_to_code(fields[2])
    if category is None or segment_type is None:
        raise DicomLabelMapError(f"terminology entry lacks a category or a type: '{text}'")
    return replace(
        segment,
        category=category,
        type=segment_type,
        type_modifier=field_to_code(fields[3]),
        anatomic_region=field_to_code(fields[5]),
        anatomic_region_modifier=field_to_code(fields[6]),
    )

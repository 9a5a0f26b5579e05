"""Layer 1: Slicer terminology strings <-> codes."""

from __future__ import annotations

import pytest
from dicomlabelmap.errors import DicomLabelMapError
from dicomlabelmap.model.segment import TISSUE, Code, Segment, default_color
from dicomlabelmap.model.terminology import apply_terminology_string, to_terminology_string

SLICER_DEFAULT = (
    "Segmentation category and type - 3D Slicer General Anatomy list~SCT^85756007^Tissue~SCT^85756007^Tissue~^^"
    "~Anatomic codes - DICOM master list~^^~^^"
)


def test_default_segment_gives_slicers_default_string():
    assert to_terminology_string(Segment(1, "x")) == SLICER_DEFAULT


def test_round_trip_with_modifier_and_region():
    text = (
        "Segmentation category and type - 3D Slicer General Anatomy list~SCT^49755003^Morphologically Altered Structure"
        "~SCT^4147007^Mass~SCT^255503000^Entire~Anatomic codes - DICOM master list~SCT^23451007^Adrenal gland~SCT^24028007^Right"
    )
    segment = apply_terminology_string(Segment(1, "x"), text)
    assert segment.type == Code("4147007", "SCT", "Mass")
    assert segment.anatomic_region_modifier == Code("24028007", "SCT", "Right")
    assert to_terminology_string(segment) == text


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a~b", "expected 7"),
        ("c~SCT^1~SCT^2^x~^^~a~^^~^^", "scheme\\^value\\^meaning"),
        ("c~^^~^^~^^~a~^^~^^", "lacks a category"),
        ("c~SCT^^x~SCT^2^x~^^~a~^^~^^", "lacks its coding scheme or its code value"),
    ],
)
def test_malformed_strings_are_refused(text, match):
    with pytest.raises(DicomLabelMapError, match=match):
        apply_terminology_string(Segment(1, "x"), text)


def test_default_colors_are_stable_and_distinct():
    colors = [default_color(n) for n in range(1, 21)]
    assert len(set(colors)) == 20 and default_color(5) == colors[4]
    assert TISSUE.meaning == "Tissue"

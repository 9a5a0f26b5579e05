"""Segments: what a label value means (PS3.3 C.8.20.2 Segment Sequence, as Slicer keeps it)."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True)
class Code:
    """A coded concept: Code Value, Coding Scheme Designator, Code Meaning."""

    value: str
    scheme: str
    meaning: str

    def __str__(self) -> str:
        return f"({self.scheme}, {self.value}, '{self.meaning}')"


class SegmentAlgorithmType(str, Enum):
    """Segment Algorithm Type (0062,0008)."""

    MANUAL = "MANUAL"
    SEMIAUTOMATIC = "SEMIAUTOMATIC"
    AUTOMATIC = "AUTOMATIC"


#: Slicer's default terminology entry: category and type "Tissue" (SCT 85756007).
TISSUE = Code("85756007", "SCT", "Tissue")
#: DICOM's background concept (DCM 125040), used for the Label Map SEG background segment.
BACKGROUND = Code("125040", "DCM", "Background")


@dataclass
class Segment:
    """One segment: its number (the label value in the label map) and its description.

    ``color`` is RGB 0-255 (sRGB). Codes follow DICOM CID 7150 (category) / CID 7151 (type).
    """

    number: int
    label: str
    description: str = ""
    color: tuple[int, int, int] | None = None
    category: Code = TISSUE
    type: Code = TISSUE
    type_modifier: Code | None = None
    anatomic_region: Code | None = None
    anatomic_region_modifier: Code | None = None
    algorithm_type: SegmentAlgorithmType = SegmentAlgorithmType.MANUAL
    algorithm_name: str = ""
    algorithm_version: str = ""
    #: Algorithm family (CID 7162); written with the version in the Segmentation Algorithm
    #: Identification Sequence, as DCM 123110 "Artificial Intelligence" when not given.
    algorithm_family: Code | None = None
    #: Free-form extra facts kept with the segment (e.g. the source ROI Number).
    properties: dict[str, str] = field(default_factory=dict)

    def display_color(self) -> tuple[int, int, int]:
        """The segment's colour, or a stable default derived from its number."""
        return self.color if self.color is not None else default_color(self.number)


def default_color(number: int) -> tuple[int, int, int]:
    """A distinct, stable colour for a segment number (golden-ratio hue steps)."""
    hue = (number * 0.618033988749895) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.65, 0.95)
    return (round(red * 255), round(green * 255), round(blue * 255))

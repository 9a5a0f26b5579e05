"""Segment Sequence items (PS3.3 C.8.20.2) <-> :class:`Segment`."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from ..errors import InvalidDicomError
from ..model.colors import dicom_lab_to_rgb, rgb_to_dicom_lab
from ..model.segment import BACKGROUND, Code, Segment, SegmentAlgorithmType

#: Algorithm family written when an algorithm version is given and the segment names no
#: family (Segmentation Algorithm Identification requires one).
DEFAULT_ALGORITHM_FAMILY = Code("123110", "DCM", "Artificial Intelligence")


def code_item(code: Code) -> Dataset:
    item = Dataset()
    item.CodeValue = code.value
    item.CodingSchemeDesignator = code.scheme
    item.CodeMeaning = code.meaning
    return item


def code_from_item(item: Dataset, attribute: str) -> Code:
    value = item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue")
    if not value or "CodingSchemeDesignator" not in item and "URNCodeValue" not in item:
        raise InvalidDicomError(f"{attribute} item lacks its code value or coding scheme", attribute=attribute)
    return Code(str(value), str(item.get("CodingSchemeDesignator", "")), str(item.get("CodeMeaning", "")))


def segment_item(segment: Segment, with_color: bool = True) -> Dataset:
    """The Segment Sequence item of a segment; ``with_color`` adds Recommended Display CIELab
    Value (it must be absent with PALETTE COLOR)."""
    item = Dataset()
    item.SegmentNumber = segment.number
    item.SegmentLabel = segment.label[:64]
    if segment.description:
        item.SegmentDescription = segment.description
    item.SegmentAlgorithmType = segment.algorithm_type.value
    if segment.algorithm_type is not SegmentAlgorithmType.MANUAL:
        item.SegmentAlgorithmName = segment.algorithm_name or "unknown"
        if segment.algorithm_version:
            algorithm = Dataset()
            algorithm.AlgorithmFamilyCodeSequence = DicomSequence([code_item(segment.algorithm_family or DEFAULT_ALGORITHM_FAMILY)])
            algorithm.AlgorithmName = segment.algorithm_name or "unknown"
            algorithm.AlgorithmVersion = segment.algorithm_version
            item.SegmentationAlgorithmIdentificationSequence = DicomSequence([algorithm])
    item.SegmentedPropertyCategoryCodeSequence = DicomSequence([code_item(segment.category)])
    type_item = code_item(segment.type)
    if segment.type_modifier is not None:
        type_item.SegmentedPropertyTypeModifierCodeSequence = DicomSequence([code_item(segment.type_modifier)])
    item.SegmentedPropertyTypeCodeSequence = DicomSequence([type_item])
    if segment.anatomic_region is not None:
        region = code_item(segment.anatomic_region)
        if segment.anatomic_region_modifier is not None:
            region.AnatomicRegionModifierSequence = DicomSequence([code_item(segment.anatomic_region_modifier)])
        item.AnatomicRegionSequence = DicomSequence([region])
    if with_color:
        item.RecommendedDisplayCIELabValue = list(rgb_to_dicom_lab(segment.display_color()))
    return item


def background_segment() -> Segment:
    """Segment 0, the background of a Label Map SEG (with Pixel Padding Value 0)."""
    return Segment(0, "Background", color=(0, 0, 0), category=BACKGROUND, type=BACKGROUND)


def segment_from_item(item: Dataset) -> Segment:
    """A :class:`Segment` from a Segment Sequence item."""
    if "SegmentNumber" not in item:
        raise InvalidDicomError("a Segment Sequence item has no Segment Number", attribute="SegmentNumber")
    number = int(item.SegmentNumber)
    try:
        algorithm = SegmentAlgorithmType(str(item.get("SegmentAlgorithmType", "MANUAL")))
    except ValueError:
        algorithm = SegmentAlgorithmType.MANUAL
    segment = Segment(number=number, label=str(item.get("SegmentLabel", "") or f"Segment {number}"))
    segment.description = str(item.get("SegmentDescription", ""))
    segment.algorithm_type = algorithm
    segment.algorithm_name = str(item.get("SegmentAlgorithmName", ""))
    for identification in item.get("SegmentationAlgorithmIdentificationSequence", [])[:1]:
        segment.algorithm_version = str(identification.get("AlgorithmVersion", ""))
        families = identification.get("AlgorithmFamilyCodeSequence", [])
        if families:
            segment.algorithm_family = code_from_item(families[0], "AlgorithmFamilyCodeSequence")
    categories = item.get("SegmentedPropertyCategoryCodeSequence", [])
    types = item.get("SegmentedPropertyTypeCodeSequence", [])
    if categories:
        segment.category = code_from_item(categories[0], "SegmentedPropertyCategoryCodeSequence")
    if types:
        segment.type = code_from_item(types[0], "SegmentedPropertyTypeCodeSequence")
        modifiers = types[0].get("SegmentedPropertyTypeModifierCodeSequence", [])
        if modifiers:
            segment.type_modifier = code_from_item(modifiers[0], "SegmentedPropertyTypeModifierCodeSequence")
    regions = item.get("AnatomicRegionSequence", [])
    if regions:
        segment.anatomic_region = code_from_item(regions[0], "AnatomicRegionSequence")
        modifiers = regions[0].get("AnatomicRegionModifierSequence", [])
        if modifiers:
            segment.anatomic_region_modifier = code_from_item(modifiers[0], "AnatomicRegionModifierSequence")
    lab = item.get("RecommendedDisplayCIELabValue")
    if lab is not None and len(lab) == 3:
        segment.color = dicom_lab_to_rgb([int(v) for v in lab])
    return segment

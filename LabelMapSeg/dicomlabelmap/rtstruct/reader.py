"""RT Structure Set reader (PS3.3 C.8.8.5 Structure Set, C.8.8.6 ROI Contour, C.8.8.8 RT ROI
Observations).

Reading never stops at a malformed ROI: what is wrong becomes a :class:`Finding` naming the ROI
and the attribute, an ROI with an error is not converted, and every other ROI still is.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.valuerep import validate_value

from ..dicom.rawsequence import RawFormatError
from ..dicom.read import read_dataset
from ..dicom.uids import RT_STRUCTURE_SET_STORAGE
from ..errors import InvalidDicomError, RoiNotFoundError, malformed_input
from ..findings import Finding, Severity
from ..model.geometry import FloatArray
from .contourdata import (
    CONTOUR_SEQUENCE,
    REFERENCED_ROI_NUMBER,
    ROI_DISPLAY_COLOR,
    Node,
    Unusual,
    fast_contour,
    integer,
    parse_contour_data,
    roi_contour_nodes,
    text,
)

logger = logging.getLogger(__name__)

#: Upper bound on points per contour; real contours hold at most tens of thousands.
MAX_POINTS_PER_CONTOUR = 1_000_000


class ContourGeometricType(str, Enum):
    """Contour Geometric Type (3006,0042), PS3.3 C.8.8.6.1 and CP 2037."""

    POINT = "POINT"
    OPEN_PLANAR = "OPEN_PLANAR"
    OPEN_NONPLANAR = "OPEN_NONPLANAR"
    CLOSED_PLANAR = "CLOSED_PLANAR"
    CLOSEDPLANAR_XOR = "CLOSEDPLANAR_XOR"

    @property
    def encloses_area(self) -> bool:
        return self in (ContourGeometricType.CLOSED_PLANAR, ContourGeometricType.CLOSEDPLANAR_XOR)


@dataclass(frozen=True)
class Contour:
    """One item of a Contour Sequence (3006,0040)."""

    #: 0-based position in the ROI's Contour Sequence.
    index: int
    geometric_type: ContourGeometricType
    #: ``(N, 3)`` LPS points in mm, Contour Offset Vector already added.
    points: FloatArray
    referenced_sop_instance_uids: tuple[str, ...] = ()
    slab_thickness: float | None = None
    offset_vector: tuple[float, float, float] | None = None


@dataclass
class Roi:
    """One ROI: Structure Set ROI item + its ROI Contour and RT ROI Observations items."""

    number: int
    name: str
    color: tuple[int, int, int] | None
    interpreted_type: str
    frame_of_reference_uid: str | None
    description: str = ""
    generation_algorithm: str = ""
    contours: list[Contour] = field(default_factory=list)
    #: 0-based position in the Structure Set ROI Sequence: unique even when ROI Numbers repeat.
    position: int = 0
    #: Problems found while reading this ROI; an ERROR means it cannot be converted.
    findings: list[Finding] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)

    def points_of_type(self, *types: ContourGeometricType) -> list[FloatArray]:
        """LPS points of every contour of the given types (e.g. POINT markers)."""
        return [contour.points for contour in self.contours if contour.geometric_type in types]

    def _finding(self, severity: Severity, message: str, attribute: str | None = None) -> None:
        finding = Finding(severity, message, self.number, self.name, attribute)
        logger.log(logging.ERROR if severity is Severity.ERROR else logging.WARNING, "%s", finding)
        self.findings.append(finding)


@dataclass
class StructureSet:
    """An RT Structure Set as read from one file."""

    path: Path | None
    sop_instance_uid: str
    label: str
    #: Frame of Reference UIDs of the Referenced Frame of Reference Sequence (may be empty).
    frame_of_reference_uids: list[str]
    #: Series Instance UIDs named by RT Referenced Series items.
    referenced_series_uids: list[str]
    rois: list[Roi]
    #: Problems that concern the whole file rather than one ROI.
    findings: list[Finding] = field(default_factory=list)
    dataset: Dataset | None = field(default=None, repr=False)

    def roi(self, name_or_number: str | int) -> Roi:
        for roi in self.rois:
            if roi.number == name_or_number or roi.name == name_or_number:
                return roi
        raise RoiNotFoundError(
            f"no ROI {name_or_number!r} in the RT Structure Set; its ROIs: " + ", ".join(f"{r.number} '{r.name}'" for r in self.rois),
            self.path,
            "StructureSetROISequence",
        )

    #: SOP Instance UIDs of the RT Referenced Series' Contour Image Sequences (the images the
    #: structure set was drawn on, when the exporter lists them).
    series_image_uids: set[str] = field(default_factory=set)

    def referenced_sop_instance_uids(self) -> set[str]:
        """The images the contours name (their Contour Image Sequences)."""
        return {uid for roi in self.rois for contour in roi.contours for uid in contour.referenced_sop_instance_uids}

    def references_nothing(self) -> bool:
        """No Frame of Reference, series or image is referenced anywhere (some exports)."""
        return not (
            self.frame_of_reference_uids
            or self.referenced_series_uids
            or self.series_image_uids
            or any(roi.frame_of_reference_uid for roi in self.rois)
            or self.referenced_sop_instance_uids()
        )


def read_rtstruct(source: str | Path | Dataset, processes: int = 1) -> StructureSet:
    """Read an RT Structure Set file (or an already read dataset).

    ``processes=2`` parses the Contour Data of a large structure set in two processes (a forked
    helper on Linux; the command line does this); the result is the same.

    Raises
    ------
    InvalidDicomError
        When the file is not a readable RT Structure Set at all. Problems confined to one ROI
        are findings on that ROI instead.
    """
    path = None if isinstance(source, Dataset) else Path(source)
    dataset = source if isinstance(source, Dataset) else read_dataset(Path(source), "the RT Structure Set file")
    with malformed_input(path, "the RT Structure Set"), warnings.catch_warnings():
        # pydicom's value warnings do not name the element; the names and labels read are
        # checked against their VR here instead (_checked_text), once, naming the attribute.
        warnings.simplefilter("ignore", UserWarning)
        return _read_structure_set(dataset, path, processes)


def _checked_text(item: Dataset, keyword: str, findings: list[Finding], where: str, roi: tuple[int, str] | None = None) -> str:
    """A text attribute's value; one that breaks its VR (too long, say) is kept and reported."""
    element = item.get(keyword)
    if element is None or element == "":
        return ""
    try:
        validate_value(item[keyword].VR, item[keyword].value, pydicom.config.RAISE)
    except ValueError as problem:
        number, name = roi if roi is not None else (None, None)
        findings.append(Finding(Severity.WARNING, f"{where}{keyword}: {problem} The value is used as it is.", number, name, keyword))
    return str(element)


def _read_structure_set(dataset: Dataset, path: Path | None, processes: int = 1) -> StructureSet:
    sop_class = str(dataset.get("SOPClassUID", ""))
    if sop_class != RT_STRUCTURE_SET_STORAGE and dataset.get("Modality") != "RTSTRUCT":
        raise InvalidDicomError(
            f"not an RT Structure Set (SOP Class UID {sop_class or 'missing'}, Modality {dataset.get('Modality', 'missing')})",
            path,
            "SOPClassUID",
        )
    if "StructureSetROISequence" not in dataset:
        raise InvalidDicomError("Structure Set ROI Sequence is missing", path, "StructureSetROISequence")
    file_findings: list[Finding] = []
    structure_set = StructureSet(
        path=path,
        sop_instance_uid=str(dataset.get("SOPInstanceUID", "")),
        label=_checked_text(dataset, "StructureSetLabel", file_findings, f"{path.name if path else 'the structure set'}: "),
        frame_of_reference_uids=_referenced_frames(dataset),
        referenced_series_uids=_referenced_series(dataset),
        rois=[],
        dataset=dataset,
    )
    structure_set.findings.extend(file_findings)
    structure_set.series_image_uids = _series_images(dataset)
    modality = str(dataset.get("Modality", ""))
    if sop_class == RT_STRUCTURE_SET_STORAGE and modality != "RTSTRUCT":
        structure_set.findings.append(
            Finding(
                Severity.WARNING,
                f"Modality is '{modality or '(missing)'}' where an RT Structure Set has RTSTRUCT (PS3.3 C.8.8.1.1); the file is read "
                "as the RT Structure Set its SOP Class UID says it is",
                attribute="Modality",
            )
        )
    rois = _read_rois(dataset, structure_set)
    _read_observations(dataset, rois)
    _read_contours(dataset, rois, structure_set, processes)
    for roi in rois:
        if not roi.contours and not roi.has_errors:
            roi._finding(Severity.WARNING, "the ROI has no contours: it converts to an empty segment", "ContourSequence")
    structure_set.rois = rois
    return structure_set


def _referenced_frames(dataset: Dataset) -> list[str]:
    return [
        str(item.FrameOfReferenceUID) for item in dataset.get("ReferencedFrameOfReferenceSequence", []) if item.get("FrameOfReferenceUID")
    ]


def _referenced_series(dataset: Dataset) -> list[str]:
    uids = []
    for frame in dataset.get("ReferencedFrameOfReferenceSequence", []):
        for study in frame.get("RTReferencedStudySequence", []):
            for series in study.get("RTReferencedSeriesSequence", []):
                if series.get("SeriesInstanceUID"):
                    uids.append(str(series.SeriesInstanceUID))
    return uids


def _series_images(dataset: Dataset) -> set[str]:
    return {
        str(image.ReferencedSOPInstanceUID)
        for frame in dataset.get("ReferencedFrameOfReferenceSequence", [])
        for study in frame.get("RTReferencedStudySequence", [])
        for series in study.get("RTReferencedSeriesSequence", [])
        for image in series.get("ContourImageSequence", [])
        if image.get("ReferencedSOPInstanceUID")
    }


def _read_rois(dataset: Dataset, structure_set: StructureSet) -> list[Roi]:
    """The ROIs in the order of the Structure Set ROI Sequence; a repeated ROI Number keeps
    both ROIs apart (see :func:`_match_items`)."""
    rois: list[Roi] = []
    default_frame = structure_set.frame_of_reference_uids[0] if len(structure_set.frame_of_reference_uids) == 1 else None
    for position, item in enumerate(dataset.StructureSetROISequence):
        try:
            number = int(item.ROINumber)
        except (AttributeError, TypeError, ValueError):
            structure_set.findings.append(
                Finding(
                    Severity.ERROR, f"Structure Set ROI item {position + 1} has no valid ROI Number; it is ignored", attribute="ROINumber"
                )
            )
            continue
        checks: list[Finding] = []
        name = _checked_text(item, "ROIName", checks, "", None) or f"ROI {number}"
        frame = str(item.get("ReferencedFrameOfReferenceUID", "") or "") or None
        roi = Roi(
            number=number,
            name=name,
            color=None,
            interpreted_type="",
            frame_of_reference_uid=frame or default_frame,
            description=str(item.get("ROIDescription", "")),
            generation_algorithm=str(item.get("ROIGenerationAlgorithm", "")),
            position=position,
        )
        if frame is None:
            roi._finding(
                Severity.WARNING,
                "Referenced Frame of Reference UID is missing; its contours are taken to lie in the reference series' coordinates",
                "ReferencedFrameOfReferenceUID",
            )
        for finding in checks:
            roi._finding(finding.severity, finding.message, finding.attribute)
        rois.append(roi)
    by_number: dict[int, list[Roi]] = {}
    for roi in rois:
        by_number.setdefault(roi.number, []).append(roi)
    for number, same in by_number.items():
        if len(same) > 1:
            names = " and ".join(f"'{roi.name}'" for roi in same)
            for roi in same:
                roi._finding(
                    Severity.WARNING,
                    f"ROI Number {number} is used by {len(same)} ROIs ({names}); they are kept apart and matched to the "
                    "ROI Contour and RT ROI Observations items referencing that number in the order they appear",
                    "ROINumber",
                )
    return rois


def _referenced_number(item: Dataset | Node) -> int | None:
    if isinstance(item, Node):
        try:
            return integer(item.value(REFERENCED_ROI_NUMBER))
        except Unusual:
            item = item.dataset()
    try:
        return int(item.ReferencedROINumber)
    except (AttributeError, TypeError, ValueError):
        return None


def _match_items(rois: list[Roi], items: list[tuple[int, Any]]) -> tuple[dict[int, tuple[int, Any]], dict[int, list[int]]]:
    """Pair items (``(position, item)`` with a Referenced ROI Number) with ROIs.

    A number used by as many items as ROIs pairs them in the order they appear (one each in
    the usual case). Otherwise the pairing is ambiguous: returns, by ROI Number, the
    positions of the items that reference it, and pairs none of them.
    """
    rois_of: dict[int, list[Roi]] = {}
    for roi in rois:
        rois_of.setdefault(roi.number, []).append(roi)
    items_of: dict[int, list[tuple[int, Any]]] = {}
    for position, item in items:
        number = _referenced_number(item)
        if number is not None:
            items_of.setdefault(number, []).append((position, item))
    paired: dict[int, tuple[int, Any]] = {}
    ambiguous: dict[int, list[int]] = {}
    for number, referencing in items_of.items():
        owners = rois_of.get(number, [])
        if len(owners) == len(referencing):
            for roi, entry in zip(owners, referencing, strict=True):
                paired[roi.position] = entry
        elif owners:
            ambiguous[number] = [position for position, _ in referencing]
    return paired, ambiguous


def _read_observations(dataset: Dataset, rois: list[Roi]) -> None:
    items = list(enumerate(dataset.get("RTROIObservationsSequence", [])))
    paired, ambiguous = _match_items(rois, items)
    for roi in rois:
        if roi.position in paired:
            item = paired[roi.position][1]
            if item.get("RTROIInterpretedType"):
                roi.interpreted_type = str(item.RTROIInterpretedType)
        elif roi.number in ambiguous:
            roi._finding(
                Severity.WARNING,
                f"RT ROI Observations items {', '.join(str(p + 1) for p in ambiguous[roi.number])} reference ROI Number "
                f"{roi.number}, which {sum(r.number == roi.number for r in rois)} ROI(s) use; the interpreted type is left empty",
                "ReferencedROINumber",
            )


def _read_contours(dataset: Dataset, rois: list[Roi], structure_set: StructureSet, processes: int = 1) -> None:
    # Walked as bytes where possible (contourdata): thousands of contour items, no look-up per attribute.
    items = list(enumerate(roi_contour_nodes(dataset)))
    defined = {roi.number for roi in rois}
    for position, item in items:
        number = _referenced_number(item)
        if number is None:
            structure_set.findings.append(
                Finding(
                    Severity.WARNING,
                    f"ROI Contour item {position + 1} has no valid Referenced ROI Number; its contours are ignored",
                    attribute="ReferencedROINumber",
                )
            )
        elif number not in defined:
            count = len(_contour_nodes(item))
            structure_set.findings.append(
                Finding(
                    Severity.WARNING,
                    f"ROI Contour item {position + 1} references ROI Number {number}, which the Structure Set ROI Sequence does not "
                    f"define; its {count} contour(s) are ignored",
                    number,
                    attribute="ReferencedROINumber",
                )
            )
    paired, ambiguous = _match_items(rois, items)
    todo: list[tuple[Roi, int, Node]] = []
    for roi in rois:
        if roi.number in ambiguous:
            positions = ", ".join(str(p + 1) for p in ambiguous[roi.number])
            roi._finding(
                Severity.ERROR,
                f"ROI Contour items {positions} reference ROI Number {roi.number}, which "
                f"{sum(r.number == roi.number for r in rois)} ROI(s) use: which contours belong to this ROI is ambiguous, "
                "so it is not converted",
                "ReferencedROINumber",
            )
            continue
        if roi.position not in paired:
            if ambiguous:
                roi._finding(
                    Severity.ERROR,
                    "no ROI Contour item references this ROI while ROI Number(s) "
                    f"{', '.join(str(n) for n in sorted(ambiguous))} are referenced by several: its contours may be "
                    "among those, so it is not converted",
                    "ReferencedROINumber",
                )
            continue
        node = paired[roi.position][1]
        roi.color = _node_color(node, roi)
        contour_nodes = _contour_nodes(node)
        todo.extend((roi, index, contour_node) for index, contour_node in enumerate(contour_nodes))
    parsed = parse_contour_data([contour_node for _, _, contour_node in todo], processes)
    for (roi, index, contour_node), data in zip(todo, parsed, strict=True):
        try:
            contour = fast_contour(
                contour_node,
                lambda kind, points, references, slab, index=index: Contour(index, kind, points, references, slab, None),
                ContourGeometricType,
                MAX_POINTS_PER_CONTOUR,
                data,
            )
        except (Unusual, RawFormatError):  # read, and reported, as pydicom gives it
            contour = _read_contour(contour_node.dataset(), index, roi)
        if contour is not None:
            roi.contours.append(contour)


def _contour_nodes(node: Node) -> list[Node]:
    try:
        return node.items(CONTOUR_SEQUENCE)
    except (Unusual, RawFormatError):
        return [Node(dataset=item) for item in node.dataset().get("ContourSequence", [])]


def _node_color(node: Node, roi: Roi) -> tuple[int, int, int] | None:
    try:
        found = text(node.value(ROI_DISPLAY_COLOR))
        if found is None:
            return None
        color = tuple(int(v) for v in found.split("\\"))
    except (Unusual, ValueError):
        return _display_color(node.dataset(), roi)
    if len(color) != 3 or not all(0 <= v <= 255 for v in color):
        return _display_color(node.dataset(), roi)
    return color  # type: ignore[return-value]


def _display_color(item: Dataset, roi: Roi) -> tuple[int, int, int] | None:
    if "ROIDisplayColor" not in item:
        return None
    try:
        color = tuple(int(v) for v in item.ROIDisplayColor)
    except (TypeError, ValueError):
        color = ()
    if len(color) != 3 or not all(0 <= v <= 255 for v in color):
        roi._finding(
            Severity.WARNING,
            f"ROI Display Color {item.ROIDisplayColor!r} is not three values 0-255; a default colour is used",
            "ROIDisplayColor",
        )
        return None
    return color  # type: ignore[return-value]


def _read_contour(item: Dataset, index: int, roi: Roi) -> Contour | None:
    """One contour, or ``None`` when it cannot be used: its findings then name it
    (``contour_number``), and one with an error is never kept (so never used half-read, such
    as without its Contour Offset Vector)."""
    before = len(roi.findings)
    contour = _contour_of(item, index, roi)
    roi.findings[before:] = [replace(finding, contour_number=index + 1) for finding in roi.findings[before:]]
    if any(finding.severity is Severity.ERROR for finding in roi.findings[before:]):
        return None
    return contour


def _contour_of(item: Dataset, index: int, roi: Roi) -> Contour | None:
    where = f"contour {index + 1}"
    raw_type = str(item.get("ContourGeometricType", "")).strip()
    try:
        geometric_type = ContourGeometricType(raw_type)
    except ValueError:
        roi._finding(Severity.ERROR, f"{where}: Contour Geometric Type '{raw_type}' is not a defined term", "ContourGeometricType")
        return None
    if "ContourData" not in item:
        roi._finding(Severity.ERROR, f"{where}: Contour Data is missing", "ContourData")
        return None
    try:
        data = _contour_values(item)
    except ValueError as error:
        roi._finding(Severity.ERROR, f"{where}: Contour Data is not a list of numbers ({error})", "ContourData")
        return None
    if data.size > 3 * MAX_POINTS_PER_CONTOUR:
        roi._finding(
            Severity.ERROR,
            f"{where}: Contour Data holds {data.size // 3} points, more than the limit of {MAX_POINTS_PER_CONTOUR}",
            "ContourData",
        )
        return None
    if data.size == 0:
        roi._finding(Severity.WARNING, f"{where}: Contour Data is empty; the contour is ignored", "ContourData")
        return None
    if data.size % 3:
        roi._finding(
            Severity.ERROR, f"{where}: Contour Data holds {data.size} values, not a multiple of 3 (x\\y\\z triplets)", "ContourData"
        )
        return None
    if not np.all(np.isfinite(data)):
        roi._finding(Severity.ERROR, f"{where}: Contour Data holds NaN or infinite values", "ContourData")
        return None
    points = data.reshape(-1, 3)
    declared = item.get("NumberOfContourPoints")
    if declared is not None and _as_int(declared) != len(points):
        roi._finding(
            Severity.WARNING,
            f"{where}: Number of Contour Points says {declared} but Contour Data holds {len(points)} points; the data is used",
            "NumberOfContourPoints",
        )
    offset = _offset_vector(item, roi, where)
    if offset is not None:
        points = points + np.asarray(offset)
    slab = item.get("ContourSlabThickness")
    references = tuple(
        str(image.ReferencedSOPInstanceUID) for image in item.get("ContourImageSequence", []) if image.get("ReferencedSOPInstanceUID")
    )
    points.flags.writeable = False
    return Contour(index, geometric_type, points, references, float(slab) if slab not in (None, "") else None, offset)


def _contour_values(item: Dataset) -> FloatArray:
    """Contour Data as floats. Undecoded values are parsed from their text in one numpy call:
    pydicom would build one Python object per number, which costs seconds and gigabytes on
    structure sets with millions of points."""
    element = item.get_item("ContourData")
    value = element.value if element is not None else None
    if isinstance(value, (bytes, bytearray)):
        text = value.decode("ascii", errors="replace").strip(" \x00")
        if not text:
            return np.zeros(0, dtype=np.float64)
        return np.array(text.split("\\"), dtype=np.float64)  # numpy accepts the padding spaces
    if value is None or value == "":
        return np.zeros(0, dtype=np.float64)
    values = value if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
    return np.asarray([float(v) for v in values], dtype=np.float64)


def _offset_vector(item: Dataset, roi: Roi, where: str) -> tuple[float, float, float] | None:
    raw = item.get("ContourOffsetVector")
    if raw is None or raw == "":
        return None
    try:
        offset = tuple(float(v) for v in raw)
    except (TypeError, ValueError):
        offset = ()
    if len(offset) != 3 or not np.all(np.isfinite(offset)):
        # An ERROR finding keeps the whole ROI from converting, so the contour is never used unshifted.
        roi._finding(Severity.ERROR, f"{where}: Contour Offset Vector {raw!r} is not three finite numbers", "ContourOffsetVector")
        return None
    return offset  # type: ignore[return-value]


def _as_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None

"""RT Structure Set -> label layers on the reference grid: the whole flow in one call."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from ..dicom.images import ReferenceSeries
from ..errors import InvalidDicomError
from ..findings import Finding, Severity
from ..model.geometry import report_numbers
from ..model.labels import MAX_SEGMENT_NUMBER, LabelVolume, build_label_volumes, label_dtype
from ..model.masks import BoxMask
from ..model.scheme import LabelScheme, LabelSpec, Overlap, SchemeError, Unmatched
from ..model.segment import Segment, SegmentAlgorithmType
from ..progress import ProgressCallback, report, scaled
from .rasterize import RasterOptions, RoiRaster, rasterize_structure_set
from .reader import Roi, StructureSet, read_rtstruct
from .reference import find_reference

logger = logging.getLogger(__name__)


@dataclass
class RtStructConversion:
    """Everything an RT Structure Set conversion produced."""

    structure_set: StructureSet
    reference: ReferenceSeries
    rois: list[RoiRaster]
    #: Label layers on the reference grid; each converted ROI is one segment.
    label_volumes: list[LabelVolume]
    #: Segment number of each converted ROI, by the ROI's position in the Structure Set ROI
    #: Sequence (:attr:`Roi.position`; ROI Numbers may repeat in real files).
    segment_numbers: dict[int, int] = field(default_factory=dict)
    #: The label scheme used (``None``: every ROI, numbered in ROI order).
    scheme: LabelScheme | None = None
    #: Where each ROI of the structure set went under the scheme, in ROI order.
    assignments: list[RoiAssignment] = field(default_factory=list)
    #: Findings of the scheme (ROIs on one label, patterns in conflict, priority overlaps).
    scheme_findings: list[Finding] = field(default_factory=list)

    @property
    def labels_found(self) -> list[str]:
        """Names of the scheme's labels that hold voxels in this conversion."""
        filled = self._filled_numbers()
        return [s.label for volume in self.label_volumes for s in volume.segments if s.number in filled]

    @property
    def labels_missing(self) -> list[str]:
        """Names of the scheme's labels that no converted ROI filled in this structure set."""
        if self.scheme is None:
            return []
        filled = self._filled_numbers()
        return [label.name for label in self.scheme.labels if label.value not in filled]

    def absent_labels(self) -> list[Segment]:
        """The scheme's labels that no segment of this conversion holds (no ROI matched them),
        described by the scheme: label tables list them too, so every patient's lists every label."""
        if self.scheme is None:
            return []
        held = {segment.number for volume in self.label_volumes for segment in volume.segments}
        return [label.describe(Segment(label.value, label.name)) for label in self.scheme.labels if label.value not in held]

    def _filled_numbers(self) -> set[int]:
        return {number for raster in self.rois if raster.voxel_count if (number := self.segment_number(raster)) is not None}

    def label_masks(self) -> list[tuple[Segment, BoxMask]]:
        """Each label's own mask (ROIs on one label united, before any priority overlap), with
        its segment, by ascending value: for one-mask-per-label outputs."""
        segments = {segment.number: segment for volume in self.label_volumes for segment in volume.segments}
        rasters = [raster for raster in self.rois if raster.roi.position in self.segment_numbers]
        items = _label_items(rasters, self.segment_numbers, self.scheme, [])
        return [(segments.get(segment.number, segment), mask) for segment, mask in items]

    def segment_number(self, raster: RoiRaster) -> int | None:
        """The segment number (label value) of a converted ROI."""
        return self.segment_numbers.get(raster.roi.position)

    @property
    def findings(self) -> list[Finding]:
        """File-level findings (structure set, then reference series) followed by every ROI's."""
        return (
            list(self.structure_set.findings)
            + list(self.reference.findings)
            + list(self.scheme_findings)
            + [f for roi in self.rois for f in roi.findings]
        )

    @property
    def failed_rois(self) -> list[RoiRaster]:
        return [roi for roi in self.rois if not roi.converted]

    def nothing_selected(self) -> str | None:
        """When the scheme or the selection left every ROI out: why, in one sentence naming the
        ROIs the structure set holds (``None`` when some ROI was selected)."""
        if self.rois or not self.assignments or self.scheme is None:
            return None
        names = ", ".join(repr(a.roi_name) for a in self.assignments)
        count = len(self.assignments)
        if self.scheme.is_selection_only:
            return f"the selection (--include/--exclude) selects none of its {count} ROI(s): {names}"
        selection = " with --include/--exclude" if self.scheme.include or self.scheme.exclude else ""
        return f"the label scheme {self.scheme.source}{selection} selects none of its {count} ROI(s): {names}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output and tests."""
        geometry = self.reference.geometry
        layers = {s.number: index for index, volume in enumerate(self.label_volumes) for s in volume.segments}
        return {
            "rtstruct": str(self.structure_set.path) if self.structure_set.path else None,
            "structure_set_label": self.structure_set.label,
            "reference": {
                "series_instance_uid": self.reference.series_instance_uid,
                "modality": self.reference.modality,
                "series_description": self.reference.series_description,
                "frame_of_reference_uid": geometry.frame_of_reference_uid,
                "shape": list(geometry.shape),
                "spacing": report_numbers(geometry.spacing),
                "ijk_to_lps": report_numbers(geometry.ijk_to_lps),
                "skipped_files": dict(self.reference.skipped),
                "skipped": [{"file": path, "reason": reason} for path, reason in self.reference.skipped_files],
                "missing_slices": self.reference.missing_slices,
            },
            "layers": len(self.label_volumes),
            "rois": self._rows(layers),
            "findings": [f.to_dict() for f in self.structure_set.findings + self.reference.findings + self.scheme_findings],
            **(
                {
                    "scheme": self.scheme.to_dict(),
                    "labels_found": self.labels_found,
                    "labels_missing": self.labels_missing,
                    "unmatched_rois": [a.roi_name for a in self.assignments if a.status is RoiStatus.UNMATCHED],
                    "excluded_rois": [a.roi_name for a in self.assignments if a.status is RoiStatus.EXCLUDED],
                }
                if self.scheme is not None
                else {}
            ),
        }

    def _rows(self, layers: dict[int, int]) -> list[dict[str, Any]]:
        """Report rows in ROI order: converted ROIs, and those the scheme left out."""
        by_position = {raster.roi.position: raster for raster in self.rois}
        if not self.assignments:
            return [roi_row(raster, self, layers) for raster in self.rois]
        rows = []
        for assignment in self.assignments:
            raster = by_position.get(assignment.position)
            if raster is not None:
                rows.append(dict(roi_row(raster, self, layers), label=assignment.label, status=assignment.status.value))
            else:
                rows.append(left_out_row(assignment, self.structure_set.rois[assignment.position]))
        return rows


class RoiStatus(str, Enum):
    """Where an ROI went under a label scheme."""

    #: Matched a label of the scheme.
    LABEL = "label"
    #: Unmatched, kept under its own name (``unmatched: keep``).
    KEPT = "kept"
    #: Unmatched and dropped.
    UNMATCHED = "unmatched"
    #: Not selected (``--include``/``--exclude``).
    EXCLUDED = "excluded"

    def __str__(self) -> str:
        return self.value


@dataclass
class RoiAssignment:
    """Where one ROI went under a label scheme."""

    position: int
    roi_number: int
    roi_name: str
    status: RoiStatus
    value: int | None = None
    #: The output name (the label's name, or the ROI's own when kept).
    label: str | None = None
    #: ``"name"``, ``"alias"`` or ``"pattern"`` for matched ROIs.
    matched_by: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "roi_number": self.roi_number,
            "name": self.roi_name,
            "status": self.status.value,
            "value": self.value,
            "label": self.label,
            "matched_by": self.matched_by,
            "reason": self.reason,
        }


def roi_row(roi: RoiRaster, conversion: RtStructConversion, layers: dict[int, int]) -> dict[str, Any]:
    """One ROI's line of the report; ``layers`` maps segment numbers to their layer (0-based
    index; the report numbers layers from 1, as Slicer shows them and as file names do)."""
    voxel_ml = conversion.reference.geometry.voxel_volume_mm3 / 1000
    number = conversion.segment_number(roi)
    layer = layers.get(number) if number is not None else None
    return {
        "roi_number": roi.roi.number,
        "name": roi.roi.name,
        "interpreted_type": roi.roi.interpreted_type,
        "converted": roi.converted,
        "segment_number": number,
        "layer": None if layer is None else layer + 1,
        "contours": roi.contour_count,
        "planes": roi.plane_count,
        "nested": roi.nested_count,
        "xor": roi.xor_count,
        "keyhole": roi.keyhole_count,
        "points": roi.point_count,
        "open": roi.open_count,
        "voxels": roi.voxel_count,
        "volume_ml": round(roi.voxel_count * voxel_ml, 3),
        "warnings": sum(f.severity is Severity.WARNING for f in roi.findings),
        "errors": sum(f.severity is Severity.ERROR for f in roi.findings),
        "findings": [f.to_dict() for f in roi.findings],
    }


def left_out_row(assignment: RoiAssignment, roi: Roi) -> dict[str, Any]:
    """The report row of an ROI the label scheme left out (not converted, not an error)."""
    return {
        "roi_number": roi.number,
        "name": roi.name,
        "interpreted_type": roi.interpreted_type,
        "converted": False,
        "segment_number": None,
        "layer": None,
        "label": None,
        "status": assignment.status.value,
        "reason": assignment.reason,
        **dict.fromkeys(("contours", "planes", "nested", "xor", "keyhole", "points", "open", "voxels", "warnings", "errors"), 0),
        "contours": len(roi.contours),
        "volume_ml": 0.0,
        "findings": [],
    }


def assign_rois(structure_set: StructureSet, scheme: LabelScheme) -> tuple[list[RoiAssignment], list[Finding]]:
    """Apply a label scheme's selection and matching to every ROI (see :mod:`~dicomlabelmap.model.scheme`).

    Raises
    ------
    SchemeError
        With ``unmatched: fail``, when selected ROIs match no label (all of them named).
    """
    findings: list[Finding] = []
    assignments = []
    # Kept ROIs are numbered among all unmatched ROIs, selected or not: a selection never
    # changes a value (without labels, an ROI's value is its position in the structure set).
    next_value = max((label.value for label in scheme.labels), default=0) + 1
    failing = []
    for roi in structure_set.rois:
        match = scheme.match(roi.name) if scheme.has_labels else None
        selected, why = scheme.selects(roi.name, match.label.name if match else None)
        value_if_kept = next_value
        if match is None:
            next_value += 1
        assignment = RoiAssignment(roi.position, roi.number, roi.name, RoiStatus.EXCLUDED, reason=why)
        if not selected:
            pass
        elif match is not None:
            assignment.status, assignment.value, assignment.label, assignment.matched_by = (
                RoiStatus.LABEL,
                match.label.value,
                match.label.name,
                match.by,
            )
            if match.also:
                findings.append(
                    Finding(
                        Severity.WARNING,
                        f"the patterns of labels '{match.label.name}' and {', '.join(repr(n) for n in match.also)} all match; "
                        f"the first in {scheme.source}, '{match.label.name}', is used",
                        roi.number,
                        roi.name,
                        kind="scheme_pattern_conflict",
                    )
                )
        elif scheme.unmatched is Unmatched.KEEP:
            if value_if_kept > MAX_SEGMENT_NUMBER:
                raise SchemeError(
                    f"{structure_set.path}: too many unmatched ROIs to number after the scheme's labels (at most {MAX_SEGMENT_NUMBER})"
                )
            assignment.status, assignment.value, assignment.label = RoiStatus.KEPT, value_if_kept, roi.name
        else:
            assignment.status, assignment.reason = RoiStatus.UNMATCHED, f"matches no label of {scheme.source}"
            failing.append(roi.name)
            if scheme.unmatched is Unmatched.DROP:
                findings.append(
                    Finding(
                        Severity.WARNING,
                        f"matches no label of {scheme.source}; not converted (unmatched: drop)",
                        roi.number,
                        roi.name,
                        kind="scheme_unmatched",
                    )
                )
        assignments.append(assignment)
    if failing and scheme.unmatched is Unmatched.FAIL:
        names = ", ".join(repr(name) for name in failing)
        raise SchemeError(
            f"{structure_set.path or 'the RT Structure Set'}: ROI(s) {names} match no label of {scheme.source} (unmatched: fail)"
        )
    return assignments, findings


def segment_for_roi(raster: RoiRaster, number: int) -> Segment:
    """The segment an ROI becomes: name, colour, algorithm; ROI Number and type kept as properties."""
    roi = raster.roi
    try:
        algorithm = SegmentAlgorithmType(roi.generation_algorithm.strip().upper())
    except ValueError:
        algorithm = SegmentAlgorithmType.MANUAL
    properties = {"RoiNumber": str(roi.number)}
    if roi.interpreted_type:
        properties["RtRoiInterpretedType"] = roi.interpreted_type
    return Segment(
        number=number,
        label=roi.name,
        description=roi.description,
        color=roi.color,
        algorithm_type=algorithm,
        properties=properties,
    )


def rtstruct_to_labels(
    rtstruct: str | Path | StructureSet,
    reference: str | Path | Sequence[str | Path] | ReferenceSeries,
    series_instance_uid: str | None = None,
    options: RasterOptions = RasterOptions(),
    progress: ProgressCallback | None = None,
    allow_missing_slices: bool = False,
    scheme: LabelScheme | None = None,
    processes: int = 1,
) -> RtStructConversion:
    """Convert an RT Structure Set to label layers on its reference series' grid.

    Parameters
    ----------
    rtstruct
        The RT Structure Set file, or one already read.
    reference
        The reference series already read, or a folder / files to find it in. Among several
        series, the one named by ``series_instance_uid`` is taken; otherwise the one in the
        structure set's Frame of Reference, preferring the series it references.
    options
        Rasterization options.
    progress
        ``progress(fraction, message)``; raise :class:`OperationCancelled` in it to stop.
    allow_missing_slices
        Accept a reference series with missing slices: the regular grid is kept, the missing
        positions have no image and are reported (default: refused).
    scheme
        A label scheme (:func:`~dicomlabelmap.model.scheme.load_scheme`): which ROIs are converted,
        their fixed label values, names, colours and codes, and the overlap policy. Only the
        selected ROIs are drawn.
    processes
        2: a forked helper process draws part of the ROIs (Linux, large sets; the same result).

    Without a scheme, segments are numbered 1, 2, ... in the order of the Structure Set ROI
    Sequence (every ROI keeps its number even when another fails). ROIs that cannot be
    converted are left out of the layers and carry an ERROR finding.
    """
    report(progress, 0.0, "Reading the RT Structure Set")
    structure_set = _structure_set(rtstruct, processes)
    assignments: list[RoiAssignment] = []
    scheme_findings: list[Finding] = []
    if scheme is None:
        numbers = {roi.position: number for number, roi in enumerate(structure_set.rois, start=1)}
    else:
        assignments, scheme_findings = assign_rois(structure_set, scheme)
        numbers = {a.position: a.value for a in assignments if a.value is not None}
    selected = [roi for roi in structure_set.rois if roi.position in numbers]
    if len(selected) > MAX_SEGMENT_NUMBER:
        raise InvalidDicomError(
            f"the RT Structure Set holds {len(selected)} ROIs; a label map holds at most {MAX_SEGMENT_NUMBER} segments",
            structure_set.path,
            "StructureSetROISequence",
        )
    if isinstance(reference, ReferenceSeries):
        series = reference
    else:
        series = find_reference(structure_set, reference, series_instance_uid, progress, allow_missing_slices)
    subset = structure_set if len(selected) == len(structure_set.rois) else replace(structure_set, rois=selected)
    rasters = rasterize_structure_set(subset, series, options, scaled(progress, 0.4, 0.9), processes)
    report(progress, 0.9, "Packing label layers")
    items = _label_items(rasters, numbers, scheme, scheme_findings)
    if scheme is not None and scheme.overlap is Overlap.PRIORITY:
        volumes = [priority_volume(series.geometry, items, _priority_rank(scheme, items), scheme_findings)]
    else:
        volumes = build_label_volumes(series.geometry, items)
    converted = {r.roi.position: numbers[r.roi.position] for r in rasters if r.converted}
    logger.info("%d of %d ROI(s) converted, in %d label layer(s)", len(converted), len(rasters), len(volumes))
    report(progress, 1.0, "Converted")
    return RtStructConversion(structure_set, series, rasters, volumes, converted, scheme, assignments, scheme_findings)


def _structure_set(rtstruct: str | Path | StructureSet, processes: int = 1) -> StructureSet:
    structure_set = rtstruct if isinstance(rtstruct, StructureSet) else read_rtstruct(rtstruct, processes)
    contours = sum(len(roi.contours) for roi in structure_set.rois)
    logger.info("RT Structure Set %s: %d ROI(s), %d contour(s)", structure_set.path or "(data set)", len(structure_set.rois), contours)
    return structure_set


def _label_items(
    rasters: Sequence[RoiRaster], numbers: dict[int, int], scheme: LabelScheme | None, findings: list[Finding]
) -> list[tuple[Segment, BoxMask]]:
    """One ``(segment, mask)`` per label value, ascending: the scheme's description over the
    ROI's; several ROIs on one label are united (with a warning naming them)."""
    groups: dict[int, list[RoiRaster]] = {}
    for raster in rasters:
        if raster.mask is not None:
            groups.setdefault(numbers[raster.roi.position], []).append(raster)
    items = []
    for value in sorted(groups):
        members = groups[value]
        spec = _spec(scheme, value)
        segment = segment_for_roi(members[0], value)
        if spec is not None:
            segment = spec.describe(segment)
        if len(members) > 1 or spec is not None:
            segment.properties["RoiNames"] = json.dumps([r.roi.name for r in members], ensure_ascii=False)
        mask = members[0].mask
        if len(members) > 1:
            segment.properties["RoiNumber"] = ", ".join(str(r.roi.number) for r in members)
            full = np.zeros(members[0].mask.shape, dtype=bool)  # type: ignore[union-attr]
            for member in members:
                if not member.mask.is_empty():  # type: ignore[union-attr]
                    full[member.mask.box] |= member.mask.crop  # type: ignore[union-attr]
            mask = BoxMask.from_full(full)
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"ROIs {', '.join(repr(r.roi.name) for r in members)} all map to label {value} '{segment.label}'; "
                    "the label is the union of their masks",
                    kind="scheme_union",
                )
            )
        items.append((segment, mask))
    return items  # type: ignore[return-value]


def _spec(scheme: LabelScheme | None, value: int) -> LabelSpec | None:
    if scheme is None:
        return None
    try:
        return scheme.label(value)
    except KeyError:
        return None


def _priority_rank(scheme: LabelScheme, items: Sequence[tuple[Segment, BoxMask]]) -> list[int]:
    """Label values, highest priority first: the scheme's order, then kept ROIs in ROI order."""
    order = scheme.priority_order()
    return order + [segment.number for segment, _ in items if segment.number not in order]


def priority_volume(geometry: Any, items: Sequence[tuple[Segment, BoxMask]], rank: Sequence[int], findings: list[Finding]) -> LabelVolume:
    """One label map of every segment: where masks overlap, the segment earlier in ``rank`` keeps
    the voxel. Each segment that gives voxels away gets a warning saying how many went to which."""
    dtype = label_dtype(max((segment.number for segment, _ in items), default=0))
    array = np.zeros(geometry.shape, dtype=dtype)
    place = {value: index for index, value in enumerate(rank)}
    names = {segment.number: segment.label for segment, _ in items}
    for segment, mask in sorted(items, key=lambda item: place.get(item[0].number, len(place))):
        if mask.is_empty():
            continue
        region = array[mask.box]
        taken = mask.crop & (region != 0)
        if taken.any():
            winners, counts = np.unique(region[taken], return_counts=True)
            given = ", ".join(f"{int(c):,} to '{names[int(w)]}' ({int(w)})" for w, c in zip(winners, counts, strict=True))
            total = mask.voxel_count
            lost = int(counts.sum())
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"label {segment.number} '{segment.label}' overlaps labels of higher priority: {lost:,} of its {total:,} voxels "
                    f"went to them ({given})" + ("; nothing of it is left in the label map" if lost == total else ""),
                    kind="scheme_priority_overlap",
                )
            )
        region[mask.crop & (region == 0)] = segment.number
    return LabelVolume(array, geometry, [segment for segment, _ in items])

"""RT Structure Set -> label layers on the reference grid: the whole flow in one call."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidDicomError, ReferenceSeriesError
from .findings import Finding, Severity
from .labels import MAX_SEGMENT_NUMBER, LabelVolume, build_label_volumes
from .progress import ProgressCallback, report, scaled
from .rasterize import RasterOptions, RoiRaster, rasterize_structure_set
from .rtstruct import StructureSet, read_rtstruct
from .segment import Segment, SegmentAlgorithmType
from .series import ReferenceSeries, scan_series

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

    def segment_number(self, raster: RoiRaster) -> int | None:
        """The segment number (label value) of a converted ROI."""
        return self.segment_numbers.get(raster.roi.position)

    @property
    def findings(self) -> list[Finding]:
        """File-level findings (structure set, then reference series) followed by every ROI's."""
        return list(self.structure_set.findings) + list(self.reference.findings) + [f for roi in self.rois for f in roi.findings]

    @property
    def failed_rois(self) -> list[RoiRaster]:
        return [roi for roi in self.rois if not roi.converted]

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
                "spacing": geometry.spacing.tolist(),
                "ijk_to_lps": geometry.ijk_to_lps.tolist(),
                "skipped_files": dict(self.reference.skipped),
                "skipped": [{"file": path, "reason": reason} for path, reason in self.reference.skipped_files],
                "missing_slices": self.reference.missing_slices,
            },
            "layers": len(self.label_volumes),
            "rois": [roi_row(roi, self, layers) for roi in self.rois],
            "findings": [f.to_dict() for f in self.structure_set.findings + self.reference.findings],
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

    Segments are numbered 1, 2, ... in the order of the Structure Set ROI Sequence (every ROI
    keeps its number even when another fails). ROIs that cannot be converted are left out
    of the layers and carry an ERROR finding.
    """
    report(progress, 0.0, "Reading the RT Structure Set")
    structure_set = rtstruct if isinstance(rtstruct, StructureSet) else read_rtstruct(rtstruct)
    if len(structure_set.rois) > MAX_SEGMENT_NUMBER:
        raise InvalidDicomError(
            f"the RT Structure Set holds {len(structure_set.rois)} ROIs; a label map holds at most {MAX_SEGMENT_NUMBER} segments",
            structure_set.path,
            "StructureSetROISequence",
        )
    if isinstance(reference, ReferenceSeries):
        series = reference
    else:
        series = _find_reference(structure_set, reference, series_instance_uid, progress, allow_missing_slices)
    if series.missing_slices:
        from .findings import format_ranges

        structure_set.findings.append(
            Finding(
                Severity.WARNING,
                f"the reference series has no image at slice(s) {format_ranges(series.missing_slices)} of its regular grid; "
                "those positions are kept (contours there are drawn as on any slice)",
                attribute="ImagePositionPatient",
            )
        )
    rasters = rasterize_structure_set(structure_set, series, options, scaled(progress, 0.4, 0.9))
    numbers = {raster.roi.position: number for number, raster in enumerate(rasters, start=1)}
    items = [(segment_for_roi(r, numbers[r.roi.position]), r.mask) for r in rasters if r.mask is not None]
    report(progress, 0.9, "Packing label layers")
    volumes = build_label_volumes(series.geometry, items)  # type: ignore[arg-type]
    converted = {r.roi.position: numbers[r.roi.position] for r in rasters if r.converted}
    report(progress, 1.0, "Converted")
    return RtStructConversion(structure_set, series, rasters, volumes, converted)


def _find_reference(
    structure_set: StructureSet,
    source: str | Path | Sequence[str | Path],
    series_instance_uid: str | None,
    progress: ProgressCallback | None,
    allow_missing_slices: bool = False,
) -> ReferenceSeries:
    scan = scan_series(source, scaled(progress, 0.05, 0.35))
    frames = set(structure_set.frame_of_reference_uids) | {
        roi.frame_of_reference_uid for roi in structure_set.rois if roi.frame_of_reference_uid
    }
    frame = next(iter(frames)) if len(frames) == 1 else None
    referenced_instances = structure_set.referenced_sop_instance_uids()
    preferred = set(structure_set.referenced_series_uids) | {
        uid for uid, frames_of in scan.frames_by_series.items() if any(f.sop_instance_uid in referenced_instances for f in frames_of)
    }
    try:
        return scan.select(series_instance_uid, frame, preferred, allow_missing_slices=allow_missing_slices)
    except ReferenceSeriesError as error:
        named = [
            uid for uid, frames_of in scan.frames_by_series.items() if any(f.sop_instance_uid in referenced_instances for f in frames_of)
        ]
        if series_instance_uid is None and frame is not None and len(named) == 1:
            # Contours that name this series' images outweigh a Frame of Reference UID that
            # an anonymiser may have rewritten in one of the two objects.
            structure_set.findings.append(
                Finding(
                    Severity.WARNING,
                    f"no image series is in the structure set's Frame of Reference {frame}; series {named[0]} is used "
                    "because the contours reference its images",
                    attribute="FrameOfReferenceUID",
                )
            )
            return scan.select(named[0], allow_missing_slices=allow_missing_slices)
        raise ReferenceSeriesError(f"reference series for {structure_set.path or 'the RT Structure Set'}: {error}") from error

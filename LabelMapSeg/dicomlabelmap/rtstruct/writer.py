"""Label layers -> an RT Structure Set whose contours read back as exactly the same voxels.

One ROI per segment (or per label of a label scheme, :mod:`~dicomlabelmap.rtstruct.selection`).
Each slice of a segment's mask becomes closed outlines that pass strictly between inside and
outside voxel centres (:mod:`~dicomlabelmap.rtstruct.outlines`), so every reader that samples
voxel centres finds the same voxels, whatever its rule for centres on a contour. Holes are
written in one of three documented ways (PS3.3 C.8.8.6.3, CP 2037), chosen by :class:`HoleStyle`.

Exactness is checked, not assumed: the file is written to a temporary name, read back with our
own reader (:func:`~dicomlabelmap.rtstruct.reader.read_rtstruct` and
:func:`~dicomlabelmap.rtstruct.rasterize.rasterize_structure_set`) and every ROI compared voxel
for voxel with its segment; any difference (or any finding the reader raises about the contours)
fails the write, naming the ROI and the slices, and nothing is left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..dicom.images import ReferenceSeries
from ..errors import DicomLabelMapError, OutputError
from ..findings import Finding, Severity, format_ranges
from ..model.labels import LabelVolume
from ..model.masks import BoxMask
from ..model.scheme import LabelScheme
from ..outputs import check_output_file, write_verified
from ..progress import ProgressCallback, report, scaled
from .builder import RoiContours, StructureSetHeader, build_structure_set, save_structure_set
from .keyholes import keyhole_polygons
from .outlines import ContourShape, FloatArray, Loops, trace_loops
from .rasterize import rasterize_structure_set
from .reader import ContourGeometricType, read_rtstruct
from .selection import RoiPlan, Selection, select_rois

logger = logging.getLogger(__name__)


class HoleStyle(str, Enum):
    """How holes (and islands inside holes) are written (PS3.3 C.8.8.6.3)."""

    #: One CLOSED_PLANAR polygon per connected piece, each hole joined by a zero-width channel:
    #: right in readers that unite the contours of a plane (plastimatch's default) as well as in
    #: those that combine them by exclusive or.
    KEYHOLE = "keyhole"
    #: Every boundary its own CLOSED_PLANAR contour, holes inside outer contours (as Varian and
    #: RayStation export): right in readers that combine contours by exclusive or / even-odd.
    NESTED = "nested"
    #: Every boundary its own CLOSEDPLANAR_XOR contour (CP 2037): combined by exclusive or by
    #: definition; readers that do not know the type skip it.
    XOR = "xor"

    def __str__(self) -> str:
        return self.value

    @property
    def description(self) -> str:
        """What the choice means for readers, in one sentence (from the reader matrix)."""
        return {
            HoleStyle.KEYHOLE: "keyholes: one polygon per piece, holes joined by zero-width channels (read exactly by every reader tested)",
            HoleStyle.NESTED: "nested contours: holes as separate contours inside their outline (plastimatch and others that unite "
            "contours fill the holes)",
            HoleStyle.XOR: "CLOSEDPLANAR_XOR contours (DICOM CP 2037; readers that do not know the type skip them)",
        }[self]


@dataclass(frozen=True)
class ContourWriteOptions:
    """How :func:`write_rtstruct` writes contours and the structure set's header."""

    holes: HoleStyle = HoleStyle.KEYHOLE
    shape: ContourShape = ContourShape.MIDPOINT
    #: Leave out segments without voxels (otherwise: an ROI without contours, with a warning).
    skip_empty: bool = False
    structure_set_label: str = "LabelMapSeg"
    structure_set_name: str = ""
    series_description: str = "RT Structure Set"
    series_number: int = 301
    #: 2: the read-back check draws part of the ROIs in a forked helper process (Linux, the
    #: command line; the same check). The library's default stays one process.
    processes: int = 1

    @classmethod
    def from_words(cls, holes: str | HoleStyle = "keyhole", shape: str | ContourShape = "midpoint", **options: Any) -> ContourWriteOptions:
        """Options from what a user typed or chose (``keyhole``/``nested``/``xor``,
        ``midpoint``/``voxel-edge``): the one place where those words become options."""
        try:
            style = HoleStyle(holes)
        except ValueError:
            raise DicomLabelMapError(f"unknown hole style {holes!r}; use one of {', '.join(s.value for s in HoleStyle)}") from None
        try:
            outline = ContourShape(shape)
        except ValueError:
            raise DicomLabelMapError(f"unknown contour shape {shape!r}; use one of {', '.join(s.value for s in ContourShape)}") from None
        return cls(holes=style, shape=outline, **options)

    def __post_init__(self) -> None:
        # Structure Set Label is SH (16 characters), Series Description LO (64): refused, not cut.
        for value, limit, what in (
            (self.structure_set_label, 16, "Structure Set Label"),
            (self.series_description, 64, "Series Description"),
        ):
            if len(value) > limit:
                raise DicomLabelMapError(f"{what} '{value}' is longer than {limit} characters")


@dataclass
class RoiWritten:
    """One ROI of the structure set written, and how it read back."""

    number: int
    name: str
    segment_numbers: list[int]
    interpreted_type: str
    contours: int
    points: int
    #: Boundaries with background inside (holes), and connected pieces (outer boundaries).
    holes: int
    pieces: int
    slices: int
    voxels: int
    round_trip: str = "identical"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ContourWriteResult:
    """What :func:`write_rtstruct` wrote: the file, its ROIs, what deserves a look."""

    path: Path
    sop_instance_uid: str
    series_instance_uid: str
    options: ContourWriteOptions
    rois: list[RoiWritten]
    findings: list[Finding] = field(default_factory=list)
    #: ``(segment number, name, reason)`` of segments not written (scheme, ``skip_empty``).
    left_out: list[tuple[int, str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.path),
            "sop_instance_uid": self.sop_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "holes": self.options.holes.value,
            "shape": self.options.shape.value,
            "rois": [roi.to_dict() for roi in self.rois],
            "left_out": [{"segment_number": n, "name": name, "reason": why} for n, name, why in self.left_out],
            "findings": [finding.to_dict() for finding in self.findings],
        }


def write_rtstruct(
    volumes: Sequence[LabelVolume],
    reference: ReferenceSeries,
    path: str | Path,
    options: ContourWriteOptions = ContourWriteOptions(),
    scheme: LabelScheme | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> ContourWriteResult:
    """Write label layers as an RT Structure Set on ``reference``, read it back and compare.

    Parameters
    ----------
    volumes
        The label layers, on the reference grid or on one that differs only by axis order and
        direction (then reoriented, never resampled).
    reference
        The image series the labels were drawn on, read from DICOM (its image UIDs are written).
    path
        The file to write.
    scheme
        A label scheme: which segments become ROIs, their numbers, names, colours, interpreted
        types (:func:`~dicomlabelmap.model.scheme.build_scheme`).
    progress
        ``progress(fraction, message)``; raise :class:`~dicomlabelmap.errors.OperationCancelled`
        in it to stop (nothing is written).

    Raises
    ------
    GeometryError
        When the labels do not lie on the reference lattice (the message says how they differ).
    OutputError
        When the file exists (without ``overwrite``) or does not read back as the segments.
    """
    target = Path(path)
    check_output_file(target, overwrite)  # before any work: an existing file or a missing folder fails at once
    _check_reference(reference)
    placed = [volume.on_grid(reference.geometry) for volume in volumes]
    selection = select_rois(placed, scheme)
    plans = _plans_to_write(selection, options)
    report(progress, 0.02, "Tracing outlines")
    rois, written = [], []
    for index, plan in enumerate(plans):
        report(progress, 0.02 + 0.5 * index / max(1, len(plans)), f"Tracing {plan.segment.label}")
        roi, row = _roi_contours(plan, reference, options, selection.findings)
        rois.append(roi)
        written.append(row)
    header = StructureSetHeader(
        options.structure_set_label, options.structure_set_name, "", options.series_description, options.series_number
    )
    dataset = build_structure_set(rois, reference, header)
    report(progress, 0.6, "Writing and reading back")
    write_verified(
        target,
        partial(save_structure_set, dataset),
        partial(_verify, plans=plans, reference=reference, progress=scaled(progress, 0.6, 1.0), processes=options.processes),
        overwrite,
    )
    report(progress, 1.0, "Written and verified")
    return ContourWriteResult(
        target, str(dataset.SOPInstanceUID), str(dataset.SeriesInstanceUID), options, written, selection.findings, selection.left_out
    )


def _check_reference(reference: ReferenceSeries) -> None:
    if not any(source.sop_instance_uid for source in reference.slices):
        raise DicomLabelMapError(
            "the reference series has no source images (it was not read from DICOM, or its SOP Instance UIDs are empty); "
            "an RT Structure Set names the images its contours lie on"
        )
    if not reference.study_instance_uid:
        raise DicomLabelMapError(
            "the reference series has no Study Instance UID (0020,000D) (an anonymiser emptied it?); an RT Structure Set "
            "references the study of its images"
        )


def _plans_to_write(selection: Selection, options: ContourWriteOptions) -> list[RoiPlan]:
    """The ROIs to write; empty ones left out with ``skip_empty``, else kept with a warning."""
    plans = []
    for plan in selection.rois:
        if plan.mask.is_empty():
            if options.skip_empty:
                selection.left_out.append((plan.number, plan.segment.label, "empty (--skip-empty)"))
                continue
            selection.findings.append(
                Finding(
                    Severity.WARNING,
                    "the segment holds no voxel: its ROI is written without contours",
                    plan.number,
                    plan.segment.label,
                    kind="empty_segment",
                )
            )
        plans.append(plan)
    if not plans:
        raise DicomLabelMapError("no segment to write: " + ("every segment is empty" if selection.rois else "the selection is empty"))
    return plans


def _roi_contours(
    plan: RoiPlan, reference: ReferenceSeries, options: ContourWriteOptions, findings: list[Finding]
) -> tuple[RoiContours, RoiWritten]:
    """The contours of one ROI in patient coordinates, and its line of the report."""
    segment = plan.segment
    roi = RoiContours(
        plan.number,
        segment.label or f"Segment {plan.number}",
        segment.display_color(),
        plan.interpreted_type,
        segment.algorithm_type.value,
        segment.description,
    )
    if len(roi.name) > 64:
        findings.append(
            Finding(Severity.WARNING, "the name is cut to its first 64 characters (ROI Name, LO)", plan.number, roi.name, "ROIName")
        )
    loops = trace_loops(plan.mask.crop, plan.mask.offset, options.shape) if not plan.mask.is_empty() else None
    if loops is not None and len(loops):
        roi.contours = _patient_contours(loops, options.holes, reference)
    holes = int(np.count_nonzero(loops.holes)) if loops is not None else 0
    row = RoiWritten(
        plan.number,
        roi.name[:64],
        plan.segment_numbers,
        roi.interpreted_type,
        len(roi.contours),
        sum(len(points) for _, points, _ in roi.contours),
        holes,
        (len(loops) - holes) if loops is not None else 0,
        len({k for k, _, _ in roi.contours}),
        plan.mask.voxel_count,
    )
    return roi, row


def _patient_contours(loops: Loops, style: HoleStyle, reference: ReferenceSeries) -> list[tuple[int, FloatArray, ContourGeometricType]]:
    """Outlines as contours in LPS, by hole style."""
    if style is HoleStyle.KEYHOLE:
        polygons = keyhole_polygons(loops)
        kind = ContourGeometricType.CLOSED_PLANAR
    else:
        polygons = [(int(loops.slices[n]), loops.loop(n)) for n in range(len(loops))]
        kind = ContourGeometricType.CLOSEDPLANAR_XOR if style is HoleStyle.XOR else ContourGeometricType.CLOSED_PLANAR
    sizes = [len(points) for _, points in polygons]
    pixels = np.concatenate([points for _, points in polygons])
    slices = np.repeat([k for k, _ in polygons], sizes)
    patient = reference.geometry.to_lps(np.column_stack([pixels, slices]))
    bounds = np.cumsum([0] + sizes)
    return [(k, patient[bounds[n] : bounds[n + 1]], kind) for n, (k, _) in enumerate(polygons)]


# -- verification ------------------------------------------------------------------------------------
#: Reader findings that an ROI written here may carry: an ROI without contours.
_EXPECTED_FINDINGS = {"ContourSequence"}


def _verify(
    path: Path, plans: Sequence[RoiPlan], reference: ReferenceSeries, progress: ProgressCallback | None = None, processes: int = 1
) -> None:
    """Read the file back with our reader and compare every ROI with its segment, voxel for voxel."""
    structure_set = read_rtstruct(path, processes)
    if len(structure_set.rois) != len(plans):
        raise OutputError(f"{path}: wrote {len(plans)} ROI(s) but read back {len(structure_set.rois)}")
    rasters = rasterize_structure_set(structure_set, reference, progress=progress, processes=processes)
    for plan, raster in zip(plans, rasters, strict=True):
        where = f"ROI {plan.number} '{raster.roi.name}'"
        if raster.roi.number != plan.number:
            raise OutputError(f"{path}: {where} reads back as ROI number {raster.roi.number}")
        unexpected = [f for f in raster.findings if f.attribute not in _EXPECTED_FINDINGS]
        if unexpected or raster.mask is None:
            raise OutputError(f"{path}: {where} does not read back cleanly: {unexpected[0] if unexpected else 'not converted'}")
        changed = _differing_slices(plan.mask, raster.mask)
        if changed:
            count = sum(int(np.count_nonzero(plan.mask.plane(k) != raster.mask.plane(k))) for k in changed)
            raise OutputError(
                f"{path}: {where} reads back with {count} voxel(s) changed on slice(s) {format_ranges(changed)}; nothing was written"
            )


def _differing_slices(expected: BoxMask, found: BoxMask) -> list[int]:
    if expected.is_empty() and found.is_empty():
        return []
    if expected.offset == found.offset and expected.crop.shape == found.crop.shape and np.array_equal(expected.crop, found.crop):
        return []
    slices = set()
    for mask in (expected, found):
        if not mask.is_empty():
            slices |= set(range(mask.offset[0], mask.offset[0] + mask.crop.shape[0]))
    return [k for k in sorted(slices) if not np.array_equal(expected.plane(k), found.plane(k))]

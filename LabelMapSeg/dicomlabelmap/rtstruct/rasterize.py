"""RT Structure Set -> one boolean mask per ROI on the reference grid (PS3.3 C.8.8.6).

Rules applied, in order:

1. Every closed contour is projected on the slice normal. A contour whose points spread along
   the normal more than ``planarity_tolerance_mm`` is an error for its ROI (not planar, or its
   plane is tilted against the slices); so is a contour with a coordinate beyond
   :data:`MAX_COORDINATE_MM` (no patient is a kilometre wide), and one the reader could not use
   (no Contour Data, NaN, an invalid Contour Offset Vector...). With ``skip_bad_contours`` each
   such contour is left out instead, reported as a warning naming it, and the ROI converts from
   the rest.
2. Contours are grouped by their own plane (positions within the planarity tolerance of the
   plane's first contour) before anything is combined: contours of two planes are never
   combined with each other.
3. Each plane goes to the nearest slice. A plane exactly half-way between two slices (within
   :data:`HALF_WAY_TOLERANCE_MM`) goes to the slice below it (lower index ``k``), unless every
   Contour Image Sequence of the plane names the slice above; this keeps a structure set drawn
   on slices shifted by half a spacing one plane per slice. A plane farther than
   ``slice_tolerance_mm`` from every slice is reported and not drawn. When several planes meet
   on one slice, the union of their areas is drawn (reported).
4. On each plane, repeated outlines (the same closed path within ``duplicate_tolerance`` pixels,
   any start and direction) count once. The remaining closed contours are combined by the
   even-odd rule, the exclusive or of their interiors: keyholes, nested contours (holes,
   islands in holes) and ``CLOSEDPLANAR_XOR`` sets come out right. ``CLOSED_PLANAR``
   contours that cross or touch (neither nested nor apart: undefined in PS3.3 C.8.8.6.3) are
   first merged into the union of their interiors, so no area cancels.
5. A voxel is inside when its centre is inside, or on a contour's path.
6. An outer contour that encloses no voxel centre is reported and, unless
   ``mark_unfilled_contours`` is off, the voxels its path passes through are set, so nothing
   drawn disappears; the same for a plane whose contours enclose centres but whose holes
   remove all of them.
7. ``POINT``, ``OPEN_PLANAR`` and ``OPEN_NONPLANAR`` contours enclose no area: they are counted,
   their points stay available on the :class:`~dicomlabelmap.rtstruct.reader.Roi`, nothing is drawn.

Findings repeated per contour or slice are condensed to one per ROI and kind
(:func:`~dicomlabelmap.findings.condense`).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..dicom.images import ReferenceSeries
from ..errors import ResourceLimitError
from ..findings import Finding, Severity, condense
from ..model.geometry import FloatArray, ImageGeometry
from ..model.masks import BoxMask
from ..progress import ProgressCallback, report
from .parallel import map_in_two_processes, split_rois, worth_forking
from .polygons import (
    DEFAULT_BOUNDARY_TOLERANCE,
    DEFAULT_DUPLICATE_TOLERANCE,
    fill_with_groups,
    mark_path,
    plane_relations,
    polygon_area,
    repeated_outlines,
)
from .reader import Contour, ContourGeometricType, Roi, StructureSet

logger = logging.getLogger(__name__)

#: Largest absolute patient coordinate (mm) a contour may hold: 1 km, far beyond any patient or
#: table position. Larger values are corrupt data (1e20, 1e308) and make the ROI fail.
MAX_COORDINATE_MM = 1.0e6

#: How a contour left out by ``skip_bad_contours`` is reported (after the reason).
LEFT_OUT = "the contour is left out (--skip-bad-contours)"

#: A plane this close (mm) to the middle between two slices is "exactly half-way".
HALF_WAY_TOLERANCE_MM = 1e-3


@dataclass(frozen=True)
class RasterOptions:
    """Options of :func:`rasterize_structure_set`.

    Parameters
    ----------
    slice_tolerance_mm
        Farthest a contour plane may lie from the nearest slice centre to be drawn on it;
        ``None`` means half the slice spacing.
    planarity_tolerance_mm
        Largest spread of a contour's points along the slice normal, and of the positions of
        contours that share one plane; ``None`` means a tenth of the slice spacing.
    mark_unfilled_contours
        Set the voxels along outer contours that enclose no voxel centre.
    boundary_tolerance
        Distance (in pixels) within which a voxel centre lies on a contour's path.
    duplicate_tolerance
        Distance (in pixels) within which two outlines of one plane are the same outline.
    skip_bad_contours
        Leave out contours that cannot be used (not planar, tilted, absurd coordinates, unreadable)
        and convert the ROI from the rest, each left out contour reported as a warning naming it;
        by default such a contour fails its whole ROI.
    """

    slice_tolerance_mm: float | None = None
    planarity_tolerance_mm: float | None = None
    mark_unfilled_contours: bool = True
    boundary_tolerance: float = DEFAULT_BOUNDARY_TOLERANCE
    duplicate_tolerance: float = DEFAULT_DUPLICATE_TOLERANCE
    skip_bad_contours: bool = False


@dataclass
class RoiRaster:
    """An ROI's mask on the reference grid and what was found on the way."""

    roi: Roi
    #: ``None`` when the ROI has an error and was not converted.
    mask: BoxMask | None
    contour_count: int = 0
    plane_count: int = 0
    nested_count: int = 0
    xor_count: int = 0
    keyhole_count: int = 0
    point_count: int = 0
    open_count: int = 0
    #: Outlines counted once because they repeat another outline of their plane.
    repeated_count: int = 0
    findings: list[Finding] = field(default_factory=list)

    def add_finding(
        self, severity: Severity, message: str, attribute: str | None = None, slice_index: int | None = None, kind: str | None = None
    ) -> None:
        self.findings.append(Finding(severity, message, self.roi.number, self.roi.name, attribute, slice_index, kind))

    @property
    def converted(self) -> bool:
        return self.mask is not None

    @property
    def voxel_count(self) -> int:
        return 0 if self.mask is None else self.mask.voxel_count

    def full_mask(self) -> np.ndarray:
        """The mask on the whole reference grid (shape ``(slices, rows, columns)``)."""
        if self.mask is None:
            raise ValueError(f"ROI {self.roi.number} '{self.roi.name}' was not converted: {self.findings}")
        return self.mask.full()


@dataclass
class _Plane:
    """Closed contours of one ROI that lie in one plane, in pixel coordinates ``(i, j)``."""

    #: Position along the normal, in slice indices (fractional).
    position: float
    entries: list[tuple[Contour, FloatArray]]
    slice_index: int = -1


def rasterize_structure_set(
    structure_set: StructureSet,
    reference: ReferenceSeries | ImageGeometry,
    options: RasterOptions = RasterOptions(),
    progress: ProgressCallback | None = None,
    processes: int = 1,
) -> list[RoiRaster]:
    """Draw every ROI of ``structure_set`` on the reference grid.

    ROIs whose Frame of Reference differs from the reference's, or that have read errors,
    come back with ``mask=None`` and an ERROR finding; every other ROI is converted.
    ``processes=2`` draws part of the ROIs in a forked helper process on Linux when there is
    enough to draw (:mod:`~dicomlabelmap.rtstruct.parallel`; the command line does this); the
    result is the same.
    """
    geometry = reference.geometry if isinstance(reference, ReferenceSeries) else reference
    series = reference if isinstance(reference, ReferenceSeries) else None
    # Instance UID -> slice, built once: per-contour references are checked against it. The frames
    # of a multi-frame image share one UID, so it names no single slice and is left out.
    slice_of: dict[str, int] = {}
    for k, source in enumerate(series.slices if series else []):
        if source.sop_instance_uid:
            slice_of[source.sop_instance_uid] = -1 if source.sop_instance_uid in slice_of else k
    slice_of = {uid: k for uid, k in slice_of.items() if k >= 0}
    rois = structure_set.rois
    if processes > 1 and worth_forking(rois):
        mine, theirs = split_rois(rois)

        def work(index: int) -> dict[str, Any]:
            if index in mine:
                report(progress, mine.index(index) / max(1, len(mine)), f"Drawing {rois[index].name}")
            result = _draw(rois[index], geometry, slice_of, options)
            return {key: value for key, value in vars(result).items() if key != "roi"}  # the contours stay here

        drawn = map_in_two_processes(work, mine, theirs)
        results = [RoiRaster(roi, **drawn[index]) for index, roi in enumerate(rois)]
    else:
        results = []
        for index, roi in enumerate(rois):
            report(progress, index / max(1, len(rois)), f"Drawing {roi.name}")
            results.append(_draw(roi, geometry, slice_of, options))
    report(progress, 1.0, "Drawn all ROIs")
    return results


def _draw(roi: Roi, geometry: ImageGeometry, slice_of: dict[str, int], options: RasterOptions) -> RoiRaster:
    """One ROI drawn, its findings condensed, what it took logged (``-v``)."""
    started = time.perf_counter()
    result = _rasterize_roi(roi, geometry, slice_of, options)
    result.findings = condense(result.findings)
    logger.info(
        "ROI %s '%s': %d contour(s) on %d slice(s), %d voxel(s), %s in %.3f s",
        roi.number,
        roi.name,
        result.contour_count,
        result.plane_count,
        result.voxel_count,
        "converted" if result.converted else "FAILED",
        time.perf_counter() - started,
    )
    return result


def _rasterize_roi(roi: Roi, geometry: ImageGeometry, slice_of: dict[str, int], options: RasterOptions) -> RoiRaster:
    result = RoiRaster(roi, None, contour_count=len(roi.contours), findings=_reader_findings(roi, options))
    result.point_count = sum(c.geometric_type is ContourGeometricType.POINT for c in roi.contours)
    result.open_count = sum(
        c.geometric_type in (ContourGeometricType.OPEN_PLANAR, ContourGeometricType.OPEN_NONPLANAR) for c in roi.contours
    )
    result.xor_count = sum(c.geometric_type is ContourGeometricType.CLOSEDPLANAR_XOR for c in roi.contours)
    if any(f.severity is Severity.ERROR for f in result.findings) or not _frame_of_reference_fits(result, geometry, slice_of):
        return result
    planes = _planes_of(result, geometry, options)
    if planes is None:
        return result
    by_slice = _assign_to_slices(result, planes, geometry, slice_of, options)
    try:
        # Each slice kept cropped to what it holds: no full plane per slice stays in memory.
        drawn = {k: _cropped(_draw_slice(result, k, by_slice[k], geometry, options)) for k in sorted(by_slice)}
    except ResourceLimitError as error:
        result.add_finding(Severity.ERROR, f"the ROI is not converted: {error}", error.attribute or "ContourData")
        return result
    result.plane_count = len(by_slice)
    result.mask = BoxMask.from_cropped_planes(geometry.shape, drawn)
    return result


def _cropped(plane: np.ndarray) -> tuple[int, int, np.ndarray]:
    """A plane as ``(row, column, crop)``: its bounding box's corner and contents."""
    rows = np.flatnonzero(plane.any(axis=1))
    if not rows.size:
        return 0, 0, np.zeros((0, 0), dtype=bool)
    columns = np.flatnonzero(plane.any(axis=0))
    return int(rows[0]), int(columns[0]), plane[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1].copy()


def _reader_findings(roi: Roi, options: RasterOptions) -> list[Finding]:
    """The reader's findings on ``roi``; with ``skip_bad_contours`` those about one unusable
    contour (which the reader did not keep) become warnings saying it is left out."""
    if not options.skip_bad_contours:
        return list(roi.findings)
    return [
        replace(finding, severity=Severity.WARNING, message=f"{finding.message}; {LEFT_OUT}")
        if finding.severity is Severity.ERROR and finding.contour_number is not None
        else finding
        for finding in roi.findings
    ]


def _frame_of_reference_fits(result: RoiRaster, geometry: ImageGeometry, slice_of: dict[str, int]) -> bool:
    """False (with an ERROR) when the ROI lies in another Frame of Reference than the grid,
    unless its contours name images of the reference series (then a WARNING)."""
    roi, frame = result.roi, geometry.frame_of_reference_uid
    if not roi.frame_of_reference_uid or not frame or roi.frame_of_reference_uid == frame:
        return True
    message = f"the ROI is in Frame of Reference {roi.frame_of_reference_uid}, the reference series in {frame}"
    if not any(uid in slice_of for c in roi.contours for uid in c.referenced_sop_instance_uids):
        result.add_finding(Severity.ERROR, message, "ReferencedFrameOfReferenceUID")
        return False
    result.add_finding(
        Severity.WARNING,
        message + "; its contours reference images of the series, so they are drawn as they are",
        "ReferencedFrameOfReferenceUID",
    )
    return True


# -- contours -> planes -> slices --------------------------------------------------------------------
def _planes_of(result: RoiRaster, geometry: ImageGeometry, options: RasterOptions) -> list[_Plane] | None:
    """The ROI's closed contours grouped by plane; ``None`` (with ERROR findings) when a contour
    is not planar or holds absurd coordinates."""
    slice_spacing = float(geometry.spacing[2])
    planarity_tolerance = options.planarity_tolerance_mm if options.planarity_tolerance_mm is not None else slice_spacing / 10
    located: list[tuple[float, Contour, FloatArray]] = []
    errors = False
    for contour in result.roi.contours:
        if not contour.geometric_type.encloses_area:
            continue
        largest = float(np.max(np.abs(contour.points)))
        if largest > MAX_COORDINATE_MM:
            message = (
                f"contour {contour.index + 1} holds a coordinate of {largest:.6g} mm, beyond the bound of "
                f"{MAX_COORDINATE_MM:.0f} mm for patient coordinates (corrupt Contour Data)"
            )
            errors |= _unusable(result, contour, message, options, "absurd_coordinates")
            continue
        ijk = geometry.to_ijk(contour.points)
        depth_mm = ijk[:, 2] * slice_spacing
        spread = float(depth_mm.max() - depth_mm.min())
        if spread > planarity_tolerance:
            errors |= _unusable(result, contour, _planarity_message(contour, geometry, spread, planarity_tolerance), options)
            continue
        located.append((float(ijk[:, 2].mean()), contour, ijk[:, :2]))
    if errors:
        return None
    located.sort(key=lambda entry: entry[0])
    groups: list[list[tuple[float, Contour, FloatArray]]] = []
    tolerance_k = planarity_tolerance / slice_spacing
    for entry in located:
        # Measured from the plane's first contour, so that slowly drifting positions never chain
        # two planes into one.
        if groups and entry[0] - groups[-1][0][0] <= tolerance_k:
            groups[-1].append(entry)
        else:
            groups.append([entry])
    return [_Plane(float(np.mean([p for p, _, _ in group])), [(c, pixels) for _, c, pixels in group]) for group in groups]


def _unusable(result: RoiRaster, contour: Contour, message: str, options: RasterOptions, kind: str | None = None) -> bool:
    """Report a contour that cannot be used: an error for its ROI (returns True), or with
    ``skip_bad_contours`` a warning that it is left out, one per contour (returns False)."""
    if options.skip_bad_contours:
        finding = Finding(Severity.WARNING, f"{message}; {LEFT_OUT}", result.roi.number, result.roi.name, "ContourData")
        result.findings.append(replace(finding, contour_number=contour.index + 1))
        return False
    result.findings.append(
        Finding(Severity.ERROR, message, result.roi.number, result.roi.name, "ContourData", kind=kind, contour_number=contour.index + 1)
    )
    return True


def _assign_to_slices(
    result: RoiRaster, planes: list[_Plane], geometry: ImageGeometry, slice_of: dict[str, int], options: RasterOptions
) -> dict[int, list[_Plane]]:
    """Each plane on its nearest slice (rule 3 of the module docstring)."""
    slice_spacing = float(geometry.spacing[2])
    slice_tolerance = options.slice_tolerance_mm if options.slice_tolerance_mm is not None else slice_spacing / 2 + 1e-6
    last = geometry.shape[0] - 1
    by_slice: dict[int, list[_Plane]] = defaultdict(list)
    slab_warned = False
    for plane in planes:
        below = int(np.floor(plane.position))
        half_way = abs((plane.position - below - 0.5) * slice_spacing) <= HALF_WAY_TOLERANCE_MM
        if half_way:
            k = _half_way_slice(plane, below, last, slice_of)
            if 0 <= below < last:
                result.add_finding(
                    Severity.WARNING,
                    f"the plane at {_plane_mm(geometry, plane.position):.3f} mm lies exactly half-way between slices "
                    f"{below} and {below + 1}; it is drawn on slice {k}",
                    "ContourData",
                    k,
                    kind="half_way",
                )
        else:
            k = int(np.clip(np.round(plane.position), 0, last))
        distance = abs(plane.position - k) * slice_spacing
        if distance > slice_tolerance:
            for contour, _ in plane.entries:
                result.add_finding(
                    Severity.WARNING,
                    f"contour {contour.index + 1} lies {distance:.2f} mm from the nearest slice ({k}), farther than "
                    f"{slice_tolerance:.2f} mm: it is outside the reference volume and is not drawn",
                    "ContourData",
                    kind="outside_volume",
                )
            continue
        plane.slice_index = k
        by_slice[k].append(plane)
        for contour, _ in plane.entries:
            if contour.slab_thickness is not None and contour.slab_thickness > slice_spacing + 1e-6 and not slab_warned:
                result.add_finding(
                    Severity.WARNING,
                    f"Contour Slab Thickness {contour.slab_thickness:g} mm exceeds the slice spacing {slice_spacing:g} mm; "
                    "each contour is drawn on its own slice only",
                    "ContourSlabThickness",
                )
                slab_warned = True
            referenced = {slice_of[uid] for uid in contour.referenced_sop_instance_uids if uid in slice_of}
            if referenced and k not in referenced:
                result.add_finding(
                    Severity.WARNING,
                    f"contour {contour.index + 1}: Contour Image Sequence names slice {sorted(referenced)[0]} but the "
                    f"contour lies on slice {k}; its position is used",
                    "ContourImageSequence",
                    k,
                    kind="image_reference_mismatch",
                )
    for k, sharing in by_slice.items():
        if len(sharing) > 1:
            where = ", ".join(f"{_plane_mm(geometry, plane.position):.3f}" for plane in sharing)
            result.add_finding(
                Severity.WARNING,
                f"{len(sharing)} contour planes (at {where} mm along the slice normal) lie nearest slice {k} "
                f"(at {_plane_mm(geometry, k):.3f} mm); the union of their areas is drawn",
                "ContourData",
                k,
                kind="planes_share_slice",
            )
    return by_slice


def _half_way_slice(plane: _Plane, below: int, last: int, slice_of: dict[str, int]) -> int:
    """The slice for a plane exactly half-way between ``below`` and ``below + 1``."""
    if below < 0:
        return 0
    if below >= last:
        return last
    named = {slice_of[uid] for contour, _ in plane.entries for uid in contour.referenced_sop_instance_uids if uid in slice_of}
    return below + 1 if named == {below + 1} else below


def _plane_mm(geometry: ImageGeometry, position: float) -> float:
    """Distance (mm) along the slice normal of fractional slice ``position``, as DICOM positions
    are compared: the dot product of the LPS point with the normal."""
    point = geometry.to_lps(np.array([[0.0, 0.0, position]]))[0]
    return float(point @ geometry.slice_normal)


# -- one slice ---------------------------------------------------------------------------------------
def _draw_slice(result: RoiRaster, k: int, planes: list[_Plane], geometry: ImageGeometry, options: RasterOptions) -> np.ndarray:
    """The union of the slice's planes, each filled on its own."""
    plane_masks = [_draw_plane(result, k, plane.entries, geometry, options) for plane in planes]
    mask = plane_masks[0]
    for other in plane_masks[1:]:
        mask |= other
    return mask


def _draw_plane(
    result: RoiRaster, k: int, entries: list[tuple[Contour, FloatArray]], geometry: ImageGeometry, options: RasterOptions
) -> np.ndarray:
    """Fill one plane's closed contours and report what deserves a look."""
    find = result.add_finding
    shape = (geometry.shape[1], geometry.shape[2])
    entries = _without_repeats(result, k, entries, options.duplicate_tolerance)
    contours = [contour for contour, _ in entries]
    polygons = [pixels for _, pixels in entries]
    relations = plane_relations(polygons)
    if not relations.analysed:
        find(Severity.WARNING, "the contours are too entangled to be checked", "ContourData", k, kind="entangled")
    if len({c.geometric_type for c in contours}) > 1:
        find(
            Severity.WARNING,
            "this plane mixes CLOSED_PLANAR and CLOSEDPLANAR_XOR contours; contours that do not cross are combined by exclusive or",
            "ContourGeometricType",
            k,
            kind="mixed_types",
        )
    groups = _crossing_groups(result, k, contours, relations.overlapping_pairs)
    plane, covers = fill_with_groups(polygons, groups, shape, options.boundary_tolerance)
    result.keyhole_count += int(np.count_nonzero(relations.self_touching))
    result.nested_count += int(np.count_nonzero(relations.depth))
    grouped = {member for group in groups for member in group}
    for position, contour in enumerate(contours):
        if covers[position]:
            continue
        what = f"contour {contour.index + 1} ({polygon_area(polygons[position]) * geometry.spacing[0] * geometry.spacing[1]:.2f} mm2)"
        if relations.depth[position] % 2 and position not in grouped:
            find(
                Severity.WARNING, f"{what} is a hole that encloses no voxel centre; it removes nothing", "ContourData", k, kind="empty_hole"
            )
        elif options.mark_unfilled_contours:
            count = mark_path(plane, polygons[position], shape)
            find(
                Severity.WARNING,
                f"{what} encloses no voxel centre; the {count} voxel(s) along it are set",
                "ContourData",
                k,
                kind="unfilled_contour",
            )
        else:
            find(Severity.WARNING, f"{what} encloses no voxel centre and is not drawn", "ContourData", k, kind="undrawn_contour")
    if not plane.any() and covers.any():
        outer = [position for position in range(len(contours)) if relations.depth[position] % 2 == 0]
        if options.mark_unfilled_contours:
            count = sum(mark_path(plane, polygons[position], shape) for position in outer)
            find(
                Severity.WARNING,
                f"the contours enclose voxel centres but the holes remove all of them; the {count} voxel(s) along the outer contour(s) "
                "are set",
                "ContourData",
                k,
                kind="cancelled_plane",
            )
        else:
            find(
                Severity.WARNING,
                "the contours enclose voxel centres but the holes remove all of them",
                "ContourData",
                k,
                kind="cancelled_plane",
            )
    return plane


def _without_repeats(
    result: RoiRaster, k: int, entries: list[tuple[Contour, FloatArray]], tolerance: float
) -> list[tuple[Contour, FloatArray]]:
    """Drop outlines that repeat an earlier one (counted once, reported)."""
    if len(entries) < 2:
        return entries
    repeats = repeated_outlines([pixels for _, pixels in entries], tolerance)
    kept = []
    for (contour, pixels), original in zip(entries, repeats, strict=True):
        if original is None:
            kept.append((contour, pixels))
            continue
        result.repeated_count += 1
        result.add_finding(
            Severity.WARNING,
            f"contour {contour.index + 1} repeats contour {entries[original][0].index + 1} (the same closed path within "
            f"{tolerance:g} pixel); it is counted once",
            "ContourData",
            k,
            kind="repeated_outline",
        )
    return kept


def _crossing_groups(result: RoiRaster, k: int, contours: list[Contour], pairs: list[tuple[int, int]]) -> list[list[int]]:
    """Groups of contours joined by crossings in which at least one contour is CLOSED_PLANAR
    (CLOSEDPLANAR_XOR contours may cross: exclusive or is what CP 2037 asks for)."""
    parent = list(range(len(contours)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    joined = False
    for a, b in pairs:
        if ContourGeometricType.CLOSED_PLANAR in (contours[a].geometric_type, contours[b].geometric_type):
            parent[root(a)] = root(b)
            joined = True
    if not joined:
        return []
    members: dict[int, list[int]] = defaultdict(list)
    for index in range(len(contours)):
        members[root(index)].append(index)
    groups = [group for group in members.values() if len(group) > 1]
    for group in groups:
        names = ", ".join(str(contours[i].index + 1) for i in group)
        result.add_finding(
            Severity.WARNING,
            f"contours {names} cross or touch (neither nested nor apart); the union of their areas is drawn",
            "ContourData",
            k,
            kind="crossing",
        )
    return groups


def _planarity_message(contour: Contour, geometry: ImageGeometry, spread: float, tolerance: float) -> str:
    centred = contour.points - contour.points.mean(axis=0)
    if len(centred) >= 3:
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        residual = float(singular[-1] / np.sqrt(len(centred)))
        if residual <= tolerance / 2 and singular[1] > 1e-6:
            cosine = abs(float(vt[-1] @ geometry.slice_normal))
            angle = float(np.degrees(np.arccos(min(1.0, cosine))))
            return (
                f"contour {contour.index + 1} lies in a plane tilted {angle:.1f} degrees from the reference slices "
                f"(its points spread {spread:.2f} mm along the slice normal, tolerance {tolerance:.2f} mm)"
            )
    return (
        f"contour {contour.index + 1} is not planar: its points spread {spread:.2f} mm along the slice normal "
        f"(tolerance {tolerance:.2f} mm)"
    )

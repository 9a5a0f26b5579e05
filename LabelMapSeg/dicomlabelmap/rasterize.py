"""RT Structure Set -> one boolean mask per ROI on the reference grid (PS3.3 C.8.8.6).

Rules applied, in order:

1. Each contour is placed on a slice by projecting its points on the slice normal
   (per-contour image references are only cross-checked: they may point to another series).
   A contour whose points spread along the normal more than ``planarity_tolerance_mm`` is an
   error for its ROI (not planar, or its plane is tilted against the slices). A contour
   farther than ``slice_tolerance_mm`` from every slice is reported and not drawn.
2. On each slice, every closed contour of the ROI (``CLOSED_PLANAR`` and ``CLOSEDPLANAR_XOR``
   alike) is combined by the even-odd rule, which is the exclusive or of their interiors:
   keyholes, nested contours (holes, islands in holes) and XOR sets all come out right.
   Partially overlapping contours, and slices mixing both types, are reported; the same rule
   is applied to them.
3. A voxel is inside when its centre is inside, or on a contour's path.
4. An outer contour that encloses no voxel centre is reported and, unless
   ``mark_unfilled_contours`` is off, the voxels its path passes through are set, so nothing
   drawn disappears.
5. ``POINT``, ``OPEN_PLANAR`` and ``OPEN_NONPLANAR`` contours enclose no area: they are counted,
   their points stay available on the :class:`~dicomlabelmap.rtstruct.Roi`, nothing is drawn.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .errors import ResourceLimitError
from .findings import Finding, Severity
from .geometry import FloatArray, ImageGeometry
from .masks import BoxMask
from .polygons import DEFAULT_BOUNDARY_TOLERANCE, fill_polygons, path_pixels, plane_relations, polygon_area
from .progress import ProgressCallback, report
from .rtstruct import Contour, ContourGeometricType, Roi, StructureSet
from .series import ReferenceSeries

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RasterOptions:
    """Options of :func:`rasterize_structure_set`.

    Parameters
    ----------
    slice_tolerance_mm
        Farthest a contour may lie from the nearest slice centre to be drawn on it;
        ``None`` means half the slice spacing.
    planarity_tolerance_mm
        Largest spread of a contour's points along the slice normal; ``None`` means a tenth
        of the slice spacing.
    mark_unfilled_contours
        Set the voxels along outer contours that enclose no voxel centre.
    boundary_tolerance
        Distance (in pixels) within which a voxel centre lies on a contour's path.
    """

    slice_tolerance_mm: float | None = None
    planarity_tolerance_mm: float | None = None
    mark_unfilled_contours: bool = True
    boundary_tolerance: float = DEFAULT_BOUNDARY_TOLERANCE


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
    findings: list[Finding] = field(default_factory=list)

    def add_finding(self, severity: Severity, message: str, attribute: str | None = None, slice_index: int | None = None) -> None:
        self.findings.append(Finding(severity, message, self.roi.number, self.roi.name, attribute, slice_index))

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


def rasterize_structure_set(
    structure_set: StructureSet,
    reference: ReferenceSeries | ImageGeometry,
    options: RasterOptions = RasterOptions(),
    progress: ProgressCallback | None = None,
) -> list[RoiRaster]:
    """Draw every ROI of ``structure_set`` on the reference grid.

    ROIs whose Frame of Reference differs from the reference's, or that have read errors,
    come back with ``mask=None`` and an ERROR finding; every other ROI is converted.
    """
    geometry = reference.geometry if isinstance(reference, ReferenceSeries) else reference
    series = reference if isinstance(reference, ReferenceSeries) else None
    # Instance UID -> slice, built once: per-contour references are checked against it.
    slice_of = {source.sop_instance_uid: k for k, source in enumerate(series.slices)} if series else {}
    results = []
    for index, roi in enumerate(structure_set.rois):
        report(progress, index / max(1, len(structure_set.rois)), f"Drawing {roi.name}")
        results.append(_rasterize_roi(roi, geometry, slice_of, options))
    report(progress, 1.0, "Drawn all ROIs")
    return results


def _rasterize_roi(roi: Roi, geometry: ImageGeometry, slice_of: dict[str, int], options: RasterOptions) -> RoiRaster:
    result = RoiRaster(roi, None, contour_count=len(roi.contours), findings=list(roi.findings))
    result.point_count = sum(c.geometric_type is ContourGeometricType.POINT for c in roi.contours)
    result.open_count = sum(
        c.geometric_type in (ContourGeometricType.OPEN_PLANAR, ContourGeometricType.OPEN_NONPLANAR) for c in roi.contours
    )
    result.xor_count = sum(c.geometric_type is ContourGeometricType.CLOSEDPLANAR_XOR for c in roi.contours)
    if roi.has_errors or not _frame_of_reference_fits(result, geometry, slice_of):
        return result
    planes, plane_errors = _assign_to_slices(result, geometry, slice_of, options)
    if plane_errors:
        return result
    try:
        drawn = {k: _draw_plane(result, k, planes[k], geometry, options) for k in sorted(planes)}
    except ResourceLimitError as error:
        result.add_finding(Severity.ERROR, f"the ROI is not converted: {error}", error.attribute or "ContourData")
        return result
    result.plane_count = len(planes)
    result.mask = BoxMask.from_planes(geometry.shape, drawn)
    return result


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


def _draw_plane(
    result: RoiRaster, k: int, entries: list[tuple[Contour, FloatArray]], geometry: ImageGeometry, options: RasterOptions
) -> np.ndarray:
    """Fill one slice's closed contours (even-odd) and report what deserves a look."""
    find = result.add_finding
    contours = [contour for contour, _ in entries]
    polygons = [pixels for _, pixels in entries]
    shape = (geometry.shape[1], geometry.shape[2])
    filled = fill_polygons(polygons, shape, options.boundary_tolerance)
    relations = plane_relations(polygons)
    plane = filled.mask
    if not relations.analysed:
        find(
            Severity.WARNING,
            "the contours of this slice are too entangled (edges piled on one another) to be checked for crossings, "
            "keyholes and holes; the slice is filled by the even-odd rule as usual",
            "ContourData",
            k,
        )
    if len({c.geometric_type for c in contours}) > 1:
        find(
            Severity.WARNING,
            "this slice mixes CLOSED_PLANAR and CLOSEDPLANAR_XOR contours; all are combined by exclusive or",
            "ContourGeometricType",
            k,
        )
    for a, b in relations.overlapping_pairs:
        if ContourGeometricType.CLOSED_PLANAR not in (contours[a].geometric_type, contours[b].geometric_type):
            continue  # exclusive or is what CLOSEDPLANAR_XOR asks for (PS3.3 C.8.8.6.3)
        find(
            Severity.WARNING,
            f"contours {contours[a].index + 1} and {contours[b].index + 1} cross or touch (neither nested nor apart); "
            "they are combined by exclusive or, so their common area is left out",
            "ContourData",
            k,
        )
    result.keyhole_count += int(np.count_nonzero(relations.self_touching))
    result.nested_count += int(np.count_nonzero(relations.depth))
    for position, contour in enumerate(contours):
        if filled.covers_centre[position]:
            continue
        what = f"contour {contour.index + 1} ({polygon_area(polygons[position]) * geometry.spacing[0] * geometry.spacing[1]:.2f} mm2)"
        if relations.depth[position] % 2:
            find(Severity.WARNING, f"{what} is a hole that encloses no voxel centre; it removes nothing", "ContourData", k)
        elif options.mark_unfilled_contours:
            path_rows, path_columns = path_pixels(polygons[position], shape)
            plane[path_rows, path_columns] = True
            count = len(set(zip(path_rows.tolist(), path_columns.tolist(), strict=True)))
            find(Severity.WARNING, f"{what} encloses no voxel centre; the {count} voxel(s) along it are set", "ContourData", k)
        else:
            find(Severity.WARNING, f"{what} encloses no voxel centre and is not drawn", "ContourData", k)
    return plane


def _assign_to_slices(
    result: RoiRaster, geometry: ImageGeometry, slice_of: dict[str, int], options: RasterOptions
) -> tuple[dict[int, list[tuple[Contour, FloatArray]]], bool]:
    """Group the ROI's closed contours by slice, in pixel coordinates ``(i, j)``."""
    report_finding = result.add_finding
    slice_spacing = float(geometry.spacing[2])
    slice_tolerance = options.slice_tolerance_mm if options.slice_tolerance_mm is not None else slice_spacing / 2 + 1e-6
    planarity_tolerance = options.planarity_tolerance_mm if options.planarity_tolerance_mm is not None else slice_spacing / 10
    planes: dict[int, list[tuple[Contour, FloatArray]]] = defaultdict(list)
    errors = False
    slab_warned = False
    for contour in result.roi.contours:
        if not contour.geometric_type.encloses_area:
            continue
        ijk = geometry.to_ijk(contour.points)
        depth_mm = ijk[:, 2] * slice_spacing
        spread = float(depth_mm.max() - depth_mm.min())
        if spread > planarity_tolerance:
            report_finding(Severity.ERROR, _planarity_message(contour, geometry, spread, planarity_tolerance), "ContourData")
            errors = True
            continue
        position = float(ijk[:, 2].mean())
        k = int(np.clip(np.round(position), 0, geometry.shape[0] - 1))
        distance = abs(position - k) * slice_spacing
        if distance > slice_tolerance:
            report_finding(
                Severity.WARNING,
                f"contour {contour.index + 1} lies {distance:.2f} mm from the nearest slice ({k}), farther than "
                f"{slice_tolerance:.2f} mm: it is outside the reference volume and is not drawn",
                "ContourData",
            )
            continue
        if contour.slab_thickness is not None and contour.slab_thickness > slice_spacing + 1e-6 and not slab_warned:
            report_finding(
                Severity.WARNING,
                f"Contour Slab Thickness {contour.slab_thickness:g} mm exceeds the slice spacing {slice_spacing:g} mm; "
                "each contour is drawn on its own slice only",
                "ContourSlabThickness",
            )
            slab_warned = True
        referenced = {slice_of[uid] for uid in contour.referenced_sop_instance_uids if uid in slice_of}
        if referenced and k not in referenced:
            report_finding(
                Severity.WARNING,
                f"contour {contour.index + 1}: Contour Image Sequence names slice {sorted(referenced)[0]} but the "
                f"contour lies on slice {k}; its position is used",
                "ContourImageSequence",
                k,
            )
        planes[k].append((contour, ijk[:, :2]))
    return planes, errors


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

"""Which image series an RT Structure Set lies on, and what is assumed when it does not say.

In order: the series the user named; the series in the structure set's Frame of Reference,
preferring the series and images it references; a series whose images the contours name when no
series is in that Frame of Reference (anonymisers rewrite one of the two). A structure set that
references no Frame of Reference, series or image at all (some exports) is put on the only image
series given, and only when its contours lie on that series' slices and inside its images; with
several series, or contours off the grid, it is refused with that reason. When several image
sets share one Series Instance UID, the structure set's Contour Image Sequences say which one
(:meth:`~dicomlabelmap.dicom.scan.SeriesScan.select`). Every assumption is a warning naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..dicom.images import ReferenceSeries
from ..dicom.scan import SeriesScan, scan_series
from ..errors import ReferenceSeriesError
from ..findings import Finding, Severity
from ..model.geometry import ImageGeometry
from ..progress import ProgressCallback, scaled
from .reader import StructureSet

#: Largest distance of an assumed series' contour from a slice centre, in slice spacings.
_ON_SLICE = 0.1


def find_reference(
    structure_set: StructureSet,
    source: str | Path | Sequence[str | Path],
    series_instance_uid: str | None,
    progress: ProgressCallback | None,
    allow_missing_slices: bool = False,
) -> ReferenceSeries:
    """The reference series of ``structure_set`` among the images under ``source``.

    Raises
    ------
    ReferenceSeriesError
        Naming the structure set and the real reason (no series, several, references to none of
        them, contours off the only series' grid).
    """
    scan = scan_series(source, scaled(progress, 0.05, 0.35))
    where = structure_set.path or "the RT Structure Set"
    if series_instance_uid is None and structure_set.references_nothing():
        return _assumed(structure_set, scan, allow_missing_slices)
    frames = set(structure_set.frame_of_reference_uids) | {
        roi.frame_of_reference_uid for roi in structure_set.rois if roi.frame_of_reference_uid
    }
    frame = next(iter(frames)) if len(frames) == 1 else None
    contour_images = structure_set.referenced_sop_instance_uids()
    # Only the contours' own image references outweigh a Frame of Reference (below); the images the
    # structure set lists for its series pick the image set within a series (select).
    images = contour_images | structure_set.series_image_uids
    named = [uid for uid, frames_of in scan.frames_by_series.items() if any(f.sop_instance_uid in contour_images for f in frames_of)]
    preferred = set(structure_set.referenced_series_uids) | set(named)
    try:
        return scan.select(series_instance_uid, frame, preferred, allow_missing_slices=allow_missing_slices, referenced_instances=images)
    except ReferenceSeriesError as error:
        if series_instance_uid is None and frame is not None and len(named) == 1 and str(error).startswith("no image series in Frame"):
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
            return scan.select(named[0], allow_missing_slices=allow_missing_slices, referenced_instances=images)
        raise ReferenceSeriesError(f"reference series for {where}: {error}") from error


def _assumed(structure_set: StructureSet, scan: SeriesScan, allow_missing_slices: bool) -> ReferenceSeries:
    """The only series given, for a structure set that references nothing, if its contours lie on it."""
    where = structure_set.path or "the RT Structure Set"
    summaries = scan.summaries()
    nothing = "references no Frame of Reference, series or image"
    if len(summaries) != 1:
        found = "; ".join(summary.describe() for summary in summaries) if summaries else "no image series was found there"
        raise ReferenceSeriesError(f"{where} {nothing}; give its series with -r (or choose it with --series-uid): {found}")
    (summary,) = summaries
    series = scan.select(summary.series_instance_uid, allow_missing_slices=allow_missing_slices)
    off = contour_off_grid(structure_set, series.geometry)
    if off is not None:
        raise ReferenceSeriesError(
            f"{where} {nothing}, and its contours do not lie on the only image series given, {summary.describe()}: {off}; "
            "give its series with -r"
        )
    structure_set.findings.append(
        Finding(
            Severity.WARNING,
            f"the structure set {nothing}; the only image series given, {summary.describe()}, is assumed, since every contour "
            "lies on its slices and inside its images",
            attribute="ReferencedFrameOfReferenceSequence",
        )
    )
    return series


def contour_off_grid(structure_set: StructureSet, geometry: ImageGeometry) -> str | None:
    """The first contour that does not lie on a slice of ``geometry`` (within a tenth of the
    slice spacing) inside its images, described; ``None`` when every contour does."""
    shape = np.asarray(geometry.shape[::-1], dtype=np.float64)  # (columns, rows, slices) for (i, j, k)
    for roi in structure_set.rois:
        for contour in roi.contours:
            ijk = geometry.to_ijk(contour.points)
            outside = np.any((ijk < -0.5) | (ijk > shape - 0.5), axis=1)
            between = np.abs(ijk[:, 2] - np.round(ijk[:, 2])) > _ON_SLICE
            if outside.any() or between.any():
                index = int(np.flatnonzero(outside | between)[0])
                point = ", ".join(f"{v:g}" for v in contour.points[index])
                offset = abs(ijk[index, 2] - round(ijk[index, 2]))
                why = "outside its images" if outside[index] else f"{offset:.2f} slice spacings off a slice"
                return f"ROI '{roi.name}' contour {contour.index + 1} has the point ({point}) mm {why}"
    return None

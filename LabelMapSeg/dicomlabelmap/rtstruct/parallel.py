"""ROIs drawn by two processes on the command line (:mod:`~dicomlabelmap.dicom.processes`):
the ROIs are split balanced by their number of points; the helper sends back only what it
found (masks, counts, findings), never the contours."""

from __future__ import annotations

from collections.abc import Sequence

from ..dicom.processes import can_fork, map_in_two_processes
from .reader import ContourGeometricType, Roi

__all__ = ["PARALLEL_MIN_POINTS", "can_fork", "map_in_two_processes", "split_rois", "worth_forking"]

#: Below this many contour points in all, one process draws everything (a fork and the masks sent
#: back cost more; LUNG1-001, 50,000 points, already gains a third of its drawing time).
PARALLEL_MIN_POINTS = 20_000


def split_rois(rois: Sequence[Roi]) -> tuple[list[int], list[int]]:
    """Positions (in ``rois``) of the ROIs for this process and for the helper, balanced by
    their closed contours' points (the largest first, each to the lighter side)."""
    weights = [sum(len(c.points) for c in roi.contours if c.geometric_type.encloses_area) for roi in rois]
    mine: list[int] = []
    theirs: list[int] = []
    load = [0, 0]
    for index in sorted(range(len(rois)), key=lambda i: -weights[i]):
        side = 0 if load[0] <= load[1] else 1
        (mine if side == 0 else theirs).append(index)
        load[side] += weights[index] + 1
    return sorted(mine), sorted(theirs)


def worth_forking(rois: Sequence[Roi]) -> bool:
    points = sum(len(c.points) for roi in rois for c in roi.contours if c.geometric_type is not ContourGeometricType.POINT)
    return len(rois) >= 2 and points >= PARALLEL_MIN_POINTS and can_fork()

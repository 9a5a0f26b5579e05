"""Segments of label layers -> the ROIs of an RT Structure Set: one ROI per segment, or per label
of a label scheme (:mod:`~dicomlabelmap.model.scheme`), with its mask on the grid.

Rules (the scheme's, read from segments instead of ROIs):

* Without a scheme every segment becomes an ROI, its ROI Number the segment number; a number
  that two layers both use (segments of separate Label Map SEG instances) is kept by the first
  and the others get free numbers after the largest (a warning names them).
* With a scheme, a segment's name is matched against the labels (name, aliases, pattern) and
  selected by ``include``/``exclude``; a matched segment takes the label's value as ROI Number
  and its name, colour, RT ROI Interpreted Type and algorithm; unmatched segments are dropped
  (reported), kept under their own names (numbered after the scheme's largest value) or refuse
  the whole set, as the scheme says. Several segments on one label become one ROI, the union of
  their masks (a warning names them).
* ROIs are written in ROI Number order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..errors import DicomLabelMapError
from ..findings import Finding, Severity
from ..model.labels import MAX_SEGMENT_NUMBER, LabelVolume
from ..model.masks import BoxMask
from ..model.scheme import LabelScheme, SchemeError, Unmatched
from ..model.segment import Segment


@dataclass
class RoiPlan:
    """What one ROI of the structure set will be: its number, its segment(s) and its mask."""

    number: int
    segment: Segment
    mask: BoxMask
    #: Numbers of the segments it comes from (several when a scheme unites them).
    segment_numbers: list[int] = field(default_factory=list)

    @property
    def interpreted_type(self) -> str:
        return self.segment.properties.get("RtRoiInterpretedType", "")


@dataclass
class Selection:
    """The ROIs to write, and what the selection found on the way."""

    rois: list[RoiPlan]
    findings: list[Finding] = field(default_factory=list)
    #: ``(segment number, name, reason)`` of segments not written.
    left_out: list[tuple[int, str, str]] = field(default_factory=list)


#: Up to this many segments a layer is compared with each number in turn; more are counted
#: slice by slice once (one pass, whatever their number).
_FEW_SEGMENTS = 8


def segment_masks(volume: LabelVolume) -> dict[int, BoxMask]:
    """Each segment's mask, cropped to its box. A layer of a few segments is compared with each
    number over its occupied slices; a layer of many has the values of each slice counted once
    (one pass), so each segment is compared only on its own slices. Values without a segment
    are refused (named)."""
    numbers = [segment.number for segment in volume.segments]
    if len(numbers) <= _FEW_SEGMENTS:
        masks = _few_segment_masks(volume, numbers)
        if masks is not None:
            return masks
    return _many_segment_masks(volume, numbers)


def _few_segment_masks(volume: LabelVolume, numbers: list[int]) -> dict[int, BoxMask] | None:
    """``None`` when the layer holds values without a segment (the slice-by-slice count names them)."""
    array = volume.array
    occupied = np.flatnonzero(array.reshape(array.shape[0], -1).any(axis=1))
    if not len(occupied):
        return {number: BoxMask.empty(volume.geometry.shape) for number in numbers}
    top = int(occupied[0])
    slab = array[top : int(occupied[-1]) + 1]
    unaccounted = np.count_nonzero(slab)
    masks = {}
    for number in numbers:
        equal = slab == number
        found = np.count_nonzero(equal)
        unaccounted -= found
        if not found:
            masks[number] = BoxMask.empty(volume.geometry.shape)
            continue
        slices = np.flatnonzero(equal.reshape(equal.shape[0], -1).any(axis=1))
        first, last = int(slices[0]), int(slices[-1])
        masks[number] = _cropped(volume, top + first, equal[first : last + 1])
    return masks if unaccounted == 0 else None


def _cropped(volume: LabelVolume, first: int, slab: npt.NDArray[np.bool_]) -> BoxMask:
    """A segment's voxels from its first to its last slice, cropped to its rows and columns."""
    footprint: npt.NDArray[np.bool_] = np.any(slab, axis=0)  # the first and last slices hold the segment: only rows and columns to bound
    rows, columns = np.flatnonzero(footprint.any(axis=1)), np.flatnonzero(footprint.any(axis=0))
    crop = slab[:, rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1].copy()
    return BoxMask(volume.geometry.shape, (first, int(rows[0]), int(columns[0])), crop)


def _many_segment_masks(volume: LabelVolume, numbers: list[int]) -> dict[int, BoxMask]:
    array = volume.array
    flat = array.reshape(array.shape[0], -1)
    occupied = np.flatnonzero(flat.any(axis=1))
    size = max(numbers + [0]) + 1
    present = np.zeros((array.shape[0], size), dtype=bool)
    unknown: set[int] = set()
    for k in occupied.tolist():
        counts = np.bincount(flat[k], minlength=size)
        present[k] = counts[:size] > 0
        unknown.update(int(v) for v in np.flatnonzero(counts[size:]) + size)
    unknown |= {int(v) for v in np.flatnonzero(present.any(axis=0))} - set(numbers) - {0}
    if unknown:
        listed = ", ".join(str(v) for v in sorted(unknown)[:10])
        raise DicomLabelMapError(f"label value(s) {listed} have no segment description; name every value the label map holds")
    masks = {}
    for number in numbers:
        slices = np.flatnonzero(present[:, number])
        if not len(slices):
            masks[number] = BoxMask.empty(volume.geometry.shape)
            continue
        first, last = int(slices[0]), int(slices[-1])
        masks[number] = _cropped(volume, first, array[first : last + 1] == number)
    return masks


def select_rois(volumes: Sequence[LabelVolume], scheme: LabelScheme | None = None) -> Selection:
    """The ROIs for the segments of ``volumes`` (see the module's rules).

    Raises
    ------
    SchemeError
        With ``unmatched: fail``, when segments match no label of the scheme (all named).
    """
    entries = [(segment, mask) for volume in volumes for segment, mask in _ordered(volume)]
    if scheme is None:
        return _numbered(entries)
    return _by_scheme(entries, scheme)


def _ordered(volume: LabelVolume) -> list[tuple[Segment, BoxMask]]:
    masks = segment_masks(volume)
    return [(segment, masks[segment.number]) for segment in volume.segments]


def _numbered(entries: list[tuple[Segment, BoxMask]]) -> Selection:
    selection = Selection([])
    used = {segment.number for segment, _ in entries}
    next_free = max(used, default=0) + 1
    taken: set[int] = set()
    for segment, mask in entries:
        number = segment.number
        if number in taken:
            if next_free > MAX_SEGMENT_NUMBER:
                raise SchemeError(f"more than {MAX_SEGMENT_NUMBER} ROIs to number")
            selection.findings.append(
                Finding(
                    Severity.WARNING,
                    f"segment number {number} is used by two layers; this segment becomes ROI {next_free}",
                    next_free,
                    segment.label,
                    kind="renumbered_segment",
                )
            )
            number, next_free = next_free, next_free + 1
        taken.add(number)
        selection.rois.append(RoiPlan(number, segment, mask, [segment.number]))
    selection.rois.sort(key=lambda plan: plan.number)
    return selection


def _by_scheme(entries: list[tuple[Segment, BoxMask]], scheme: LabelScheme) -> Selection:
    selection = Selection([])
    groups: dict[int, list[tuple[Segment, BoxMask]]] = {}
    named: dict[int, Segment] = {}
    next_value = max((label.value for label in scheme.labels), default=0) + 1
    failing = []
    for segment, mask in entries:
        match = scheme.match(segment.label) if scheme.has_labels else None
        selected, why = scheme.selects(segment.label, match.label.name if match else None)
        if not selected:
            selection.left_out.append((segment.number, segment.label, why))
        elif match is not None:
            groups.setdefault(match.label.value, []).append((segment, mask))
            named.setdefault(match.label.value, match.label.describe(segment))
        elif scheme.unmatched is Unmatched.KEEP:
            groups[next_value] = [(segment, mask)]
            named[next_value] = segment
            next_value += 1
        else:
            failing.append(segment.label)
            reason = f"matches no label of {scheme.source}"
            selection.left_out.append((segment.number, segment.label, reason))
            selection.findings.append(
                Finding(Severity.WARNING, f"{reason}; not written (unmatched: drop)", None, segment.label, kind="scheme_unmatched")
            )
    if failing and scheme.unmatched is Unmatched.FAIL:
        raise SchemeError(f"segment(s) {', '.join(repr(name) for name in failing)} match no label of {scheme.source} (unmatched: fail)")
    if next_value - 1 > MAX_SEGMENT_NUMBER:
        raise SchemeError(f"too many unmatched segments to number after the scheme's labels (at most {MAX_SEGMENT_NUMBER})")
    for value in sorted(groups):
        members = groups[value]
        mask = members[0][1]
        if len(members) > 1:
            mask = _union([member for _, member in members])
            names = ", ".join(repr(segment.label) for segment, _ in members)
            selection.findings.append(
                Finding(
                    Severity.WARNING,
                    f"segments {names} all map to label {value} '{named[value].label}'; its ROI is the union of their masks",
                    value,
                    named[value].label,
                    kind="scheme_union",
                )
            )
        selection.rois.append(RoiPlan(value, named[value], mask, [segment.number for segment, _ in members]))
    return selection


def _union(masks: list[BoxMask]) -> BoxMask:
    full = np.zeros(masks[0].shape, dtype=bool)
    for mask in masks:
        if not mask.is_empty():
            full[mask.box] |= mask.crop
    return BoxMask.from_full(full)

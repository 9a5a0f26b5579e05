"""Findings: warnings and errors collected while converting, as plain data.

The command line prints them, Slicer shows them, tests assert on them. An *error* means the
ROI concerned was not converted; a *warning* means it was converted and something deserves
a look.

Findings of one kind that repeat within an ROI (one per contour, pair of contours or slice)
are condensed by :func:`condense` into one finding per ROI and kind, with the count, the
slices concerned and every individual message kept in ``details``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any


class Severity(str, Enum):
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """One problem found in the input, naming what it concerns."""

    severity: Severity
    message: str
    roi_number: int | None = None
    roi_name: str | None = None
    #: DICOM attribute keyword concerned, when there is one.
    attribute: str | None = None
    #: Index ``k`` of the reference slice concerned, when there is one.
    slice_index: int | None = None
    #: What kind of problem this is (e.g. ``"repeated_outline"``): findings of one kind in one
    #: ROI are condensed into one. ``None`` for findings that stand alone.
    kind: str | None = None
    #: Every slice concerned, for condensed findings.
    slices: tuple[int, ...] = ()
    #: The individual messages a condensed finding stands for.
    details: tuple[str, ...] = ()
    #: The contour concerned (1-based position in its ROI's Contour Sequence), when the finding
    #: is about one contour that cannot be used (see ``RasterOptions.skip_bad_contours``).
    contour_number: int | None = None

    @property
    def count(self) -> int:
        """How many cases this finding stands for."""
        return max(1, len(self.details))

    def __str__(self) -> str:
        where = []
        if self.roi_name is not None or self.roi_number is not None:
            where.append(f"ROI {self.roi_number} '{self.roi_name}'")
        if self.slice_index is not None and not self.slices:
            where.append(f"slice {self.slice_index}")
        if self.attribute:
            where.append(self.attribute)
        prefix = ", ".join(where)
        return f"{self.severity.value}: {prefix + ': ' if prefix else ''}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        data["slices"] = list(self.slices)
        data["details"] = list(self.details)
        return data


#: How a condensed finding of each kind starts; the count and slices follow.
KIND_SUMMARIES: dict[str, str] = {
    "outside_volume": "contours lie outside the reference volume (farther than the slice tolerance from every slice) and are not drawn",
    "half_way": "contour planes lie exactly half-way between two slices; each goes to the slice below (lower index k) unless its "
    "Contour Image Sequence names the one above",
    "planes_share_slice": "several contour planes lie nearest one slice; the union of their areas is drawn",
    "repeated_outline": "outlines repeat another outline of the same plane (the same closed path within the duplicate tolerance); each "
    "is counted once",
    "crossing": "CLOSED_PLANAR contours cross or touch each other (neither nested nor apart, which PS3.3 C.8.8.6.3 leaves undefined); "
    "the union of each such group is drawn, so no area cancels",
    "mixed_types": "slices mix CLOSED_PLANAR and CLOSEDPLANAR_XOR contours; non-crossing contours are combined by exclusive or",
    "empty_hole": "holes enclose no voxel centre and remove nothing",
    "unfilled_contour": "contours enclose no voxel centre; the voxels along them are set",
    "undrawn_contour": "contours enclose no voxel centre and are not drawn",
    "cancelled_plane": "slices whose contours enclose voxel centres came out empty after holes were removed; the voxels along their "
    "outer contours are set",
    "image_reference_mismatch": "contours lie on another slice than their Contour Image Sequence names; their position is used",
    "entangled": "slices are too entangled (edges piled on one another) to check contours for crossings, keyholes and holes; they are "
    "filled by the even-odd rule",
    "absurd_coordinates": "contours hold coordinates beyond the bound for patient coordinates",
}


def condense(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per ROI, severity and kind, in order of first appearance.

    Findings without a kind, and kinds seen once, are kept as they are.
    """
    groups: dict[tuple[Any, ...], list[Finding]] = {}
    order: list[tuple[Any, ...] | int] = []
    for position, finding in enumerate(findings):
        if finding.kind is None:
            order.append(position)
            continue
        key = (finding.severity, finding.roi_number, finding.roi_name, finding.kind)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(finding)
    result = []
    for entry in order:
        if isinstance(entry, int):
            result.append(findings[entry])
            continue
        group = groups[entry]
        if len(group) == 1:
            only = group[0]
            slices = (only.slice_index,) if only.slice_index is not None else ()
            result.append(replace(only, slices=slices, details=(only.message,)))
            continue
        result.append(_merged(group))
    return result


def _merged(group: list[Finding]) -> Finding:
    first = group[0]
    slices = tuple(sorted({f.slice_index for f in group if f.slice_index is not None}))
    attributes = {f.attribute for f in group if f.attribute}
    summary = KIND_SUMMARIES.get(first.kind or "", first.message)
    where = f" on slice(s) {format_ranges(slices)}" if slices else ""
    message = f"{summary}: {len(group)} case(s){where}; first: {first.message}"
    return Finding(
        first.severity,
        message,
        first.roi_number,
        first.roi_name,
        first.attribute if len(attributes) <= 1 else None,
        None,
        first.kind,
        slices,
        tuple(f.message for f in group),
    )


def format_ranges(values: Iterable[int]) -> str:
    """``0, 1, 2, 5, 7, 8`` -> ``"0-2, 5, 7-8"``."""
    ordered = sorted(set(values))
    parts: list[str] = []
    start = previous = None
    for value in ordered:
        if start is None:
            start = previous = value
        elif value == previous + 1:  # type: ignore[operator]
            previous = value
        else:
            parts.append(f"{start}" if start == previous else f"{start}-{previous}")
            start = previous = value
    if start is not None:
        parts.append(f"{start}" if start == previous else f"{start}-{previous}")
    return ", ".join(parts)

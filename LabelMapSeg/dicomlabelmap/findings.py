"""Findings: warnings and errors collected while converting, as plain data.

The command line prints them, Slicer shows them, tests assert on them. An *error* means the
ROI concerned was not converted; a *warning* means it was converted and something deserves
a look.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
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

    def __str__(self) -> str:
        where = []
        if self.roi_name is not None or self.roi_number is not None:
            where.append(f"ROI {self.roi_number} '{self.roi_name}'")
        if self.slice_index is not None:
            where.append(f"slice {self.slice_index}")
        if self.attribute:
            where.append(self.attribute)
        prefix = ", ".join(where)
        return f"{self.severity.value}: {prefix + ': ' if prefix else ''}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data

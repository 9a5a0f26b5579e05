"""dicomlabelmap: DICOM RT Structure Sets and segmentations <-> label maps, exactly on the
reference image grid. Pure Python (numpy + pydicom); the core of the LabelMapSeg Slicer
extension, usable on its own.

Main entry points:

* :func:`read_reference_series` - DICOM image series -> :class:`ReferenceSeries` (grid + sources)
* :func:`read_rtstruct` - RT Structure Set -> :class:`StructureSet` (ROIs, contours, findings)
* :func:`rtstruct_to_labels` - RT Structure Set + reference -> label layers and a report
* :func:`write_label_file` / :func:`read_label_file` - ``.seg.nrrd``, ``.nrrd``, ``.nii.gz``
* :func:`load_scheme` - a label scheme: fixed labels by ROI name across patients
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Names are imported on first use (PEP 562), so that ``import dicomlabelmap.seg_reader`` or a
# Slicer module that only needs one part does not pay for all the others.
_EXPORTS = {
    "BoxMask": "masks",
    "Code": "segment",
    "Contour": "rtstruct",
    "ContourGeometricType": "rtstruct",
    "DicomLabelMapError": "errors",
    "Finding": "findings",
    "GeometryError": "errors",
    "ImageGeometry": "geometry",
    "InvalidDicomError": "errors",
    "LabelScheme": "scheme",
    "LabelVolume": "labels",
    "MissingDependencyError": "errors",
    "OperationCancelled": "errors",
    "OutputError": "errors",
    "RasterOptions": "rasterize",
    "ReferenceSeries": "series",
    "ReferenceSeriesError": "errors",
    "Roi": "rtstruct",
    "RoiRaster": "rasterize",
    "RtStructConversion": "conversion",
    "Segment": "segment",
    "SegmentAlgorithmType": "segment",
    "Severity": "findings",
    "SourceSlice": "series",
    "StructureSet": "rtstruct",
    "build_label_volumes": "labels",
    "load_scheme": "scheme",
    "rasterize_structure_set": "rasterize",
    "read_label_file": "labelfiles",
    "read_reference_series": "series",
    "read_rtstruct": "rtstruct",
    "rtstruct_to_labels": "conversion",
    "scan_series": "series",
    "write_label_file": "labelfiles",
}

if TYPE_CHECKING:
    from .conversion import RtStructConversion, rtstruct_to_labels
    from .errors import (
        DicomLabelMapError,
        GeometryError,
        InvalidDicomError,
        MissingDependencyError,
        OperationCancelled,
        OutputError,
        ReferenceSeriesError,
    )
    from .findings import Finding, Severity
    from .geometry import ImageGeometry
    from .labelfiles import read_label_file, write_label_file
    from .labels import LabelVolume, build_label_volumes
    from .masks import BoxMask
    from .rasterize import RasterOptions, RoiRaster, rasterize_structure_set
    from .rtstruct import Contour, ContourGeometricType, Roi, StructureSet, read_rtstruct
    from .scheme import LabelScheme, load_scheme
    from .segment import Code, Segment, SegmentAlgorithmType
    from .series import ReferenceSeries, SourceSlice, read_reference_series, scan_series


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "LabelScheme",
    "load_scheme",
    "BoxMask",
    "Code",
    "Contour",
    "ContourGeometricType",
    "DicomLabelMapError",
    "Finding",
    "GeometryError",
    "ImageGeometry",
    "InvalidDicomError",
    "LabelVolume",
    "MissingDependencyError",
    "OperationCancelled",
    "OutputError",
    "RasterOptions",
    "ReferenceSeries",
    "ReferenceSeriesError",
    "Roi",
    "RoiRaster",
    "RtStructConversion",
    "Segment",
    "SegmentAlgorithmType",
    "Severity",
    "SourceSlice",
    "StructureSet",
    "build_label_volumes",
    "rasterize_structure_set",
    "read_label_file",
    "read_reference_series",
    "read_rtstruct",
    "rtstruct_to_labels",
    "scan_series",
    "write_label_file",
    "__version__",
]

"""dicomlabelmap: DICOM RT Structure Sets and segmentations <-> label maps, exactly on the
reference image grid. Pure Python (numpy + pydicom); the core of the LabelMapSeg Slicer
extension, usable on its own.

Main entry points:

* :func:`read_reference_series` - DICOM image series -> :class:`ReferenceSeries` (grid + sources)
* :func:`read_rtstruct` - RT Structure Set -> :class:`StructureSet` (ROIs, contours, findings)
* :func:`rtstruct_to_labels` - RT Structure Set + reference -> label layers and a report
* :func:`write_label_file` / :func:`read_label_file` - ``.seg.nrrd``, ``.nrrd``, ``.nii.gz``
"""

from __future__ import annotations

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
from .segment import Code, Segment, SegmentAlgorithmType
from .series import ReferenceSeries, SourceSlice, read_reference_series, scan_series

__version__ = "0.1.0"

__all__ = [
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

"""dicomlabelmap: DICOM RT Structure Sets and segmentations <-> label maps, exactly on the
reference image grid. Pure Python (numpy + pydicom); the core of the LabelMapSeg Slicer
extension, usable on its own.

Main entry points (every name below imports from ``dicomlabelmap``):

* :func:`read_reference_series` - DICOM image series -> :class:`ReferenceSeries` (grid + sources)
* :func:`read_rtstruct` - RT Structure Set -> :class:`StructureSet` (ROIs, contours, findings)
* :func:`rtstruct_to_labels` - RT Structure Set + reference -> label layers and a report
* :func:`read_seg` / :func:`read_seg_series` - any DICOM SEG (LABELMAP, BINARY, FRACTIONAL) -> label layers
* :func:`write_label_map_segs` - label layers -> Label Map SEG instances (:class:`SegWriteOptions`,
  :class:`TransferSyntax`), verified after writing
* :func:`write_label_file` / :func:`read_label_file` - ``.seg.nrrd``, ``.nrrd``, ``.nii.gz``
* :func:`load_scheme` - a label scheme: fixed labels by ROI name across patients
* :func:`write_rtstruct` - label layers -> RT Structure Set (:class:`ContourWriteOptions`,
  :class:`HoleStyle`, :class:`ContourShape`), read back and compared voxel for voxel
* :func:`segmentation_to_rtstruct` - a label file or DICOM SEG + reference -> RT Structure Set

The families live in subpackages, imports pointing downwards: ``model`` (numpy only), ``dicom``
(reading and encoding), ``rtstruct`` and ``seg`` (the two DICOM objects), ``files`` (files outside
DICOM), ``batch`` and ``cli``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# Names are imported on first use (PEP 562), so that ``import dicomlabelmap.seg.reader`` or a
# Slicer module that only needs one part does not pay for all the others.
_EXPORTS = {
    "BoxMask": "model.masks",
    "build_label_map_seg": "seg.writer",
    "build_label_volumes": "model.labels",
    "build_scheme": "model.scheme",
    "Code": "model.segment",
    "Contour": "rtstruct.reader",
    "ContourGeometricType": "rtstruct.reader",
    "ContourShape": "rtstruct.outlines",
    "ContourWriteOptions": "rtstruct.writer",
    "ContourWriteResult": "rtstruct.writer",
    "convert_to_label_map_seg": "seg.convert",
    "DicomLabelMapError": "errors",
    "RoiNotFoundError": "errors",
    "Finding": "findings",
    "GeometryError": "errors",
    "HoleStyle": "rtstruct.writer",
    "ImageGeometry": "model.geometry",
    "InvalidDicomError": "errors",
    "LabelScheme": "model.scheme",
    "LabelVolume": "model.labels",
    "load_scheme": "model.scheme",
    "MissingDependencyError": "errors",
    "OperationCancelled": "errors",
    "OutputError": "errors",
    "rasterize_structure_set": "rtstruct.rasterize",
    "RasterOptions": "rtstruct.rasterize",
    "read_label_file": "files.labelfiles",
    "read_labels": "export",
    "read_reference_series": "dicom.scan",
    "read_rtstruct": "rtstruct.reader",
    "read_seg": "seg.reader",
    "read_seg_series": "seg.series",
    "ReferenceSeries": "dicom.images",
    "ReferenceSeriesError": "errors",
    "Roi": "rtstruct.reader",
    "RoiRaster": "rtstruct.rasterize",
    "rtstruct_to_labels": "rtstruct.conversion",
    "RtStructConversion": "rtstruct.conversion",
    "scan_series": "dicom.scan",
    "segmentation_to_rtstruct": "export",
    "SegContents": "seg.reader",
    "Segment": "model.segment",
    "SegmentAlgorithmType": "model.segment",
    "SegSeries": "seg.series",
    "SegWriteOptions": "seg.writer",
    "Severity": "findings",
    "SourceSlice": "dicom.images",
    "StructureSet": "rtstruct.reader",
    "TransferSyntax": "dicom.codecs",
    "validate_seg": "seg.validate",
    "write_label_file": "files.labelfiles",
    "write_label_map_segs": "seg.writer",
    "write_rtstruct": "rtstruct.writer",
}

if TYPE_CHECKING:
    from .dicom.codecs import TransferSyntax
    from .dicom.images import ReferenceSeries, SourceSlice
    from .dicom.scan import read_reference_series, scan_series
    from .errors import (
        DicomLabelMapError,
        GeometryError,
        InvalidDicomError,
        MissingDependencyError,
        OperationCancelled,
        OutputError,
        ReferenceSeriesError,
    )
    from .export import read_labels, segmentation_to_rtstruct
    from .files.labelfiles import read_label_file, write_label_file
    from .findings import Finding, Severity
    from .model.geometry import ImageGeometry
    from .model.labels import LabelVolume, build_label_volumes
    from .model.masks import BoxMask
    from .model.scheme import LabelScheme, build_scheme, load_scheme
    from .model.segment import Code, Segment, SegmentAlgorithmType
    from .rtstruct.conversion import RtStructConversion, rtstruct_to_labels
    from .rtstruct.outlines import ContourShape
    from .rtstruct.rasterize import RasterOptions, RoiRaster, rasterize_structure_set
    from .rtstruct.reader import Contour, ContourGeometricType, Roi, StructureSet, read_rtstruct
    from .rtstruct.writer import ContourWriteOptions, ContourWriteResult, HoleStyle, write_rtstruct
    from .seg.convert import convert_to_label_map_seg
    from .seg.reader import SegContents, read_seg
    from .seg.series import SegSeries, read_seg_series
    from .seg.validate import validate_seg
    from .seg.writer import SegWriteOptions, build_label_map_seg, write_label_map_segs


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
    "BoxMask",
    "build_label_map_seg",
    "build_label_volumes",
    "build_scheme",
    "Code",
    "Contour",
    "ContourGeometricType",
    "ContourShape",
    "ContourWriteOptions",
    "ContourWriteResult",
    "convert_to_label_map_seg",
    "DicomLabelMapError",
    "RoiNotFoundError",
    "Finding",
    "GeometryError",
    "HoleStyle",
    "ImageGeometry",
    "InvalidDicomError",
    "LabelScheme",
    "LabelVolume",
    "load_scheme",
    "MissingDependencyError",
    "OperationCancelled",
    "OutputError",
    "rasterize_structure_set",
    "RasterOptions",
    "read_label_file",
    "read_labels",
    "read_reference_series",
    "read_rtstruct",
    "read_seg",
    "read_seg_series",
    "ReferenceSeries",
    "ReferenceSeriesError",
    "Roi",
    "RoiRaster",
    "rtstruct_to_labels",
    "RtStructConversion",
    "scan_series",
    "segmentation_to_rtstruct",
    "SegContents",
    "Segment",
    "SegmentAlgorithmType",
    "SegSeries",
    "SegWriteOptions",
    "Severity",
    "SourceSlice",
    "StructureSet",
    "TransferSyntax",
    "validate_seg",
    "write_label_file",
    "write_label_map_segs",
    "write_rtstruct",
    "__version__",
]

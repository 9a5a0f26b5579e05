"""The reference series' voxels on its own grid: every slice's stored pixels decoded through
pydicom's pixel data handlers (native, RLE, JPEG, JPEG-LS, JPEG 2000: whichever plugins are
installed), the Modality LUT applied, each slice put where :class:`ReferenceSeries` says it lies
(``slices[k]`` is array slice ``k``), so the image shares the label maps' grid exactly.

Rules (README, "Images beside the label maps"):

* **Modality LUT** (PS3.3 C.11.1): ``stored * Rescale Slope + Rescale Intercept`` (pydicom's
  ``apply_modality_lut``: both attributes present, else the stored values), or the Modality LUT
  Sequence when present. Enhanced multi-frame images take each frame's Pixel Value
  Transformation functional group (PS3.3 C.7.6.16.2.9), per frame or shared.
* **Type**: when every slice's slope and intercept are whole numbers (or a Modality LUT
  Sequence maps the values), the values are integers and the array is the smallest of
  ``int16``, ``uint16``, ``int32`` that holds them (CT in Hounsfield units: ``int16``);
  otherwise ``float32`` (computed in float64 as pydicom does, then rounded to float32).
* **Missing slices** (``allow_missing_slices``): filled with the lowest value of the series
  (air in CT) unless a value is given, and reported.
* Only single-sample (grayscale) images: colour images are refused, naming the file.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from ..errors import DATA_ERRORS, InvalidDicomError, ReferenceSeriesError
from ..findings import Finding, Severity, format_ranges
from ..model.geometry import ImageGeometry
from ..progress import ProgressCallback, report
from .frames import FunctionalGroups
from .images import MISSING_SLICE, ReferenceSeries
from .read import read_dataset

logger = logging.getLogger(__name__)

#: The integer types an image is written in, smallest first (int16 before uint16: CT values).
INTEGER_TYPES = (np.dtype(np.int16), np.dtype(np.uint16), np.dtype(np.int32))


@dataclass
class SeriesImage:
    """The reference series' voxels (Modality LUT applied) on its grid."""

    #: ``(k, j, i)`` array, int16/uint16/int32 or float32 (see the module's rules).
    array: npt.NDArray[Any]
    geometry: ImageGeometry
    #: Slices ``k`` of the grid without an image, filled with :attr:`fill_value`.
    filled_slices: list[int] = field(default_factory=list)
    fill_value: float | None = None
    findings: list[Finding] = field(default_factory=list)


@dataclass
class _Slice:
    """One decoded slice before the Modality LUT: its stored values and how to map them."""

    stored: npt.NDArray[Any]
    slope: float = 1.0
    intercept: float = 0.0
    #: A Modality LUT Sequence to apply instead of slope and intercept (pydicom applies it).
    lut_dataset: Dataset | None = None

    @property
    def integral(self) -> bool:
        if self.lut_dataset is not None:
            return True
        whole = float(self.slope).is_integer() and float(self.intercept).is_integer()
        return whole and self.stored.dtype.kind in "iub"  # Float Pixel Data stays float

    def value_range(self) -> tuple[float, float]:
        if self.lut_dataset is not None:
            values = self.values(np.float64)
            return float(values.min()), float(values.max())
        low, high = (float(self.stored.min()) * self.slope + self.intercept, float(self.stored.max()) * self.slope + self.intercept)
        return min(low, high), max(low, high)

    def values(self, dtype: Any) -> npt.NDArray[Any]:
        """The Modality LUT output in ``dtype``: exact integers, or pydicom's float64 rounded."""
        if self.lut_dataset is not None:
            from pydicom.pixels import apply_modality_lut

            return np.asarray(apply_modality_lut(self.stored, self.lut_dataset)).astype(dtype)
        if np.dtype(dtype).kind in "iu":
            return (self.stored.astype(np.int64) * int(self.slope) + int(self.intercept)).astype(dtype)
        return (self.stored.astype(np.float64) * self.slope + self.intercept).astype(dtype)


def read_series_image(reference: ReferenceSeries, fill_value: float | None = None, progress: ProgressCallback | None = None) -> SeriesImage:
    """Decode every slice of ``reference`` and apply its Modality LUT (see the module's rules).

    Parameters
    ----------
    reference
        The reference series (:func:`~dicomlabelmap.dicom.scan.read_reference_series`).
    fill_value
        The value of grid positions without an image (``allow_missing_slices``); default: the
        lowest value of the series.
    progress
        ``progress(fraction, message)``.

    Raises
    ------
    InvalidDicomError
        A file that cannot be read or decoded (the message names the file and, when no pixel data
        handler is installed for its transfer syntax, the packages that would decode it), a
        colour image, or a frame whose size differs from the grid.
    ReferenceSeriesError
        A series known only by its grid (no source files).
    """
    geometry = reference.geometry
    by_path: dict[Path, list[tuple[int, int | None]]] = defaultdict(list)
    missing = []
    for k, source in enumerate(reference.slices):
        if source.sop_class_uid == MISSING_SLICE and not source.sop_instance_uid:
            missing.append(k)
        elif not str(source.path) or str(source.path) == ".":
            raise ReferenceSeriesError("the reference series has no source files (built from a grid alone); its image cannot be read")
        else:
            by_path[source.path].append((k, source.frame_number))
    slices: dict[int, _Slice] = {}
    for index, (path, wanted) in enumerate(sorted(by_path.items())):
        report(progress, index / max(1, len(by_path)), f"Decoding {path.name}")
        slices.update(_decode_file(path, wanted, geometry.shape[1:]))
    report(progress, 1.0, "Decoded the image")
    return _assemble(geometry, slices, missing, fill_value)


def _assemble(geometry: ImageGeometry, slices: dict[int, _Slice], missing: list[int], fill_value: float | None) -> SeriesImage:
    findings: list[Finding] = []
    ranges = [piece.value_range() for piece in slices.values()]
    low = min((r[0] for r in ranges), default=0.0)
    high = max((r[1] for r in ranges), default=0.0)
    fill = low if fill_value is None else float(fill_value)
    integral = all(piece.integral for piece in slices.values()) and float(fill).is_integer()
    dtype = _integer_type(min(low, fill), max(high, fill)) if integral else None
    if integral and dtype is None:
        findings.append(
            Finding(
                Severity.WARNING, f"the image values ({low:g} to {high:g}) exceed 32-bit integers; written as float32", kind="image_type"
            )
        )
    dtype = dtype or np.dtype(np.float32)
    array = np.empty(geometry.shape, dtype=dtype)
    for k, piece in slices.items():
        array[k] = piece.values(dtype)
        slices[k] = _Slice(np.empty((0, 0)))  # the stored values are no longer needed
    for k in missing:
        array[k] = fill
    if missing:
        findings.append(
            Finding(
                Severity.WARNING,
                f"the reference series has no image at slice(s) {format_ranges(missing)}; the image holds {fill:g} there "
                f"({'the value given' if fill_value is not None else 'the lowest value of the series'})",
                attribute="ImagePositionPatient",
                kind="image_missing_slices",
            )
        )
    return SeriesImage(array, geometry, missing, fill if missing else None, findings)


def _integer_type(low: float, high: float) -> np.dtype | None:
    for dtype in INTEGER_TYPES:
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return dtype
    return None


def _decode_file(path: Path, wanted: list[tuple[int, int | None]], size: tuple[int, ...]) -> dict[int, _Slice]:
    """The slices ``(k, frame number)`` of one file, decoded, with their Modality LUT values."""
    dataset = read_dataset(path, "the image file")
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    if samples != 1:
        raise InvalidDicomError(
            f"holds a colour image ({samples} samples per pixel, {dataset.get('PhotometricInterpretation', '')}); "
            "only grayscale image series can be written as the image",
            path,
            "SamplesPerPixel",
        )
    pixels = _pixel_array(dataset, path)
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames > 1 or "PerFrameFunctionalGroupsSequence" in dataset:
        pixels = pixels.reshape((frames, *pixels.shape[-2:]))
    if tuple(pixels.shape[-2:]) != tuple(size):
        raise InvalidDicomError(f"the pixel data holds {pixels.shape[-2:]} pixels per frame, the grid {tuple(size)}", path, "Rows")
    groups = FunctionalGroups(dataset) if "PerFrameFunctionalGroupsSequence" in dataset else None
    result = {}
    for k, frame_number in wanted:
        if frame_number is None:
            result[k] = _with_lut(pixels if pixels.ndim == 2 else pixels[0], dataset, path)
        else:
            if not 1 <= frame_number <= pixels.shape[0]:
                raise InvalidDicomError(
                    f"frame {frame_number} is beyond the {pixels.shape[0]} frames of the pixel data", path, "NumberOfFrames"
                )
            item = groups.item(frame_number - 1, "PixelValueTransformationSequence") if groups is not None else None
            result[k] = _with_lut(pixels[frame_number - 1], item if item is not None else dataset, path)
    return result


def _with_lut(stored: npt.NDArray[Any], source: Dataset, path: Path) -> _Slice:
    """A slice and the Modality LUT that ``source`` (the data set, or a frame's Pixel Value
    Transformation item) gives it."""
    if source.get("ModalityLUTSequence"):
        return _Slice(stored, lut_dataset=source)
    if "RescaleSlope" in source and "RescaleIntercept" in source:
        try:
            slope, intercept = float(source.RescaleSlope), float(source.RescaleIntercept)
        except (TypeError, ValueError) as error:
            raise InvalidDicomError(f"Rescale Slope/Intercept are not numbers ({error})", path, "RescaleSlope") from error
        if not (np.isfinite(slope) and np.isfinite(intercept)):
            raise InvalidDicomError(f"Rescale Slope/Intercept must be finite, got {slope}, {intercept}", path, "RescaleSlope")
        return _Slice(stored, slope, intercept)
    return _Slice(stored)


def _pixel_array(dataset: Dataset, path: Path) -> npt.NDArray[Any]:
    """The stored pixel values, decoded by pydicom's handlers; a missing handler is named."""
    if "PixelData" not in dataset and "FloatPixelData" not in dataset and "DoubleFloatPixelData" not in dataset:
        raise InvalidDicomError("has no Pixel Data", path, "PixelData")
    syntax = dataset.file_meta.get("TransferSyntaxUID") if hasattr(dataset, "file_meta") else None
    if syntax is not None and syntax.is_compressed:
        _check_decoder(syntax, path)
    try:
        return np.asarray(dataset.pixel_array)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError, KeyError) + DATA_ERRORS as error:
        name = f" ({syntax.name})" if syntax is not None else ""
        raise InvalidDicomError(f"cannot decode the pixel data{name}: {error}".splitlines()[0], path, "PixelData") from error


def _check_decoder(syntax: Any, path: Path) -> None:
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise InvalidDicomError(
            f"no pixel data decoder exists for its transfer syntax {syntax.name} ({syntax})", path, "PixelData"
        ) from None
    if not decoder.is_available:
        needs = "; ".join(decoder.missing_dependencies) or "a pixel data plugin"
        raise InvalidDicomError(
            f"cannot decode its {syntax.name} ({syntax}) pixel data: no installed pydicom pixel data handler decodes it "
            f"(install one of: {needs})",
            path,
            "PixelData",
        )

"""DICOM Segmentation reader: LABELMAP, BINARY and FRACTIONAL -> label layers on the full grid.

* Frames are placed by Image Position (Patient), whatever the Dimension Organization; missing
  frames are background. The grid is the reference series' when given; otherwise it is
  rebuilt from the SEG's own frames (every frame present counts, empty or not: never cropped
  to the non-empty ones).
* LABELMAP: a pixel value is a Segment Number; the segment whose number equals Pixel Padding
  Value is the background (label 0). A segment numbered 0 that is not the background gets a
  new label value (its DICOM number is kept as the property ``DicomSegmentNumber``).
* BINARY: one bit per pixel, frames packed back to back (a frame may start mid-byte);
  overlapping segments go to separate layers.
* FRACTIONAL: a pixel belongs to the segment when its value is at least ``fractional_threshold``
  times Maximum Fractional Value (default one half).
"""

from __future__ import annotations

import logging
import struct
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.multival import MultiValue

from .codecs import TransferSyntax, decode_frame, register_with_pydicom
from .errors import DicomLabelMapError, GeometryError, InvalidDicomError, malformed_input
from .findings import Finding, Severity
from .geometry import ImageGeometry
from .labels import MAX_SEGMENT_NUMBER, LabelVolume, build_label_volumes, label_dtype, present_values
from .limits import check_deflated_file, check_frames, check_not_truncated, check_voxels
from .masks import BoxMask
from .rawsequence import RawFormatError, RawItems
from .seg_checks import fragment_count, is_background_item, referenced_instance_count, spacing_contradiction
from .seg_segments import segment_from_item
from .segment import Segment
from .series import ReferenceSeries
from .uids import LABEL_MAP_SEGMENTATION_STORAGE, SEGMENTATION_STORAGE

logger = logging.getLogger(__name__)
register_with_pydicom()

#: Distinct encoded frames remembered so that repeats are decoded once.
_REPEATED_FRAMES = 8
#: 1-bit frames boxed together on their packed bytes (bounded memory for the intermediate arrays).
_FRAME_BATCH = 256
#: Frames must sit within this many pixels (in-plane) / slices of a grid position.
_GRID_TOLERANCE = 0.01


@dataclass
class SegContents:
    """What a Segmentation instance holds, on its grid."""

    path: Path | None
    segmentation_type: str
    transfer_syntax: TransferSyntax
    volumes: list[LabelVolume]
    #: The background segment's number (Pixel Padding Value), when the file names one.
    background_number: int | None
    frame_count: int
    findings: list[Finding] = field(default_factory=list)
    dataset: Dataset | None = field(default=None, repr=False)
    #: The dataset's functional groups (frame positions, derivation, ...).
    groups: FunctionalGroups | None = field(default=None, repr=False)

    @property
    def geometry(self) -> ImageGeometry:
        return self.volumes[0].geometry

    @property
    def segments(self) -> list[Segment]:
        return sorted((s for v in self.volumes for s in v.segments), key=lambda s: s.number)


def read_seg(
    source: str | Path | Dataset,
    reference: ReferenceSeries | ImageGeometry | None = None,
    fractional_threshold: float = 0.5,
) -> SegContents:
    """Read a DICOM Segmentation (Label Map or classic) into label layers.

    Raises
    ------
    InvalidDicomError
        When the file is not a readable Segmentation; the message names the attribute.
    GeometryError
        When frames do not fit the grid (another orientation, off-grid positions).
    """
    path = None if isinstance(source, Dataset) else Path(source)
    dataset = source if isinstance(source, Dataset) else _read(Path(source))
    try:
        with malformed_input(path, "the Segmentation"), warnings.catch_warnings(record=True) as library:
            warnings.simplefilter("always", UserWarning)
            contents = _read_dataset(dataset, path, reference, fractional_threshold)
        # pydicom's own warnings (invalid values) become findings, once each, naming the file.
        where = f"{path.name}: " if path is not None else ""
        for message in dict.fromkeys(str(w.message) for w in library if issubclass(w.category, UserWarning)):
            contents.findings.append(Finding(Severity.WARNING, f"{where}pydicom: {message}"))
        return contents
    except InvalidDicomError as error:
        if error.path is None and path is not None:
            raise type(error)(str(error), path, error.attribute) from error
        raise


def _read(path: Path) -> Dataset:
    dataset = _read_dataset_file(path)
    check_not_truncated(dataset, path)
    return dataset


def _read_dataset_file(path: Path) -> Dataset:
    check_deflated_file(path)
    try:
        return pydicom.dcmread(path)
    except Exception as error:  # noqa: BLE001 - pydicom raises many types on broken files
        raise InvalidDicomError(f"cannot read the file ({type(error).__name__}: {error})", path) from error


def _read_dataset(dataset: Dataset, path: Path | None, reference: ReferenceSeries | ImageGeometry | None, threshold: float) -> SegContents:
    sop_class = str(dataset.get("SOPClassUID", ""))
    if sop_class not in (SEGMENTATION_STORAGE, LABEL_MAP_SEGMENTATION_STORAGE):
        raise InvalidDicomError(f"not a Segmentation (SOP Class UID {sop_class or 'missing'})", path, "SOPClassUID")
    segmentation_type = str(dataset.get("SegmentationType", ""))
    if segmentation_type not in ("LABELMAP", "BINARY", "FRACTIONAL"):
        raise InvalidDicomError(f"Segmentation Type '{segmentation_type}' is not LABELMAP, BINARY or FRACTIONAL", path, "SegmentationType")
    syntax = (
        TransferSyntax.from_uid(str(dataset.file_meta.TransferSyntaxUID))
        if "file_meta" in dir(dataset) and "TransferSyntaxUID" in dataset.file_meta
        else TransferSyntax.EXPLICIT
    )
    rows, columns, count, bits = _pixel_layout(dataset)
    groups = FunctionalGroups(dataset)
    grid_findings: list[Finding] = []
    if "TotalPixelMatrixRows" in dataset and groups.item(0, "PlanePositionSlideSequence") is not None:
        geometry, placements = _tiled_grid(dataset, groups, count)
    else:
        positions, orientation, pixel_spacing, spacing_between = _frame_geometry(groups, count)
        geometry, grid_findings = _grid(reference, dataset, positions, orientation, pixel_spacing, spacing_between, (rows, columns))
        slices = _place_frames(geometry, positions)
        placements = np.column_stack([slices, np.zeros_like(slices), np.zeros_like(slices)])
    check_voxels(geometry.shape, 2, "the Segmentation's grid")
    findings: list[Finding] = list(grid_findings)
    _check_frame_count(dataset, groups, count)
    items = list(dataset.get("SegmentSequence", []))
    described = [segment_from_item(item) for item in items]
    if dataset.get("PhotometricInterpretation") == "PALETTE COLOR":
        _colors_from_palette(dataset, described)
    if segmentation_type == "LABELMAP":
        backgrounds = _background_numbers(dataset, items, findings)
        _check_segment_numbers(described, bits, findings)
        covered = None if "TotalPixelMatrixRows" in dataset and groups.item(0, "PlanePositionSlideSequence") is not None else placements[:, 0]
        volumes = [_labelmap_volume(_iter_frames(dataset, syntax), bits, placements, geometry, described, backgrounds, findings, covered)]
        background = min(backgrounds) if backgrounds else None
    else:
        background = None
        numbers = _frame_segment_numbers(groups, count)
        limit = threshold * float(dataset.get("MaximumFractionalValue", 255) or 255) if segmentation_type == "FRACTIONAL" else 1
        volumes = _binary_volumes(_member_crops(dataset, syntax, limit), numbers, placements, geometry, described)
    return SegContents(path, segmentation_type, syntax, volumes, background, count, findings, dataset, groups)


# -- pixel data -------------------------------------------------------------------------------
def _pixel_layout(dataset: Dataset) -> tuple[int, int, int, int]:
    """Rows, Columns, Number of Frames and Bits Allocated, checked."""
    rows, columns = int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0))
    count = int(dataset.get("NumberOfFrames", 1) or 1)
    bits = int(dataset.get("BitsAllocated", 0))
    if rows < 1 or columns < 1 or count < 1:
        raise InvalidDicomError(f"Rows {rows}, Columns {columns} and Number of Frames {count} must be positive", attribute="Rows")
    if bits not in (1, 8, 16):
        raise InvalidDicomError(f"Bits Allocated {bits} is not 1, 8 or 16", attribute="BitsAllocated")
    check_frames(rows, columns, count, bits)
    if "PixelData" not in dataset:
        raise InvalidDicomError("Pixel Data is missing", attribute="PixelData")
    return rows, columns, count, bits


def _iter_frames(dataset: Dataset, syntax: TransferSyntax) -> Iterator[npt.NDArray[np.integer]]:
    """Each frame as a ``(rows, columns)`` array (1-bit frames unpacked to 0/1), one at a time."""
    rows, columns, count, bits = _pixel_layout(dataset)
    pixels = rows * columns
    if syntax is TransferSyntax.EXPLICIT_BIG_ENDIAN:
        # Retired and rare: pydicom's native decoder handles its word swapping.
        try:
            array = dataset.pixel_array
        except Exception as error:  # noqa: BLE001 - pydicom raises many types on broken data
            raise InvalidDicomError(f"big endian Pixel Data cannot be decoded ({error})", attribute="PixelData") from error
        yield from array.reshape(count, rows, columns)
        return
    data = dataset.PixelData
    if syntax.encapsulated:
        held = fragment_count(data)
        if held is not None and held > count:
            raise InvalidDicomError(f"Number of Frames is {count} but Pixel Data holds {held} frames", attribute="NumberOfFrames")
        fragments = list(generate_frames(data, number_of_frames=count))
        if len(fragments) != count:
            raise InvalidDicomError(f"Pixel Data holds {len(fragments)} frames, Number of Frames says {count}", attribute="PixelData")
        repeated: dict[bytes, npt.NDArray[np.integer]] = {}  # identical fragments (e.g. empty frames) decode once
        for fragment in fragments:
            frame = repeated.get(fragment)
            if frame is None:
                decoded = decode_frame(fragment, rows, columns, bits, syntax)
                frame = (
                    np.unpackbits(decoded.ravel().astype(np.uint8), bitorder="little")[:pixels].reshape(rows, columns)
                    if bits == 1
                    else decoded
                )
                if len(repeated) < _REPEATED_FRAMES:
                    frame.flags.writeable = False
                    repeated[fragment] = frame
            yield frame
        return
    buffer = np.frombuffer(data, dtype=np.uint8)
    if bits == 1:
        needed = (count * pixels + 7) // 8
        if buffer.size < needed:
            raise InvalidDicomError(
                f"Pixel Data holds {buffer.size} bytes, {needed} needed for {count} 1-bit frames", attribute="PixelData"
            )
        for index in range(count):
            first_bit = index * pixels
            chunk = buffer[first_bit // 8 : (first_bit + pixels + 7) // 8 + 1]
            offset = first_bit % 8
            yield np.unpackbits(chunk, bitorder="little")[offset : offset + pixels].reshape(rows, columns)
        return
    dtype = np.dtype("<u2" if bits == 16 else "u1")
    needed = count * pixels * dtype.itemsize
    if buffer.size < needed:
        raise InvalidDicomError(f"Pixel Data holds {buffer.size} bytes, {needed} needed for {count} frames", attribute="PixelData")
    if buffer.size >= needed + pixels * dtype.itemsize:
        raise InvalidDicomError(
            f"Number of Frames is {count} but Pixel Data holds {buffer.size // (pixels * dtype.itemsize)} frames", attribute="NumberOfFrames"
        )
    frames = buffer[:needed].view(dtype).reshape(count, rows, columns)
    for frame in frames:
        yield frame.astype(dtype.newbyteorder("="))


Crop = tuple[int, int, npt.NDArray[np.bool_]] | None


def _member_crops(dataset: Dataset, syntax: TransferSyntax, limit: float) -> Iterator[Crop]:
    """For each frame, the bounding box of its member pixels (value >= ``limit``) as
    ``(row, column, mask)``, or ``None`` when it has none. Native 1-bit frames that start and
    run on byte boundaries are boxed on their packed bytes and only the box is unpacked."""
    rows, columns, count, bits = _pixel_layout(dataset)
    if bits == 1 and not syntax.encapsulated and syntax is not TransferSyntax.EXPLICIT_BIG_ENDIAN and columns % 8 == 0:
        stride = rows * columns // 8
        buffer = np.frombuffer(dataset.PixelData, dtype=np.uint8)
        if buffer.size < stride * count:
            raise InvalidDicomError(
                f"Pixel Data holds {buffer.size} bytes, {stride * count} needed for {count} 1-bit frames", attribute="PixelData"
            )
        # Which rows and which bytes of a row hold any bit, for all frames in a few passes.
        for first in range(0, count, _FRAME_BATCH):
            packed = buffer[first * stride : min(count, first + _FRAME_BATCH) * stride].reshape(-1, rows, columns // 8)
            if columns % 64 == 0:  # whole 8-byte words per row: 8x fewer elements to reduce
                words = packed.view(np.uint64)
                row_used = np.asarray(words.any(axis=2))
                byte_used = np.asarray(np.bitwise_or.reduce(words, axis=1).view(np.uint8).reshape(packed.shape[0], -1) != 0)
            else:
                row_used, byte_used = np.asarray(packed.any(axis=2)), np.asarray(packed.any(axis=1))
            row_first, row_last = _first_last(row_used)
            byte_first, byte_last = _first_last(byte_used)
            for index in range(packed.shape[0]):
                if row_last[index] < 0:
                    yield None
                    continue
                box = packed[index, row_first[index] : row_last[index] + 1, byte_first[index] : byte_last[index] + 1]
                yield int(row_first[index]), int(byte_first[index]) * 8, np.unpackbits(box, axis=1, bitorder="little").view(bool)
        return
    for frame in _iter_frames(dataset, syntax):
        yield _crop(frame >= limit)


def _first_last(used: npt.NDArray[np.bool_]) -> tuple[list[int], list[int]]:
    """Per row of ``used``, the first and last True column (-1, -1 when none)."""
    any_used = used.any(axis=1)
    width = used.shape[1]
    first = np.where(any_used, used.argmax(axis=1), -1)
    last = np.where(any_used, width - 1 - used[:, ::-1].argmax(axis=1), -1)
    return first.tolist(), last.tolist()


def _crop(mask: npt.NDArray[np.bool_]) -> Crop:
    used_rows = np.flatnonzero(mask.any(axis=1))
    if used_rows.size == 0:
        return None
    used_columns = np.flatnonzero(mask[used_rows[0] : used_rows[-1] + 1].any(axis=0))
    return int(used_rows[0]), int(used_columns[0]), mask[used_rows[0] : used_rows[-1] + 1, used_columns[0] : used_columns[-1] + 1]


# -- geometry ---------------------------------------------------------------------------------
class FunctionalGroups:
    """A multi-frame dataset's functional group items: per frame, else shared.

    The Per-Frame Functional Groups Sequence is split from its undecoded bytes when pydicom
    left it raw (see :mod:`rawsequence`), so thousands of frames do not each become a pydicom
    Dataset unless asked for; otherwise pydicom's sequence is used."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._raw: RawItems | None = None
        self._per_frame: list[Dataset] = []
        shared = dataset.get("SharedFunctionalGroupsSequence")
        self._shared: Dataset | None = shared[0] if shared else None
        if "PerFrameFunctionalGroupsSequence" not in dataset:
            return
        element = dataset.get_item("PerFrameFunctionalGroupsSequence")
        value = getattr(element, "value", None)
        if isinstance(value, bytes) and not getattr(element, "is_implicit_VR", True) and getattr(element, "is_little_endian", False):
            try:
                self._raw = RawItems(value)
            except RawFormatError as error:
                logger.debug("Per-Frame Functional Groups read by pydicom: %s", error)
        if self._raw is None:
            self._per_frame = list(dataset.PerFrameFunctionalGroupsSequence or [])

    def __len__(self) -> int:
        return len(self._raw) if self._raw is not None else len(self._per_frame)

    def group(self, index: int) -> Dataset | None:
        """Frame ``index``'s Per-Frame Functional Groups item."""
        if not 0 <= index < len(self):
            return None
        return self._raw.dataset(index) if self._raw is not None else self._per_frame[index]

    def item(self, index: int, sequence: str) -> Dataset | None:
        """Frame ``index``'s item of functional group ``sequence``: per-frame if there, else shared."""
        for group in (self.group(index), self._shared):
            if group is not None and sequence in group and len(group[sequence].value):
                return group[sequence].value[0]  # type: ignore[no-any-return]
        return None

    def items(self, count: int, sequence: str, keyword: str) -> list[Dataset]:
        """Each frame's item of ``sequence``, which must hold ``keyword``."""
        items = []
        for index in range(count):
            item = self.item(index, sequence)
            if item is None or keyword not in item:
                raise InvalidDicomError(f"frame {index + 1} has no {sequence} with {keyword}", attribute=sequence)
            items.append(item)
        return items

    def values(self, count: int, sequence: str, element: str) -> list[list[float]] | None:
        """One numeric element's values for every frame, read from the undecoded bytes of
        each frame's ``sequence`` (explicit VR little endian). ``None`` (use :meth:`items`)
        when any frame's group is not in that form, or when the first and last frames
        disagree with pydicom's reading."""
        if len(self) != count:
            return None
        sequence_tag = int(tag_for_keyword(sequence))  # type: ignore[arg-type]
        tag = int(tag_for_keyword(element))  # type: ignore[arg-type]
        vr = dictionary_VR(tag)
        header = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
        values: list[list[float]] = []
        for index in range(count):
            raw = self._raw_sequence(index, sequence, sequence_tag)
            if raw is None:
                return None
            start = raw.find(header)
            if start < 0 or raw.find(header, start + 1) >= 0:
                return None
            length = int.from_bytes(raw[start + 6 : start + 8], "little")
            value = raw[start + 8 : start + 8 + length]
            try:
                if vr == "US":
                    values.append([float(int.from_bytes(value[:2], "little"))])
                else:
                    values.append([float(v) for v in value.decode("ascii").strip(" \x00").split("\\")])
            except ValueError:
                return None
        for index in (0, count - 1):
            item = self.item(index, sequence)
            found = None if item is None else item.get(element)
            expected = [] if found is None else [float(v) for v in (found if isinstance(found, (list, MultiValue)) else [found])]
            if values[index] != expected:
                return None
        return values

    def _raw_sequence(self, index: int, sequence: str, tag: int) -> bytes | None:
        if self._raw is not None:
            return self._raw.element_value(index, tag)
        raw_element = self._per_frame[index].get_item(sequence)
        raw = getattr(raw_element, "value", None)
        if not isinstance(raw, bytes) or getattr(raw_element, "is_implicit_VR", True) or not getattr(raw_element, "is_little_endian", False):
            return None
        return raw


def _frame_geometry(
    groups: FunctionalGroups, count: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], float | None]:
    positions = groups.values(count, "PlanePositionSequence", "ImagePositionPatient")
    if positions is None:
        positions = [
            [float(v) for v in item.ImagePositionPatient]
            for item in groups.items(count, "PlanePositionSequence", "ImagePositionPatient")
        ]
    orientation_item = groups.item(0, "PlaneOrientationSequence")
    measures = groups.item(0, "PixelMeasuresSequence")
    if orientation_item is None or "ImageOrientationPatient" not in orientation_item:
        raise InvalidDicomError("Plane Orientation Sequence / Image Orientation (Patient) is missing", attribute="PlaneOrientationSequence")
    if measures is None or "PixelSpacing" not in measures:
        raise InvalidDicomError("Pixel Measures Sequence / Pixel Spacing is missing", attribute="PixelMeasuresSequence")
    between = measures.get("SpacingBetweenSlices")
    spacing_between = float(between) if between not in (None, "") and float(between) > 0 else None
    return (
        np.asarray(positions, dtype=np.float64),
        np.asarray([float(v) for v in orientation_item.ImageOrientationPatient], dtype=np.float64),
        np.asarray([float(v) for v in measures.PixelSpacing], dtype=np.float64),
        spacing_between,
    )


def _grid(
    reference: ReferenceSeries | ImageGeometry | None,
    dataset: Dataset,
    positions: npt.NDArray[np.float64],
    orientation: npt.NDArray[np.float64],
    pixel_spacing: npt.NDArray[np.float64],
    spacing_between: float | None,
    frame_shape: tuple[int, ...],
) -> tuple[ImageGeometry, list[Finding]]:
    frame_of_reference = str(dataset.get("FrameOfReferenceUID", "")) or None
    if reference is not None:
        geometry = reference.geometry if isinstance(reference, ReferenceSeries) else reference
        if geometry.shape[1:] != tuple(frame_shape):
            raise GeometryError(
                f"SEG frames are {frame_shape[0]}x{frame_shape[1]}, the reference slices {geometry.shape[1]}x{geometry.shape[2]}"
            )
        if frame_of_reference and geometry.frame_of_reference_uid and frame_of_reference != geometry.frame_of_reference_uid:
            raise GeometryError(
                f"the SEG is in Frame of Reference {frame_of_reference}, the reference series in {geometry.frame_of_reference_uid}"
            )
        reference_orientation = np.concatenate([geometry.direction[:, 0], geometry.direction[:, 1]])
        if np.max(np.abs(reference_orientation - orientation)) > 1e-3:
            raise GeometryError(
                f"SEG Image Orientation {orientation.tolist()} differs from the reference's {reference_orientation.tolist()}"
            )
        return geometry, []
    normal = np.cross(orientation[:3], orientation[3:])
    distances = positions @ normal
    order = np.argsort(distances)
    unique = np.unique(np.round(distances[order], 4))
    gaps = np.diff(unique)
    findings: list[Finding] = []
    step = spacing_between or (float(gaps.min()) if gaps.size else 1.0)
    if spacing_between and gaps.size:
        problem = spacing_contradiction(unique, spacing_between, referenced_instance_count(dataset))
        if problem:
            step = float(gaps.min())
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"{problem}; the grid uses the frames' spacing {step:g} mm (pass the reference series to place them exactly)",
                    attribute="SpacingBetweenSlices",
                )
            )
    first = positions[order[0]]
    count = int(round((unique[-1] - unique[0]) / step)) + 1 if unique.size else 1
    geometry = ImageGeometry.from_orientation(orientation, first, pixel_spacing, step, (count, frame_shape[0], frame_shape[1]), frame_of_reference)
    return geometry, findings


def _place_frames(geometry: ImageGeometry, positions: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    ijk = geometry.to_ijk(positions)
    k = np.round(ijk[:, 2]).astype(np.int64)
    off = (
        (np.abs(ijk[:, :2]).max(axis=1) > _GRID_TOLERANCE) | (np.abs(ijk[:, 2] - k) > _GRID_TOLERANCE) | (k < 0) | (k >= geometry.shape[0])
    )
    if np.any(off):
        index = int(np.flatnonzero(off)[0])
        raise GeometryError(
            f"frame {index + 1} at {positions[index].tolist()} is not on a slice of the grid (index {ijk[index].round(3).tolist()})"
        )
    return k


def _tiled_grid(dataset: Dataset, groups: FunctionalGroups, count: int) -> tuple[ImageGeometry, npt.NDArray[np.int64]]:
    """Tiled images (slide microscopy): one plane of Total Pixel Matrix Rows x Columns, each
    frame a tile placed by its Row/Column Position In Total Image Pixel Matrix. The grid is
    in the slide coordinate system, from Image Orientation (Slide) and the Total Pixel Matrix
    Origin (taken as the first pixel's centre)."""
    rows, columns = int(dataset.TotalPixelMatrixRows), int(dataset.TotalPixelMatrixColumns)
    if int(dataset.get("TotalPixelMatrixFocalPlanes", 1) or 1) != 1:
        raise InvalidDicomError("tiled SEGs with several focal planes are not supported", attribute="TotalPixelMatrixFocalPlanes")
    placements = [
        [0, int(item.RowPositionInTotalImagePixelMatrix) - 1, int(item.ColumnPositionInTotalImagePixelMatrix) - 1]
        for item in groups.items(count, "PlanePositionSlideSequence", "RowPositionInTotalImagePixelMatrix")
    ]
    measures = groups.item(0, "PixelMeasuresSequence")
    spacing = [float(v) for v in measures.PixelSpacing] if measures is not None and "PixelSpacing" in measures else [1.0, 1.0]
    thickness = float(measures.get("SliceThickness", 1.0) or 1.0) if measures is not None else 1.0
    orientation = [float(v) for v in dataset.get("ImageOrientationSlide", [0, -1, 0, -1, 0, 0])]
    origin_items = dataset.get("TotalPixelMatrixOriginSequence", [])
    origin = [0.0, 0.0, 0.0]
    if origin_items:
        origin = [
            float(origin_items[0].get("XOffsetInSlideCoordinateSystem", 0)),
            float(origin_items[0].get("YOffsetInSlideCoordinateSystem", 0)),
            0.0,
        ]
    geometry = ImageGeometry.from_orientation(
        orientation, origin, spacing, thickness, (1, rows, columns), str(dataset.get("FrameOfReferenceUID", "")) or None
    )
    return geometry, np.asarray(placements, dtype=np.int64)


def _paste(target: npt.NDArray[np.generic], tile: npt.NDArray[np.generic], row: int, column: int) -> None:
    """Put ``tile`` at ``(row, column)`` of ``target``, clipped to it (edge tiles overhang)."""
    height = min(tile.shape[0], target.shape[0] - row)
    width = min(tile.shape[1], target.shape[1] - column)
    if row < 0 or column < 0 or height <= 0 or width <= 0:
        raise GeometryError(
            f"a tile at row {row + 1}, column {column + 1} lies outside the {target.shape[0]}x{target.shape[1]} total pixel matrix"
        )
    target[row : row + height, column : column + width] = tile[:height, :width]


# -- segments ---------------------------------------------------------------------------------
def _background_numbers(dataset: Dataset, items: list[Dataset], findings: list[Finding]) -> set[int]:
    """The pixel values that are background (label 0).

    As highdicom and dcmqi read label maps: the segment whose number is Pixel Padding Value,
    and a segment coded as Background (DCM 125040 or SCT 309825002) even when Pixel Padding
    Value is absent or another number. A Pixel Padding Value that names a segment coded as
    something else contradicts the file's own description: that segment is kept (warning).
    """
    padding = dataset.get("PixelPaddingValue")
    coded = {int(item.SegmentNumber) for item in items if "SegmentNumber" in item and is_background_item(item)}
    numbers = {int(item.SegmentNumber): item for item in items if "SegmentNumber" in item}
    backgrounds = set(coded)
    if padding is not None:
        value = int(padding)
        named = numbers.get(value)
        if named is None or value in coded:
            backgrounds.add(value)
        else:
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"Pixel Padding Value {value} is the number of segment '{named.get('SegmentLabel', '')}', which is not coded as "
                    f"Background; the segment is kept{' and segment(s) ' + str(sorted(coded)) + ' coded Background are the background' if coded else ''}",
                    attribute="PixelPaddingValue",
                )
            )
    for number in sorted(coded - ({int(padding)} if padding is not None else set())):
        findings.append(
            Finding(
                Severity.WARNING,
                f"segment {number} is coded as Background but Pixel Padding Value is "
                f"{'absent' if padding is None else int(padding)}; it is read as background (as highdicom and dcmqi do)",
                attribute="PixelPaddingValue",
            )
        )
    return backgrounds


def _check_segment_numbers(described: list[Segment], bits: int, findings: list[Finding]) -> None:
    largest = (1 << bits) - 1
    beyond = [s.number for s in described if s.number > largest]
    if beyond:
        findings.append(
            Finding(
                Severity.WARNING,
                f"segment number(s) {beyond[:5]} cannot occur in a {bits}-bit label map (largest value {largest}); "
                "they are kept as empty segments",
                attribute="SegmentNumber",
            )
        )


def _check_frame_count(dataset: Dataset, groups: FunctionalGroups, count: int) -> None:
    """Number of Frames must agree with the per-frame items (a smaller number would silently drop frames)."""
    per_frame = len(groups)
    if per_frame and per_frame != count:
        raise InvalidDicomError(
            f"Number of Frames is {count} but the Per-frame Functional Groups Sequence has {per_frame} items", attribute="NumberOfFrames"
        )


def _labelmap_volume(
    frames: Iterable[npt.NDArray[np.integer]],
    bits: int,
    placements: npt.NDArray[np.int64],
    geometry: ImageGeometry,
    described: list[Segment],
    backgrounds: set[int],
    findings: list[Finding],
    covered_slices: npt.NDArray[np.int64] | None = None,
) -> LabelVolume:
    """Place the frames and map pixel values to labels (background values to 0). Slices
    without a frame are background whatever value stands for it (``covered_slices``)."""
    fill = min(backgrounds) if backgrounds else 0
    raw_dtype = np.uint16 if bits == 16 else np.uint8
    # zeros: the operating system hands out zeroed pages as the frames are pasted (no fill pass)
    raw = np.zeros(geometry.shape, dtype=raw_dtype) if fill == 0 else np.full(geometry.shape, fill, dtype=raw_dtype)
    if len(np.unique(placements, axis=0)) != len(placements):
        raise GeometryError("two frames share one position; a label map has one frame per position")
    for frame, (k, row, column) in zip(frames, placements.tolist(), strict=True):
        _paste(raw[k], frame, row, column)
    present = present_values(raw)
    top = max([present[-1] if present else 0, fill] + [s.number for s in described])
    lookup = np.arange(top + 1, dtype=np.int64)
    segments = []
    next_free = top + 1
    for segment in described:
        if segment.number in backgrounds:
            continue
        if segment.number == 0:
            # Label 0 means background in label maps; give this real segment a number of its own.
            if next_free > MAX_SEGMENT_NUMBER:
                raise DicomLabelMapError("no free label value left for segment 0")
            segment.properties["DicomSegmentNumber"] = "0"
            lookup[0] = next_free
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"segment 0 '{segment.label}' is not the background (it is not coded as Background and Pixel Padding Value "
                    f"does not name it); it is kept as label {next_free}",
                    attribute="PixelPaddingValue",
                )
            )
            segment.number = next_free
            next_free += 1
        segments.append(segment)
    for value in backgrounds:
        if value <= top:
            lookup[value] = 0
    kept = {s.number for s in segments}
    for value in present:
        mapped = int(lookup[value])
        if mapped != 0 and mapped not in kept:
            kept.add(mapped)
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"pixel value {value} has no Segment Sequence item; kept as an unnamed segment",
                    attribute="SegmentSequence",
                )
            )
            segments.append(Segment(mapped, f"Segment {mapped}"))
    dtype = label_dtype(int(lookup.max()))
    if all(int(lookup[value]) == value for value in present) and raw.dtype == dtype:
        labels = raw  # every value present is its own label (the usual file): no remapping pass
    else:
        labels = lookup.astype(dtype)[raw]
    if covered_slices is not None and not backgrounds:
        missing = np.ones(geometry.shape[0], dtype=bool)
        missing[covered_slices] = False
        labels[missing] = 0
    return LabelVolume(labels, geometry, segments)


def _colors_from_palette(dataset: Dataset, segments: list[Segment]) -> None:
    """With PALETTE COLOR a segment's colour is its entry in the Palette Color Lookup Table."""
    tables = []
    for color in ("Red", "Green", "Blue"):
        descriptor = dataset.get(f"{color}PaletteColorLookupTableDescriptor")
        data = dataset.get(f"{color}PaletteColorLookupTableData")
        if descriptor is None or data is None:
            raise InvalidDicomError(
                f"PALETTE COLOR without {color} Palette Color Lookup Table", attribute=f"{color}PaletteColorLookupTableData"
            )
        entries, first, bits = (int(v) for v in descriptor)
        entries = entries or 65536
        values = np.frombuffer(data, dtype="<u2" if bits == 16 else np.uint8)[:entries].astype(np.float64)
        tables.append((first, values / (65535 if bits == 16 else 255)))
    for segment in segments:
        if segment.color is not None:
            continue
        rgb = []
        for first, values in tables:
            index = min(max(segment.number - first, 0), len(values) - 1)
            rgb.append(int(round(float(values[index]) * 255)))
        segment.color = (rgb[0], rgb[1], rgb[2])


def _frame_segment_numbers(groups: FunctionalGroups, count: int) -> list[int]:
    numbers = groups.values(count, "SegmentIdentificationSequence", "ReferencedSegmentNumber")
    if numbers is not None:
        return [int(n[0]) for n in numbers]
    return [
        int(item.ReferencedSegmentNumber)
        for item in groups.items(count, "SegmentIdentificationSequence", "ReferencedSegmentNumber")
    ]


def _binary_volumes(
    crops: Iterable[Crop],
    numbers: list[int],
    placements: npt.NDArray[np.int64],
    geometry: ImageGeometry,
    described: list[Segment],
) -> list[LabelVolume]:
    """Per segment, the frames' boxes combined into one box mask; then label layers."""
    by_number = {s.number: s for s in described}
    pieces: dict[int, list[tuple[int, int, int, npt.NDArray[np.bool_]]]] = {}
    for crop, number, (k, row, column) in zip(crops, numbers, placements.tolist(), strict=True):
        if number not in by_number:
            raise InvalidDicomError(
                f"frames reference Segment Number {number}, which the Segment Sequence does not describe",
                attribute="ReferencedSegmentNumber",
            )
        if crop is not None:
            pieces.setdefault(number, []).append((k, row + crop[0], column + crop[1], crop[2]))
    items = [(segment, _box_mask(geometry.shape, pieces.get(segment.number, []))) for segment in sorted(described, key=lambda s: s.number)]
    return build_label_volumes(geometry, items)


def _box_mask(shape: tuple[int, int, int], pieces: list[tuple[int, int, int, npt.NDArray[np.bool_]]]) -> BoxMask:
    """Combine ``(slice, row, column, mask)`` pieces (clipped to the grid) into one box mask."""
    clipped = []
    for k, row, column, mask in pieces:
        height, width = min(mask.shape[0], shape[1] - row), min(mask.shape[1], shape[2] - column)
        if height > 0 and width > 0:
            clipped.append((k, row, column, mask[:height, :width]))
    if not clipped:
        return BoxMask.empty(shape)
    low = np.min([[k, r, c] for k, r, c, _ in clipped], axis=0)
    high = np.max([[k + 1, r + m.shape[0], c + m.shape[1]] for k, r, c, m in clipped], axis=0)
    crop = np.zeros(tuple(high - low), dtype=bool)
    for k, row, column, mask in clipped:
        region = crop[k - low[0], row - low[1] : row - low[1] + mask.shape[0], column - low[2] : column - low[2] + mask.shape[1]]
        region |= mask
    return BoxMask(shape, (int(low[0]), int(low[1]), int(low[2])), crop)

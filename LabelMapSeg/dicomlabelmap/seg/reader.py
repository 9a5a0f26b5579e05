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
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from ..dicom.codecs import SLOW_TO_DECODE, TransferSyntax, decode_frame, register_with_pydicom
from ..dicom.frames import FunctionalGroups
from ..dicom.images import ReferenceSeries
from ..dicom.limits import check_frames, check_voxels
from ..dicom.processes import can_fork, map_in_two_processes
from ..dicom.read import read_dataset
from ..dicom.uids import LABEL_MAP_SEGMENTATION_STORAGE, SEGMENTATION_STORAGE
from ..errors import DicomLabelMapError, GeometryError, InvalidDicomError, malformed_input
from ..findings import Finding, Severity
from ..model.geometry import ImageGeometry
from ..model.labels import MAX_SEGMENT_NUMBER, LabelVolume, build_label_volumes, label_dtype, present_values
from ..model.masks import BoxMask
from ..model.segment import Segment
from .checks import fragment_count, is_background_item
from .grid import paste
from .layout import frame_layout
from .segments import segment_from_item

logger = logging.getLogger(__name__)
register_with_pydicom()

#: Distinct encoded frames remembered so that repeats are decoded once.
_REPEATED_FRAMES = 8
#: 1-bit frames boxed together on their packed bytes (bounded memory for the intermediate arrays).
_FRAME_BATCH = 256


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
    #: The grid: "volume" (frames placed by position in a Frame of Reference), "plane" (no Frame
    #: of Reference: one plane of pixels, as a radiograph's) or "tiled" (slide coordinates).
    grid_kind: str = "volume"

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
    processes: int = 1,
) -> SegContents:
    """Read a DICOM Segmentation (Label Map or classic) into label layers.

    ``processes=2`` decodes JPEG 2000 frames in two processes (a forked helper on
    Linux; the command line does this); the result is the same.

    Raises
    ------
    InvalidDicomError
        When the file is not a readable Segmentation; the message names the attribute.
    GeometryError
        When frames do not fit the grid (another orientation, off-grid positions).
    """
    path = None if isinstance(source, Dataset) else Path(source)
    dataset = source if isinstance(source, Dataset) else read_dataset(Path(source), "the Segmentation file")
    try:
        with malformed_input(path, "the Segmentation"), warnings.catch_warnings(record=True) as library:
            warnings.simplefilter("always", UserWarning)
            contents = _read_dataset(dataset, path, reference, fractional_threshold, processes)
        # pydicom's own warnings (invalid values) become findings, once each, naming the file.
        where = f"{path.name}: " if path is not None else ""
        for message in dict.fromkeys(str(w.message) for w in library if issubclass(w.category, UserWarning)):
            contents.findings.append(Finding(Severity.WARNING, f"{where}pydicom: {message}"))
        return contents
    except InvalidDicomError as error:
        if error.path is None and path is not None:
            raise type(error)(str(error), path, error.attribute) from error
        raise


def _read_dataset(
    dataset: Dataset, path: Path | None, reference: ReferenceSeries | ImageGeometry | None, threshold: float, processes: int = 1
) -> SegContents:
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
    layout = frame_layout(dataset, groups, count, reference, (rows, columns))
    geometry, placements = layout.geometry, layout.placements
    check_voxels(geometry.shape, 2, "the Segmentation's grid")
    findings: list[Finding] = list(layout.findings)
    _check_frame_count(dataset, groups, count)
    items = list(dataset.get("SegmentSequence", []))
    described = [segment_from_item(item) for item in items]
    if dataset.get("PhotometricInterpretation") == "PALETTE COLOR":
        _colors_from_palette(dataset, described)
    if segmentation_type == "LABELMAP":
        backgrounds = _background_numbers(dataset, items, findings)
        _check_segment_numbers(described, bits, findings)
        covered = layout.covered_slices if layout.kind != "tiled" else None
        volumes = [
            _labelmap_volume(
                _iter_frames(dataset, syntax, processes), bits, placements, geometry, described, backgrounds, findings, covered
            )
        ]
        background = min(backgrounds) if backgrounds else None
    else:
        background = None
        numbers = layout.segment_numbers or _frame_segment_numbers(groups, count)
        if layout.kind == "plane" and len(set(numbers)) != len(numbers):
            raise InvalidDicomError(
                "frames of one segment repeat in a Segmentation without Frame of Reference or plane positions: nothing places them",
                attribute="ReferencedSegmentNumber",
            )
        limit = threshold * float(dataset.get("MaximumFractionalValue", 255) or 255) if segmentation_type == "FRACTIONAL" else 1
        volumes = _binary_volumes(_member_crops(dataset, syntax, limit, processes), numbers, placements, geometry, described)
    return SegContents(path, segmentation_type, syntax, volumes, background, count, findings, dataset, groups, layout.kind)


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


def _iter_frames(dataset: Dataset, syntax: TransferSyntax, processes: int = 1) -> Iterator[npt.NDArray[np.integer]]:
    """Each frame as a ``(rows, columns)`` array (1-bit frames unpacked to 0/1), one at a time
    (with ``processes=2``, JPEG 2000 frames a batch at a time, decoded in two processes)."""
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
        if processes > 1 and syntax in SLOW_TO_DECODE and len(fragments) >= 16 and can_fork():
            yield from _frames_in_two_processes(fragments, rows, columns, bits, syntax)
            return
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
            f"Number of Frames is {count} but Pixel Data holds {buffer.size // (pixels * dtype.itemsize)} frames",
            attribute="NumberOfFrames",
        )
    frames = buffer[:needed].view(dtype).reshape(count, rows, columns)
    for frame in frames:
        yield frame.astype(dtype.newbyteorder("="))


#: Decoded bytes held at once when two processes decode: frames go in batches of this size.
_PARALLEL_BATCH_BYTES = 64 << 20


def _frames_in_two_processes(
    fragments: list[bytes], rows: int, columns: int, bits: int, syntax: TransferSyntax
) -> Iterator[npt.NDArray[np.integer]]:
    """The fragments decoded as :func:`_iter_frames` does, each distinct one once, a batch at a
    time: every other distinct fragment of a batch in a forked helper (:mod:`~dicomlabelmap.dicom.processes`)."""
    per_frame = rows * columns * (2 if bits > 8 else 1)
    batch = max(16, _PARALLEL_BATCH_BYTES // max(1, per_frame))
    for start in range(0, len(fragments), batch):
        part = fragments[start : start + batch]
        first: dict[bytes, int] = {}
        order = [first.setdefault(fragment, index) for index, fragment in enumerate(part)]
        distinct = sorted(set(order))

        def decode(index: int, part: list[bytes] = part) -> npt.NDArray[np.integer]:
            decoded = decode_frame(part[index], rows, columns, bits, syntax)
            if bits == 1:
                return np.unpackbits(decoded.ravel().astype(np.uint8), bitorder="little")[: rows * columns].reshape(rows, columns)
            return decoded

        done = map_in_two_processes(decode, distinct[0::2], distinct[1::2]) if len(distinct) >= 16 else {i: decode(i) for i in distinct}
        for index in order:
            yield done[index]


Crop = tuple[int, int, npt.NDArray[np.bool_]] | None


def _member_crops(dataset: Dataset, syntax: TransferSyntax, limit: float, processes: int = 1) -> Iterator[Crop]:
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
    for frame in _iter_frames(dataset, syntax, processes):
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
                    "Background; the segment is kept"
                    + (f" and segment(s) {sorted(coded)} coded Background are the background" if coded else ""),
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
    present = _paste_frames(raw, frames, placements, bits, fill)
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
    # what the frames held, as labels (exact: no two frames share a position, tiles are counted on the volume)
    counted: set[int] | None = {int(lookup[value]) for value in present}
    if covered_slices is not None and not backgrounds:
        missing = np.ones(geometry.shape[0], dtype=bool)
        missing[covered_slices] = False
        labels[missing] = 0
        counted = None  # slices cleared: count again when asked
    return LabelVolume(labels, geometry, segments, counted)


def _paste_frames(
    raw: npt.NDArray[np.integer], frames: Iterable[npt.NDArray[np.integer]], placements: npt.NDArray[np.int64], bits: int, fill: int
) -> list[int]:
    """Paste the frames into ``raw``; returns the values present, counted frame by frame as
    they are pasted (a frame is small: no pass over the whole volume); tiles and partial frames
    are counted on the volume."""
    whole_frames = bool(len(placements)) and not placements[:, 1:].any()
    seen = np.zeros(1 << bits if bits in (8, 16) else 0, dtype=bool)
    for frame, (k, row, column) in zip(frames, placements.tolist(), strict=True):
        paste(raw[k], frame, row, column)
        if whole_frames and len(seen) and frame.shape == raw.shape[1:] and frame.dtype == raw.dtype:
            _mark_present(seen, frame)
        else:
            whole_frames = False
    if not (whole_frames and len(seen)):
        return present_values(raw)
    if len(placements) < raw.shape[0]:
        seen[fill] = True  # slices without a frame hold the fill value
    return [int(v) for v in np.flatnonzero(seen)]


def _mark_present(seen: npt.NDArray[np.bool_], frame: npt.NDArray[np.integer]) -> None:
    """Mark the values a frame holds: its non-zero voxels counted (most of a label map's frame is
    background: about half the work of counting every voxel), zero when any voxel is zero."""
    flat = frame.reshape(-1)
    labelled = flat[flat != 0]
    if labelled.size < flat.size:
        seen[0] = True
    if labelled.size:
        seen[np.bincount(labelled, minlength=len(seen)) > 0] = True


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
    return [int(item.ReferencedSegmentNumber) for item in groups.items(count, "SegmentIdentificationSequence", "ReferencedSegmentNumber")]


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

"""Checks that a Segmentation's header agrees with its own data, as strict readers need.

Each check answers a refusal seen in a real reader (DICOM_NOTES, "What real readers require"):
JPEG-LS and JPEG 2000 sample precision equal to Bits Stored (DCMTK), Palette Color Lookup
Table entries of the map's bit depth and large enough (highdicom, dciodvfy), Pixel Padding
Value naming the background, Number of Frames agreeing with the frames present, segment numbers
that fit Bits Stored, and frame positions that fit Spacing Between Slices. ``validate`` reports
these findings; the writer refuses to call a file verified while any ERROR remains.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from ..dicom.frames import FunctionalGroups
from ..errors import DicomLabelMapError
from ..findings import Finding, Severity
from ..model.segment import Code

#: Codes that mark a segment as the background: DCM 125040 (highdicom, us) and SCT 309825002
#: (DCMTK and dcmqi write it as the category).
BACKGROUND_CODES = {("125040", "DCM"), ("309825002", "SCT")}

#: ``report(message, attribute)`` for one ERROR.
_Report = Callable[[str, str], None]

_JPEG_LS = "1.2.840.10008.1.2.4.80"
_JPEG_LS_NEAR = "1.2.840.10008.1.2.4.81"
_JPEG_2000 = ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.203")


def is_background_item(item: Dataset) -> bool:
    """Whether a Segment Sequence item is coded as the background."""
    for sequence in ("SegmentedPropertyCategoryCodeSequence", "SegmentedPropertyTypeCodeSequence"):
        for code in item.get(sequence, []):
            if (str(code.get("CodeValue", "")), str(code.get("CodingSchemeDesignator", ""))) in BACKGROUND_CODES:
                return True
    return False


def is_background_code(code: Code | None) -> bool:
    return code is not None and (code.value, code.scheme) in BACKGROUND_CODES


def consistency_findings(dataset: Dataset) -> list[Finding]:
    """Every disagreement between the header and the data of a Segmentation."""
    findings: list[Finding] = []

    def error(message: str, attribute: str) -> None:
        findings.append(Finding(Severity.ERROR, message, attribute=attribute))

    syntax = str(dataset.file_meta.TransferSyntaxUID) if "file_meta" in dir(dataset) and "TransferSyntaxUID" in dataset.file_meta else ""
    bits_stored = int(dataset.get("BitsStored", 0) or 0)
    labelmap = str(dataset.get("SegmentationType", "")) == "LABELMAP"
    _frame_counts(dataset, syntax, error)
    if syntax in (_JPEG_LS, _JPEG_LS_NEAR) or syntax in _JPEG_2000:
        _codestream_parameters(dataset, syntax, bits_stored, error)
    if labelmap:
        _segment_numbers(dataset, bits_stored, error)
        _padding_value(dataset, error)
        if dataset.get("PhotometricInterpretation") == "PALETTE COLOR":
            _palette(dataset, bits_stored, error)
    _spacing_between_slices(dataset, error)
    return findings


# -- frames -----------------------------------------------------------------------------------------
def _frame_counts(dataset: Dataset, syntax: str, error: _Report) -> None:
    count = int(dataset.get("NumberOfFrames", 1) or 1)
    if "PerFrameFunctionalGroupsSequence" in dataset:
        items = len(FunctionalGroups(dataset))
        if items != count:
            error(f"Number of Frames is {count} but the Per-frame Functional Groups Sequence has {items} items", "NumberOfFrames")
    if "PixelData" not in dataset:
        return
    rows, columns, bits = int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0)), int(dataset.get("BitsAllocated", 0))
    data = dataset.PixelData
    if syntax and _encapsulated(syntax):
        fragments = fragment_count(data)
        if fragments is not None and fragments > count:
            error(f"Number of Frames is {count} but Pixel Data holds {fragments} frames", "NumberOfFrames")
        return
    frame_bits = rows * columns * bits
    if frame_bits <= 0:
        return
    held = len(data) * 8 // frame_bits
    if held > count and (len(data) * 8 - count * frame_bits) >= frame_bits:
        error(f"Number of Frames is {count} but Pixel Data holds {held} frames", "NumberOfFrames")


def _encapsulated(syntax: str) -> bool:
    return syntax not in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2")


def fragment_count(data: bytes) -> int | None:
    """Frames in encapsulated Pixel Data: the Basic Offset Table's entries, else the fragments."""
    if len(data) < 8 or data[:4] != b"\xfe\xff\x00\xe0":
        return None
    (length,) = struct.unpack("<I", data[4:8])
    if length:
        return length // 4
    fragments, position = 0, 8 + length
    while position + 8 <= len(data) and data[position : position + 4] == b"\xfe\xff\x00\xe0":
        (size,) = struct.unpack("<I", data[position + 4 : position + 8])
        fragments += 1
        position += 8 + size
    return fragments


def _frames(dataset: Dataset) -> Iterator[bytes]:
    count = int(dataset.get("NumberOfFrames", 1) or 1)
    yield from generate_frames(dataset.PixelData, number_of_frames=count)


# -- codestreams ------------------------------------------------------------------------------------
def jpeg_ls_parameters(frame: bytes) -> tuple[int, int] | None:
    """Sample precision P and component count of a JPEG-LS frame (its SOF55 marker)."""
    position = 2
    while position + 4 <= len(frame):
        if frame[position] != 0xFF:
            return None
        marker = frame[position + 1]
        (length,) = struct.unpack(">H", frame[position + 2 : position + 4])
        if marker == 0xF7 and position + 10 <= len(frame):
            return frame[position + 4], frame[position + 9]
        position += 2 + length
    return None


def jpeg2000_parameters(frame: bytes) -> tuple[int, bool, int] | None:
    """Precision, signedness and component count of a JPEG 2000 frame (its SIZ marker)."""
    position = frame.find(b"\xff\x4f\xff\x51")
    if position < 0 or position + 44 > len(frame):
        return None
    siz = position + 4
    (components,) = struct.unpack(">H", frame[siz + 36 : siz + 38])
    ssiz = frame[siz + 38]
    return (ssiz & 0x7F) + 1, bool(ssiz & 0x80), components


def _codestream_parameters(dataset: Dataset, syntax: str, bits_stored: int, error: _Report) -> None:
    jpeg_ls = syntax in (_JPEG_LS, _JPEG_LS_NEAR)
    seen: set[tuple[int, int, int]] = set()
    try:
        frames = list(_frames(dataset))
    except (ValueError, struct.error):
        return  # the decoder reports unreadable Pixel Data
    for number, frame in enumerate(frames, start=1):
        parsed = jpeg_ls_parameters(frame) if jpeg_ls else jpeg2000_parameters(frame)
        if parsed is None:
            error(f"frame {number}: no {'JPEG-LS SOF55' if jpeg_ls else 'JPEG 2000 SIZ'} marker found", "PixelData")
            return
        precision, signed, components = (parsed[0], False, parsed[1]) if len(parsed) == 2 else parsed  # type: ignore[misc]
        key = (precision, int(signed), components)
        if key in seen:
            continue
        seen.add(key)
        if precision != bits_stored:
            name = "JPEG-LS sample precision P" if jpeg_ls else "JPEG 2000 component precision"
            error(f"frame {number}: {name} is {precision} but Bits Stored is {bits_stored} (DCMTK refuses such frames)", "BitsStored")
            return
        if components != 1:
            error(f"frame {number}: {components} components in the codestream, Samples per Pixel is 1", "SamplesPerPixel")
            return
        if signed:
            error(f"frame {number}: JPEG 2000 samples are signed, Pixel Representation is 0", "PixelRepresentation")
            return


# -- label map header -------------------------------------------------------------------------------
def _segment_numbers(dataset: Dataset, bits_stored: int, error: _Report) -> None:
    if bits_stored not in (8, 16):
        return
    largest = (1 << bits_stored) - 1
    beyond = [int(item.SegmentNumber) for item in dataset.get("SegmentSequence", []) if int(item.get("SegmentNumber", 0)) > largest]
    if beyond:
        error(
            f"segment number(s) {beyond[:5]} cannot occur in a label map with Bits Stored {bits_stored} (largest value {largest})",
            "SegmentNumber",
        )


def _padding_value(dataset: Dataset, error: _Report) -> None:
    padding = dataset.get("PixelPaddingValue")
    if padding is None:
        return
    for item in dataset.get("SegmentSequence", []):
        if int(item.get("SegmentNumber", -1)) == int(padding) and not is_background_item(item):
            error(
                f"Pixel Padding Value {int(padding)} is the number of segment '{item.get('SegmentLabel', '')}', which is not coded as "
                "Background: readers would take that segment for the background",
                "PixelPaddingValue",
            )


def _palette(dataset: Dataset, bits_stored: int, error: _Report) -> None:
    numbers = [int(item.SegmentNumber) for item in dataset.get("SegmentSequence", [])]
    for color in ("Red", "Green", "Blue"):
        descriptor = dataset.get(f"{color}PaletteColorLookupTableDescriptor")
        data = dataset.get(f"{color}PaletteColorLookupTableData")
        attribute = f"{color}PaletteColorLookupTableDescriptor"
        if descriptor is None or data is None:
            error(f"PALETTE COLOR without the {color} Palette Color Lookup Table", attribute)
            return
        entries, first, bits = (int(v) for v in descriptor)
        entries = entries or 65536
        if bits not in (8, 16) or (bits == 16 and bits_stored == 8):
            error(
                f"{color} Palette Color Lookup Table entries are {bits}-bit in a {bits_stored}-bit label map "
                "(highdicom and dcmqi expect 8-bit entries; the standard allows 8 or 16)",
                attribute,
            )
            return
        values = np.frombuffer(data, dtype="<u2" if bits == 16 else np.uint8)
        if len(values) < entries:
            error(f"{color} Palette Color Lookup Table Data holds {len(values)} entries, the descriptor says {entries}", attribute)
            return
        if numbers and (min(numbers) < first or max(numbers) > first + entries - 1):
            error(f"the {color} Palette Color Lookup Table does not cover segment numbers {min(numbers)}..{max(numbers)}", attribute)
        if int(values[:entries].max(initial=0)) < 1 << (bits - 1):
            error(
                f"the largest {color} Palette Color Lookup Table entry is below half its {bits}-bit range (dciodvfy reports this)",
                f"{color}PaletteColorLookupTableData",
            )


def _spacing_between_slices(dataset: Dataset, error: _Report) -> None:
    shared = dataset.get("SharedFunctionalGroupsSequence")
    if not shared or "PerFrameFunctionalGroupsSequence" not in dataset:
        return
    measures = shared[0].get("PixelMeasuresSequence")
    orientation = shared[0].get("PlaneOrientationSequence")
    if not measures or "SpacingBetweenSlices" not in measures[0] or not orientation:
        return
    groups = FunctionalGroups(dataset)
    try:
        spacing = float(measures[0].SpacingBetweenSlices)
        cosines = np.array([float(v) for v in orientation[0].ImageOrientationPatient])
        found = groups.values(len(groups), "PlanePositionSequence", "ImagePositionPatient")
        if found is None:
            found = [
                [float(v) for v in item.ImagePositionPatient]
                for item in groups.items(len(groups), "PlanePositionSequence", "ImagePositionPatient")
            ]
        positions = np.asarray(found, dtype=np.float64)
    except (AttributeError, IndexError, TypeError, ValueError, KeyError, DicomLabelMapError):
        return
    if spacing <= 0 or len(positions) < 2:
        return
    problem = spacing_contradiction(positions @ np.cross(cosines[:3], cosines[3:]), spacing, referenced_instance_count(dataset))
    if problem:
        error(problem, "SpacingBetweenSlices")


def referenced_instance_count(dataset: Dataset) -> int | None:
    """How many source instances the Referenced Series Sequence lists, when it does."""
    items = [
        instance for series in dataset.get("ReferencedSeriesSequence", []) for instance in series.get("ReferencedInstanceSequence", [])
    ]
    return len(items) or None


def spacing_contradiction(distances: np.ndarray, spacing: float, source_count: int | None) -> str | None:
    """Why Spacing Between Slices cannot be the spacing of frames at ``distances`` (mm along the
    normal), or ``None``. Gaps that are multiples of it are frames left out (allowed), unless
    no gap is one spacing and the frames are as many as the source images (none left out)."""
    unique = np.unique(np.round(np.asarray(distances, dtype=np.float64), 4))
    gaps = np.diff(unique)
    if spacing <= 0 or gaps.size == 0:
        return None
    steps = gaps / spacing
    if np.any(np.abs(steps - np.round(steps)) > 0.01):
        return f"Spacing Between Slices is {spacing:g} mm but the frames lie {float(gaps.min()):g} mm apart, not on multiples of it"
    if np.all(np.round(steps) >= 2) and source_count is not None and source_count == len(unique):
        return (
            f"Spacing Between Slices is {spacing:g} mm but the frames, one per source image ({source_count}), lie "
            f"{float(gaps.min()):g} mm apart"
        )
    return None

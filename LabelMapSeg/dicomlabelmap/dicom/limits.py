"""Resource ceilings checked before anything large is allocated.

A DICOM file declares its own sizes (Rows, Columns, Number of Frames, lengths); a hostile or
broken one can declare terabytes, or deflate into gigabytes. Readers check the declared sizes
against the data actually present and against these ceilings first, and refuse with
:class:`ResourceLimitError` naming the attribute.

The ceilings are generous for real images and can be changed for one process with
:func:`set_limits` or the environment variable ``DICOMLABELMAP_MAX_BYTES`` (decoded bytes).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from pydicom.datadict import keyword_for_tag

from ..errors import InvalidDicomError, ResourceLimitError, malformed_input


@dataclass(frozen=True)
class Limits:
    #: Largest decoded size of one read (label layers, all frames of a SEG), in bytes.
    max_bytes: int = int(os.environ.get("DICOMLABELMAP_MAX_BYTES", 16 * 2**30))
    #: Largest frame: Rows x Columns (a 65536 x 65536 frame is 4 GiB at 8 bits).
    max_frame_pixels: int = 2**28
    #: Most frames one SEG may declare.
    max_frames: int = 200_000
    #: Most crossings of contour edges with pixel rows (or path samples) on one slice: about
    #: the contours' path length in pixels, thousands for real slices. Bounds the memory a
    #: contour that zig-zags across the image millions of times would take to fill.
    max_plane_crossings: int = 2**24


_limits = Limits()


def limits() -> Limits:
    return _limits


def set_limits(**changes: int) -> Limits:
    """Change ceilings for this process (e.g. ``set_limits(max_bytes=2**30)``); returns the old ones."""
    global _limits
    old = _limits
    _limits = replace(_limits, **changes)
    return old


def check_frames(rows: int, columns: int, frames: int, bits: int) -> None:
    """Refuse a frame layout beyond the ceilings (before decoding anything)."""
    ceiling = limits()
    if rows * columns > ceiling.max_frame_pixels:
        raise ResourceLimitError(
            f"frames of {rows} x {columns} pixels exceed the limit of {ceiling.max_frame_pixels} pixels per frame", attribute="Rows"
        )
    if frames > ceiling.max_frames:
        raise ResourceLimitError(f"Number of Frames {frames} exceeds the limit of {ceiling.max_frames}", attribute="NumberOfFrames")
    decoded = rows * columns * frames * max(bits, 8) // 8
    if decoded > ceiling.max_bytes:
        raise ResourceLimitError(
            f"{frames} frames of {rows} x {columns} would decode to {decoded / 2**30:.1f} GiB, "
            f"more than the limit of {ceiling.max_bytes / 2**30:.1f} GiB (set_limits / DICOMLABELMAP_MAX_BYTES)",
            attribute="NumberOfFrames",
        )


def check_plane_crossings(crossings: int, what: str) -> None:
    """Refuse filling or tracing contours whose path crosses pixel rows too many times."""
    if crossings > limits().max_plane_crossings:
        raise ResourceLimitError(
            f"{what} would take {crossings} pixel-row crossings, more than the limit of {limits().max_plane_crossings} per slice "
            "(set_limits(max_plane_crossings=...))",
            attribute="ContourData",
        )


def check_voxels(shape: tuple[int, ...], bytes_per_voxel: int = 2, what: str = "the label grid") -> None:
    """Refuse a grid whose arrays would exceed the byte ceiling."""
    count = 1
    for size in shape:
        count *= int(size)
    if count * bytes_per_voxel > limits().max_bytes:
        raise ResourceLimitError(
            f"{what} of {' x '.join(str(s) for s in shape)} voxels exceeds the limit of {limits().max_bytes / 2**30:.1f} GiB"
        )


_DEFLATED_SYNTAX = b"1.2.840.10008.1.2.1.99"
_CHUNK = 1 << 20


#: Inflated bytes kept to find the header's description of the pixel data.
_HEADER_PREFIX = 64 << 20
#: Ceiling for a deflated data set with no Pixel Data in its first 64 MB (structure sets, reports).
_NON_IMAGE_CEILING = 256 << 20
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"


def check_deflated_file(path: Path) -> None:
    """For a file in Deflated Explicit VR Little Endian, inflate it once in chunks (nothing
    kept but the header) and refuse it when it grows past what its own header implies: the
    elements before Pixel Data plus Rows x Columns x Number of Frames x Samples x Bits Allocated
    (with 1 MB to spare); without Pixel Data in its first 64 MB, past 256 MB; never past the
    byte ceiling. pydicom inflates the whole data set in one call, which a decompression bomb
    (a 2 MB file that inflates to 2 GiB) would otherwise turn into an out-of-memory crash."""
    try:
        with open(path, "rb") as file:
            check_deflated_stream(file, path)
    except OSError:
        return  # unreadable: the reader itself reports it


def check_deflated_stream(file: BinaryIO, path: Path) -> None:
    """:func:`check_deflated_file` on a file already open (read from its start; where it is left
    is unspecified)."""
    try:
        file.seek(0)
        head = file.read(4096)
        if _DEFLATED_SYNTAX not in head:
            return
        start = _data_set_start(head)
        if start is None:
            return
        file.seek(start)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        total = 0
        prefix = bytearray()
        ceiling = limits().max_bytes
        implied: int | None = None
        while chunk := file.read(_CHUNK):
            pending = chunk
            while True:
                data = inflater.decompress(pending, _CHUNK)
                progressed = bool(data) or len(inflater.unconsumed_tail) != len(pending)
                total += len(data)
                if implied is None and len(prefix) < _HEADER_PREFIX:
                    prefix += data[: _HEADER_PREFIX - len(prefix)]
                    implied = _implied_size(bytes(prefix))
                    if implied is None and len(prefix) >= _HEADER_PREFIX:
                        implied = _NON_IMAGE_CEILING
                    if implied is not None:
                        ceiling = min(ceiling, implied)
                        prefix = bytearray()
                if total > ceiling:
                    raise ResourceLimitError(
                        f"the deflated data set inflates to more than {_size(ceiling)}, more than its header describes "
                        "(a decompression bomb?)",
                        path,
                        "TransferSyntaxUID",
                    )
                if not inflater.unconsumed_tail or not progressed:
                    break
                pending = inflater.unconsumed_tail
            if inflater.eof:
                return
            if not progressed:
                return  # zlib makes no progress (a corrupt stream): the reader reports it
    except (OSError, zlib.error):
        return  # unreadable or corrupt: the reader itself reports it


def _implied_size(prefix: bytes) -> int | None:
    """The data set size its header implies, once the Pixel Data element is in ``prefix``."""
    position = prefix.find(_PIXEL_DATA_TAG)
    while position >= 0 and prefix[position + 4 : position + 6] not in (b"OB", b"OW"):
        position = prefix.find(_PIXEL_DATA_TAG, position + 1)
    if position < 0:
        return None
    try:
        import io

        from pydicom.filereader import read_dataset

        header = read_dataset(io.BytesIO(prefix[:position]), is_implicit_VR=False, is_little_endian=True)
        rows, columns = int(header.get("Rows", 0)), int(header.get("Columns", 0))
        frames = int(header.get("NumberOfFrames", 1) or 1)
        samples = int(header.get("SamplesPerPixel", 1) or 1)
        bits = int(header.get("BitsAllocated", 8) or 8)
    except Exception:  # noqa: BLE001 - a header that cannot be read is the reader's to report
        return _NON_IMAGE_CEILING
    pixels = (rows * columns * frames * samples * bits + 7) // 8
    return position + 12 + pixels + (pixels >> 6) + (1 << 20)  # 1/64 for encapsulation, 1 MB to spare


def _size(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MB"


def _data_set_start(head: bytes) -> int | None:
    """Byte offset after the File Meta Information (group 0002), from its group length."""
    if head[128:132] != b"DICM" or head[132:136] != b"\x02\x00\x00\x00" or head[136:138] != b"UL":
        return None
    group_length = int.from_bytes(head[140:144], "little")
    return 144 + group_length


def check_not_truncated(dataset: Any, path: Path) -> None:
    """pydicom reads a file cut short without complaint, giving the last element fewer bytes
    than its header declares; refuse such a file rather than use what is left of it."""
    with malformed_input(path, "the file"):
        _check_lengths(dataset, path)


def _check_lengths(dataset: Any, path: Path) -> None:
    for element in dataset.elements():
        value = getattr(element, "value", None)
        length = getattr(element, "length", None)
        if isinstance(value, bytes) and isinstance(length, int) and length != 0xFFFFFFFF and len(value) < length:
            keyword = keyword_for_tag(element.tag) or str(element.tag)
            raise InvalidDicomError(f"the file is truncated: {keyword} declares {length} bytes, {len(value)} are present", path, keyword)

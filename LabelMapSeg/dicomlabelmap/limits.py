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
from typing import Any

from pydicom.datadict import keyword_for_tag

from .errors import InvalidDicomError, ResourceLimitError, malformed_input


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


def check_deflated_file(path: Path) -> None:
    """For a file in Deflated Explicit VR Little Endian, inflate it once without keeping the
    output and refuse it when it would grow past the byte ceiling (pydicom inflates the whole
    data set in one call, which a decompression bomb turns into an out-of-memory crash)."""
    try:
        with open(path, "rb") as file:
            head = file.read(4096)
            if _DEFLATED_SYNTAX not in head:
                return
            start = _data_set_start(head)
            if start is None:
                return
            file.seek(start)
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            total = 0
            ceiling = limits().max_bytes
            while chunk := file.read(_CHUNK):
                data = inflater.decompress(chunk, _CHUNK)
                total += len(data)
                while inflater.unconsumed_tail and total <= ceiling:
                    tail = inflater.unconsumed_tail
                    data = inflater.decompress(tail, _CHUNK)
                    total += len(data)
                    if not data and len(inflater.unconsumed_tail) == len(tail):
                        return  # zlib makes no progress (a corrupt stream): the reader reports it
                if total > ceiling:
                    raise ResourceLimitError(
                        f"the deflated data set inflates to more than {ceiling / 2**30:.1f} GiB (a decompression bomb?)",
                        path,
                        "TransferSyntaxUID",
                    )
                if inflater.eof:
                    return
    except (OSError, zlib.error):
        return  # unreadable or corrupt: the reader itself reports it


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

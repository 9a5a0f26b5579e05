"""RLE Lossless (PS3.5 Annex G), bundled and vectorised with numpy.

A frame of ``B``-byte samples becomes ``B`` byte segments, most significant byte first, each
PackBits-encoded row by row (runs never cross a row boundary, G.3.1) and padded to an even
length, behind a 64-byte header of little-endian uint32: the segment count, then up to 15
segment offsets from the start of the frame.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ...errors import InvalidDicomError

NAME = "numpy (bundled)"
PACKAGE = None
IMPORT = None
_HEADER = 64
_MAX_RUN = 128


def encode(frame: npt.NDArray[np.integer]) -> bytes:
    """Encode one ``(rows, columns)`` frame of uint8 or uint16 (or 1-bit packed bytes as a
    ``(1, n)`` uint8 array)."""
    rows = frame.shape[0]
    samples = np.ascontiguousarray(frame)
    planes = (
        [samples.astype(np.uint8)]
        if samples.dtype.itemsize == 1
        else [(samples >> np.uint16(8 * shift)).astype(np.uint8) for shift in range(samples.dtype.itemsize - 1, -1, -1)]
    )
    segments = [_encode_segment(plane.reshape(rows, -1)) for plane in planes]
    offsets = np.zeros(16, dtype="<u4")
    offsets[0] = len(segments)
    position = _HEADER
    for index, segment in enumerate(segments):
        offsets[index + 1] = position
        position += len(segment)
    return offsets.tobytes() + b"".join(segments)


def decode(data: bytes, rows: int, columns: int, bits_allocated: int) -> npt.NDArray[np.integer]:
    """Decode one frame to a ``(rows, columns)`` array (uint8 or uint16); 1-bit frames come
    back as their packed bytes, shape ``(1, ceil(rows * columns / 8))``."""
    if bits_allocated == 1:
        lengths, byte_count = [(rows * columns + 7) // 8], 1
    elif bits_allocated in (8, 16):
        byte_count = bits_allocated // 8
        lengths = [rows * columns] * byte_count
    else:
        raise InvalidDicomError(f"RLE frames with Bits Allocated {bits_allocated} are not supported", attribute="BitsAllocated")
    if len(data) < _HEADER:
        raise InvalidDicomError(f"RLE frame of {len(data)} bytes is shorter than its 64-byte header", attribute="PixelData")
    header = np.frombuffer(data[:_HEADER], dtype="<u4")
    count = int(header[0])
    if count != byte_count:
        raise InvalidDicomError(
            f"RLE frame has {count} segments, {byte_count} expected for Bits Allocated {bits_allocated}", attribute="PixelData"
        )
    offsets = [int(o) for o in header[1 : count + 1]] + [len(data)]
    if any(not _HEADER <= a <= b <= len(data) for a, b in zip(offsets[:-1], offsets[1:], strict=True)):
        raise InvalidDicomError(f"RLE segment offsets {offsets[:-1]} do not fit a frame of {len(data)} bytes", attribute="PixelData")
    buffer = np.frombuffer(data, dtype=np.uint8)
    planes = [_decode_segment(buffer[offsets[i] : offsets[i + 1]], lengths[i]) for i in range(count)]
    if bits_allocated == 1:
        return planes[0].reshape(1, -1)
    if bits_allocated == 8:
        return planes[0].reshape(rows, columns)
    return ((planes[0].astype(np.uint16) << 8) | planes[1]).reshape(rows, columns)


def _encode_segment(plane: npt.NDArray[np.uint8]) -> bytes:
    """PackBits, row by row: replicate runs of 3+ equal bytes, literal runs in between."""
    rows, width = plane.shape
    flat = plane.ravel()
    size = flat.size
    if size == 0:
        return b""
    change = np.ones(size, dtype=bool)
    change[1:] = flat[1:] != flat[:-1]
    change[::width] = True
    run_start = np.flatnonzero(change)
    run_length = np.diff(np.append(run_start, size))
    replicate = run_length >= 3
    # Literal blocks: maximal groups of short runs within a row.
    row_start = (run_start % width) == 0
    literal = ~replicate
    block_begins = literal & (row_start | np.concatenate([[True], replicate[:-1]]))
    block_id = np.cumsum(block_begins) - 1
    literal_index = np.flatnonzero(literal)
    if literal_index.size:
        ids = block_id[literal_index]
        first = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
        block_start = run_start[literal_index[first]]
        last = np.append(first[1:], literal_index.size) - 1
        block_end = run_start[literal_index[last]] + run_length[literal_index[last]]
    else:
        block_start = block_end = np.zeros(0, dtype=np.int64)
    # Cut replicate runs and literal blocks into pieces of at most 128 bytes.
    starts = np.concatenate([run_start[replicate], block_start])
    lengths = np.concatenate([run_length[replicate], block_end - block_start])
    kinds = np.concatenate([np.ones(int(replicate.sum()), dtype=bool), np.zeros(len(block_start), dtype=bool)])
    pieces = (lengths + _MAX_RUN - 1) // _MAX_RUN
    piece_owner = np.repeat(np.arange(len(starts)), pieces)
    piece_number = np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    piece_start = starts[piece_owner] + piece_number * _MAX_RUN
    piece_length = np.minimum(lengths[piece_owner] - piece_number * _MAX_RUN, _MAX_RUN)
    piece_replicate = kinds[piece_owner] & (piece_length >= 2)
    order = np.argsort(piece_start, kind="stable")
    piece_start, piece_length, piece_replicate = piece_start[order], piece_length[order], piece_replicate[order]
    out_size = np.where(piece_replicate, 2, 1 + piece_length)
    out_start = np.cumsum(out_size) - out_size
    total = int(out_size.sum())
    out = np.zeros(total + (total & 1), dtype=np.uint8)
    out[out_start] = np.where(piece_replicate, 257 - piece_length, piece_length - 1).astype(np.uint8)
    out[out_start[piece_replicate] + 1] = flat[piece_start[piece_replicate]]
    literal_pieces = ~piece_replicate
    counts = piece_length[literal_pieces]
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    out[np.repeat(out_start[literal_pieces] + 1, counts) + offsets] = flat[np.repeat(piece_start[literal_pieces], counts) + offsets]
    return out.tobytes()


def _decode_segment(segment: npt.NDArray[np.uint8], expected: int) -> npt.NDArray[np.uint8]:
    """PackBits decoding without a per-byte loop: every byte position is treated as a
    possible header, the header chain from position 0 is followed by pointer doubling, then
    runs are expanded with ``np.repeat``."""
    size = segment.size
    if size == 0:
        raise InvalidDicomError(f"RLE segment is empty, {expected} bytes expected", attribute="PixelData")
    value = segment.astype(np.int64)
    step = np.where(value < 128, value + 2, np.where(value > 128, 2, 1))
    successor = np.minimum(np.arange(size) + step, size)  # ``size`` is the end sentinel
    chain = _follow_chain(successor)
    headers = value[chain]
    literal = headers < 128
    output = np.where(literal, headers + 1, np.where(headers > 128, 257 - headers, 0))
    # A header whose run reaches past the segment's end is cut short (even-length padding).
    available = np.where(literal, size - chain - 1, np.minimum(size - chain - 1, 1) * output)
    output = np.minimum(output, np.maximum(available, 0))
    produced = np.cumsum(output)
    keep = int(np.searchsorted(produced, expected, side="left")) + 1
    if produced.size == 0 or produced[-1] < expected:
        found = 0 if produced.size == 0 else int(produced[-1])
        raise InvalidDicomError(f"RLE segment decodes to {found} bytes, {expected} expected", attribute="PixelData")
    chain, literal, output = chain[:keep], literal[:keep], output[:keep]
    values = np.repeat(np.where(literal, 0, segment[np.minimum(chain + 1, size - 1)]), output)
    literal_output = np.repeat(literal, output)
    run_offset = np.arange(int(output.sum())) - np.repeat(np.cumsum(output) - output, output)
    source = np.repeat(chain + 1, output) + run_offset
    values[literal_output] = segment[source[literal_output]]
    return values[:expected].astype(np.uint8)


def _follow_chain(successor: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Positions visited from 0 by repeatedly applying ``successor`` until the end sentinel."""
    size = successor.size
    jumps = [np.append(successor, size)]  # the sentinel maps to itself
    while True:
        previous = jumps[-1]
        doubled = previous[previous]
        if np.array_equal(doubled, previous):
            break
        jumps.append(doubled)
        if len(jumps) > 64:
            break
    # Length of the chain from 0: binary lifting over the jump tables.
    length, position = 0, 0
    for level in range(len(jumps) - 1, -1, -1):
        candidate = jumps[level][position]
        if candidate < size:
            position = int(candidate)
            length += 1 << level
    count = length + 1
    index = np.arange(count)
    visited = np.zeros(count, dtype=np.int64)
    for level in range(len(jumps)):
        bit = ((index >> level) & 1).astype(bool)
        visited[bit] = jumps[level][visited[bit]]
    return visited

"""NRRD files (``.nrrd``, Slicer's ``.seg.nrrd``) with Unicode header values.

Slicer writes header values (segment names, tags) as UTF-8 bytes and reads them back the same
way; pynrrd writes its header as ASCII (a non-ASCII name fails) and drops non-ASCII bytes on
reading. This module writes and reads attached NRRD files (raw or gzip data) with a UTF-8
header, as Slicer does. Files it does not handle (detached data, text encodings, skips) are
read through pynrrd by the caller.

Arrays here are in the core's ``(k, j, i)`` order (C order); NRRD lists axes fastest first,
so ``sizes`` is ``i j k`` and the bytes are the same. Several layers are a leading ``list``
axis in the file: ``sizes: L i j k``.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from ..errors import DicomLabelMapError

#: gzip level for label files: fast, as Slicer and dcmqi write (label maps compress well at any level).
DEFAULT_COMPRESSION_LEVEL = 1

_TYPES = {
    "uint8": np.uint8,
    "uchar": np.uint8,
    "unsigned char": np.uint8,
    "uint8_t": np.uint8,
    "int8": np.int8,
    "signed char": np.int8,
    "int8_t": np.int8,
    "uint16": np.uint16,
    "ushort": np.uint16,
    "unsigned short": np.uint16,
    "unsigned short int": np.uint16,
    "uint16_t": np.uint16,
    "int16": np.int16,
    "short": np.int16,
    "short int": np.int16,
    "signed short": np.int16,
    "signed short int": np.int16,
    "int16_t": np.int16,
    "uint32": np.uint32,
    "uint": np.uint32,
    "unsigned int": np.uint32,
    "uint32_t": np.uint32,
    "int32": np.int32,
    "int": np.int32,
    "signed int": np.int32,
    "int32_t": np.int32,
    "uint64": np.uint64,
    "int64": np.int64,
    "float": np.float32,
    "double": np.float64,
}
_WRITTEN_TYPES = {
    np.dtype(np.uint8): "uint8",
    np.dtype(np.uint16): "uint16",
    np.dtype(np.int16): "int16",
    np.dtype(np.int32): "int32",
    np.dtype(np.float32): "float",  # images (files.imagefiles)
}


class NrrdFormatError(DicomLabelMapError):
    """Not a NRRD file, or a damaged one (the message says what, without the file name)."""


class UnsupportedNrrd(Exception):
    """A valid NRRD this module leaves to pynrrd (detached data, text encoding, skips)."""


@dataclass
class NrrdImage:
    """An NRRD file's voxels and header."""

    #: ``(k, j, i)`` array, or ``(k, j, i, L)`` with a list axis first in the file.
    voxels: npt.NDArray[np.generic]
    #: 4x4 IJK -> LPS matrix.
    ijk_to_lps: npt.NDArray[np.float64]
    #: Key/value pairs (``key:=value`` lines), decoded from UTF-8.
    values: dict[str, str] = field(default_factory=dict)


def write_nrrd(
    target: str | Path | BinaryIO,
    layers: Sequence[npt.NDArray[np.generic]],
    ijk_to_lps: npt.NDArray[np.float64],
    values: dict[str, str] | None = None,
    compression_level: int = DEFAULT_COMPRESSION_LEVEL,
    list_axis: bool = False,
) -> tuple[int, int]:
    """Write ``(k, j, i)`` arrays of one dtype as one NRRD (gzip; level 0 writes raw data).

    Several layers (or ``list_axis=True``) add a leading ``list`` axis, as Slicer's
    ``.seg.nrrd`` does for overlapping segments. Returns the CRC-32 and length of the data
    written (before compression), for :func:`payload_digest` to check.
    """
    dtype = np.dtype(layers[0].dtype)
    if dtype not in _WRITTEN_TYPES:
        raise DicomLabelMapError(f"NRRD output of {dtype} voxels is not supported")
    shape_kji = layers[0].shape
    directions = np.asarray(ijk_to_lps, dtype=np.float64)[:3, :3].T
    vectors = " ".join("(" + ",".join(_number(v) for v in row) + ")" for row in directions)
    origin = "(" + ",".join(_number(v) for v in np.asarray(ijk_to_lps, dtype=np.float64)[:3, 3]) + ")"
    sizes = [shape_kji[2], shape_kji[1], shape_kji[0]]
    several = list_axis or len(layers) > 1
    lines = [
        "NRRD0004",
        "# Complete NRRD file format specification at:",
        "# http://teem.sourceforge.net/nrrd/format.html",
        f"type: {_WRITTEN_TYPES[dtype]}",
        f"dimension: {4 if several else 3}",
        "space: left-posterior-superior",
        "sizes: " + " ".join(str(n) for n in ([len(layers)] if several else []) + sizes),
        "space directions: " + ("none " if several else "") + vectors,
        "kinds: " + ("list " if several else "") + "domain domain domain",
        "endian: little",
        f"encoding: {'gzip' if compression_level > 0 else 'raw'}",
        f"space origin: {origin}",
    ]
    for key, value in (values or {}).items():
        lines.append(f"{_escape(key)}:={_escape(value)}")
    header = ("\n".join(lines) + "\n\n").encode("utf-8")
    data = np.stack(layers, axis=-1) if several else layers[0]
    payload = np.ascontiguousarray(data, dtype=dtype.newbyteorder("<"))
    if isinstance(target, (str, Path)):
        with open(target, "wb") as handle:
            return _write_payload(handle, header, payload, compression_level)
    return _write_payload(target, header, payload, compression_level)


def _write_payload(handle: BinaryIO, header: bytes, payload: np.ndarray, level: int) -> tuple[int, int]:
    handle.write(header)
    raw = memoryview(payload.reshape(-1).view(np.uint8))  # type: ignore[arg-type]
    crc = zlib.crc32(raw)
    if level <= 0:
        handle.write(raw)
        return crc, len(raw)
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    chunk = 1 << 24
    for start in range(0, len(raw), chunk):
        handle.write(compressor.compress(raw[start : start + chunk]))
    handle.write(compressor.flush())
    return crc, len(raw)


def read_nrrd(path: str | Path) -> NrrdImage:
    """Read an attached NRRD (raw or gzip) with a UTF-8 header.

    Raises
    ------
    UnsupportedNrrd
        For NRRD variants left to pynrrd.
    NrrdFormatError
        When the file is not NRRD or is damaged.
    """
    source = Path(path)
    with open(source, "rb") as handle:
        fields, values = _read_header(handle)
        payload = handle.read()
    return _image(source, fields, values, payload)


@dataclass
class NrrdHeader:
    """An NRRD file's header, and what its data must decode to (see :func:`payload_digest`)."""

    ijk_to_lps: npt.NDArray[np.float64]
    #: Sizes fastest axis first, as in the file.
    sizes: list[int]
    type: str
    values: dict[str, str]


def read_header(path: str | Path) -> NrrdHeader:
    """The header alone (no data read)."""
    source = Path(path)
    with open(source, "rb") as handle:
        fields, values = _read_header(handle)
    try:
        sizes = [int(v) for v in fields["sizes"].split()]
        kind = fields["type"].lower()
    except (KeyError, ValueError) as error:
        raise NrrdFormatError(f"NRRD header lacks a valid type or sizes ({error})") from error
    return NrrdHeader(_ijk_to_lps(source, fields), sizes, kind, values)


def payload_digest(path: str | Path) -> tuple[int, int]:
    """CRC-32 and length of the decoded data of an attached NRRD (raw or gzip), decoded in
    chunks: verifies a written file without holding its voxels twice."""
    with open(Path(path), "rb") as handle:
        fields, _ = _read_header(handle)
        gzipped = fields.get("encoding", "") in ("gzip", "gz")
        decompressor = zlib.decompressobj(31) if gzipped else None
        crc, length = 0, 0
        try:
            while chunk := handle.read(1 << 22):
                data = decompressor.decompress(chunk) if decompressor is not None else chunk
                crc, length = zlib.crc32(data, crc), length + len(data)
            if decompressor is not None:
                tail = decompressor.flush()
                crc, length = zlib.crc32(tail, crc), length + len(tail)
                if not decompressor.eof:
                    raise NrrdFormatError("the NRRD's gzip data ends early")
        except zlib.error as error:
            raise NrrdFormatError(f"the NRRD's gzip data is damaged ({error})") from error
    return crc, length


def _read_header(handle: BinaryIO) -> tuple[dict[str, str], dict[str, str]]:
    magic = handle.readline()
    if not magic.startswith(b"NRRD000"):
        raise NrrdFormatError("not a NRRD file")
    fields: dict[str, str] = {}
    values: dict[str, str] = {}
    while True:
        line = handle.readline()
        if not line or line in (b"\n", b"\r\n"):
            break
        text = _decode(line.rstrip(b"\r\n"))
        if text.startswith("#"):
            continue
        if ":=" in text:
            key, _, value = text.partition(":=")
            values[_unescape(key)] = _unescape(value)
        elif ": " in text:
            key, _, value = text.partition(": ")
            fields[key.strip().lower()] = value.strip()
        else:
            raise NrrdFormatError(f"not a valid NRRD header line: {text[:80]!r}")
    return fields, values


def _image(source: Path, fields: dict[str, str], values: dict[str, str], payload: bytes) -> NrrdImage:
    if any(key in fields for key in ("data file", "datafile", "line skip", "lineskip", "byte skip", "byteskip")):
        raise UnsupportedNrrd("detached data or skips")
    encoding = fields.get("encoding", "")
    if encoding not in ("raw", "gzip", "gz"):
        raise UnsupportedNrrd(f"encoding {encoding}")
    try:
        dtype = np.dtype(_TYPES[fields["type"].lower()])
        sizes = [int(v) for v in fields["sizes"].split()]
        dimension = int(fields.get("dimension", len(sizes)))
    except (KeyError, ValueError) as error:
        raise NrrdFormatError(f"NRRD header lacks a valid type or sizes ({error})") from error
    if dimension != len(sizes) or dimension not in (3, 4):
        raise NrrdFormatError(f"a label map NRRD must have 3 dimensions (4 with a list of layers), this one has {dimension}")
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">" if fields.get("endian", "little") == "big" else "<")
    count = int(np.prod(sizes))
    if encoding != "raw":
        try:
            payload = gzip.decompress(payload)
        except (OSError, EOFError, zlib.error) as error:
            raise NrrdFormatError(f"the NRRD's gzip data is damaged ({error})") from error
    if len(payload) < count * dtype.itemsize:
        raise NrrdFormatError(f"the NRRD holds {len(payload)} bytes of data, {count * dtype.itemsize} expected")
    flat = np.frombuffer(payload, dtype=dtype, count=count)
    voxels = flat.reshape(sizes[::-1]).astype(dtype.newbyteorder("="), copy=False)
    kinds = fields.get("kinds", "").split()
    spatial = [
        index
        for index in range(dimension)
        if not kinds or kinds[index] not in ("list", "vector", "point", "covariant-vector", "none", "???")
    ]
    if len(spatial) != 3:
        raise NrrdFormatError(f"a label map NRRD needs 3 spatial axes (kinds: {fields.get('kinds', '')})")
    if dimension == 4:
        if spatial != [1, 2, 3]:
            raise UnsupportedNrrd("the list axis is not the first")
        # File order (L, i, j, k) fastest first -> C array (k, j, i, L).
    return NrrdImage(voxels, _ijk_to_lps(source, fields), values)


def _ijk_to_lps(source: Path, fields: dict[str, str]) -> npt.NDArray[np.float64]:
    vectors = re.findall(r"\(([^)]*)\)", fields.get("space directions", ""))
    if len(vectors) != 3:
        raise UnsupportedNrrd("space directions")
    matrix = np.eye(4)
    try:
        matrix[:3, :3] = np.array([[float(v) for v in vector.split(",")] for vector in vectors]).T
        origin = re.findall(r"\(([^)]*)\)", fields.get("space origin", "(0,0,0)"))
        matrix[:3, 3] = [float(v) for v in origin[0].split(",")]
    except (ValueError, IndexError) as error:
        raise NrrdFormatError(f"NRRD space directions or origin are not numbers ({error})") from error
    space = fields.get("space", "left-posterior-superior").lower()
    if space in ("right-anterior-superior", "ras"):
        matrix = np.diag([-1.0, -1.0, 1.0, 1.0]) @ matrix
    elif space not in ("left-posterior-superior", "lps"):
        raise NrrdFormatError(f"NRRD space '{space}' is not supported (use LPS or RAS)")
    return matrix


def _number(value: float) -> str:
    return repr(float(value))


def _escape(text: str) -> str:
    # NRRD key/value escapes (as teem writes them): backslash and newline.
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")  # older writers used the platform's 8-bit code page

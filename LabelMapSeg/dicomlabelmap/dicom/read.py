"""The one way the core opens a DICOM file: headers for planning and series scanning
(:func:`read_header`), whole data sets for the readers (:func:`read_dataset`), so that every
command gives the same verdict on the same file.

Whatever is wrong with the file becomes an :class:`~dicomlabelmap.errors.InvalidDicomError`
naming it, with the reason in the user's terms:

* a folder or a missing path;
* not DICOM at all (text, JSON, an image, an empty file, random bytes):
  :class:`~dicomlabelmap.errors.NotDicomError`, "not a DICOM file";
* cut short: :class:`~dicomlabelmap.errors.TruncatedFileError`, "truncated at byte N of its pixel
  data" or "... inside <the element>" (:mod:`.structure`), never pydicom's "End of file reached"
  warnings or "No tag to read at file position";
* a deflated data set that would inflate past what its header describes
  (:class:`~dicomlabelmap.errors.ResourceLimitError`).

A data set written without the 128-byte preamble and File Meta Information (old systems,
pydicom's own test files) is read when it starts with a DICOM element of group 0002 or 0008.
"""

from __future__ import annotations

import io
import logging
import mmap
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.dataset import Dataset

from ..errors import InvalidDicomError, NotDicomError, TruncatedFileError
from .limits import check_deflated_stream, check_not_truncated
from .rawheader import read_plain_header
from .structure import Layout, Truncation, layout, pixel_data_truncation, walk

#: Bytes read first to recognise the file (preamble, File Meta Information; a longer one is read whole).
_HEAD = 1 << 12
#: The Pixel Data tag as it starts an element, little and big endian.
_PIXEL_DATA_TAGS = (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")


def read_header(path: Path, what: str = "the DICOM file") -> Dataset:
    """The data set of ``path`` up to its Pixel Data, which is checked to be complete (the file
    holds as many bytes as Pixel Data declares, or every encapsulated frame).

    Raises
    ------
    TruncatedFileError
        The file is cut short; ``error.header`` holds the elements before the cut (for a reference
        image whose pixel data is cut, its whole header: where the slice lies).
    NotDicomError, InvalidDicomError, ResourceLimitError
        See the module description.
    """
    return _read(Path(path), what, pixels=False)


def read_dataset(path: Path, what: str = "the DICOM file") -> Dataset:
    """The whole data set of ``path`` (pixel data included), checked for truncation.

    ``what`` names the expected file in messages ("is a folder; give the RT Structure Set file").
    """
    return _read(Path(path), what, pixels=True)


def looks_like_dicom(path: Path) -> bool:
    """Whether the file starts like DICOM (cheap: its first bytes only)."""
    try:
        with open(path, "rb") as file:
            return layout(file.read(_HEAD)) is not None
    except OSError:
        return False


def _read(path: Path, what: str, pixels: bool) -> Dataset:
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed below; one open per file (a series is hundreds)
    except IsADirectoryError:
        raise InvalidDicomError(f"is a folder; give {what}", path) from None
    except FileNotFoundError:
        raise InvalidDicomError("no such file", path) from None
    except OSError as error:
        raise InvalidDicomError(f"cannot be opened ({error.strerror or error})", path) from error
    with file:
        check_deflated_stream(file, path)
        try:
            return _read_open(file, path, pixels)
        except OSError as error:
            raise InvalidDicomError(f"cannot be read ({error.strerror or error})", path) from error


def _read_open(file: BinaryIO, path: Path, pixels: bool) -> Dataset:
    file.seek(0)
    head = file.read(_HEAD)
    size = os.fstat(file.fileno()).st_size
    if not head:
        raise NotDicomError("not a DICOM file (it is empty)", path)
    file_layout = layout(head) if size <= _HEAD else _layout_of_file(file, head)
    if file_layout is None:
        raise NotDicomError("not a DICOM file (no DICM marker at byte 128, and it does not start with a DICOM element)", path)
    if not pixels and not file_layout.deflated:
        # Plain files: the elements split without pydicom's reader (rawheader; the same data set),
        # then the same check that the pixel data fits in the file.
        plain = read_plain_header(file, path)
        if plain is not None:
            _check_pixel_extent(file, plain[0], plain[1], file_layout, path)
            return plain[0]
    file.seek(0)
    failure: BaseException | None = None
    dataset: Dataset | None = None
    with warnings.catch_warnings(record=True) as caught, _quiet_pydicom_log():
        warnings.simplefilter("always")
        try:
            dataset = pydicom.dcmread(file, stop_before_pixels=not pixels, force=file_layout.raw)
        except Exception as error:  # noqa: BLE001 - pydicom raises many types on broken files
            failure = error
        stopped_at = file.tell()
    structural = [w for w in caught if _structural(str(w.message))]
    # A whole file is always walked (milliseconds; pydicom ignores an element header cut at the
    # end); a header-only read when pydicom stumbled, or when it read to the end of the file (no
    # Pixel Data) and its last value is shorter than declared.
    ended = dataset is not None and not pixels and not _pixel_data_at(file, stopped_at)
    suspicious = failure is not None or structural or (ended and _last_value_short(dataset))  # type: ignore[arg-type]
    if suspicious or (pixels and not file_layout.deflated):
        truncation, unterminated = _walk(file, file_layout)
        if truncation is not None:
            raise _truncated(truncation, path, file, file_layout)
        if unterminated is not None and pixels:
            return _read_unterminated(file, path, file_layout, unterminated)
    if failure is not None:
        raise InvalidDicomError(f"cannot be read as DICOM ({type(failure).__name__}: {failure})", path) from failure
    for warning in caught:
        if warning not in structural:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    assert dataset is not None
    if pixels and file_layout.deflated:
        check_not_truncated(dataset, path)  # the walk above covers the other encodings
    elif not pixels and not file_layout.deflated:
        _check_pixel_extent(file, dataset, stopped_at, file_layout, path)
    return dataset


def _layout_of_file(file: BinaryIO, head: bytes) -> Layout | None:
    found = layout(head)
    if found is not None and found.start >= len(head) - 8:  # File Meta Information longer than the head
        file.seek(0)
        found = layout(file.read())
    return found


class _StructuralRecords(logging.Filter):
    """Drops pydicom's log records about the file's end: the error or the finding says it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _structural(record.getMessage())


@contextmanager
def _quiet_pydicom_log() -> Iterator[None]:
    pydicom_logger = logging.getLogger("pydicom")
    quiet = _StructuralRecords()
    pydicom_logger.addFilter(quiet)
    try:
        yield
    finally:
        pydicom_logger.removeFilter(quiet)


class _ValueRecords(logging.Filter):
    """Drops pydicom's log records below ERROR (its warnings about values, which name no attribute)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Inside: pydicom's warnings about values are neither shown nor logged, for code that checks
    the values itself and reports each problem naming the attribute."""
    pydicom_logger = logging.getLogger("pydicom")
    quiet = _ValueRecords()
    pydicom_logger.addFilter(quiet)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        pydicom_logger.removeFilter(quiet)


def _structural(message: str) -> bool:
    """pydicom's warnings about the file's structure (its end), not about a value."""
    lowered = message.lower()
    return "end of file" in lowered or "delimiter" in lowered or "no tag" in lowered or "unexpected" in lowered


def _pixel_data_at(file: BinaryIO, position: int) -> bool:
    file.seek(position)
    return file.read(4) in _PIXEL_DATA_TAGS


def _last_value_short(dataset: Dataset) -> bool:
    """Whether the last element read holds fewer bytes than it declares (pydicom reads a file cut
    inside a value without a word); only the last one can be, and it is checked undecoded."""
    tags = list(dataset.keys())
    if not tags:
        return False
    element = dataset.get_item(max(tags))
    value, length = getattr(element, "value", None), getattr(element, "length", None)
    return isinstance(value, bytes) and isinstance(length, int) and length != 0xFFFFFFFF and len(value) < length


def _walk(file: BinaryIO, file_layout: Layout) -> tuple[Truncation | None, int | None]:
    with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return walk(data, file_layout)  # type: ignore[arg-type]


def _read_unterminated(file: BinaryIO, path: Path, file_layout: Layout, end: int) -> Dataset:
    """Every frame is there but the closing Sequence Delimitation Item is not, or only part of it
    (a copy cut in its last 8 bytes): pydicom would return an empty data set, so the item is put
    back at ``end``."""
    file.seek(0)
    data = io.BytesIO(file.read(end) + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    with warnings.catch_warnings(), _quiet_pydicom_log():
        warnings.simplefilter("ignore")
        dataset = pydicom.dcmread(data, force=file_layout.raw)
    dataset.filename = str(path)
    return dataset


def _truncated(truncation: Truncation, path: Path, file: BinaryIO, file_layout: Layout) -> TruncatedFileError:
    """The error, with the elements before the cut when pydicom can read them."""
    header = None
    if truncation.tag is not None and not truncation.in_deflated:
        stop = truncation.tag

        def before_cut(tag: Any, vr: Any, length: Any) -> bool:
            return int(tag) >= stop

        try:
            file.seek(0)
            with warnings.catch_warnings(), _quiet_pydicom_log():
                warnings.simplefilter("ignore")
                header = pydicom.filereader.read_partial(file, stop_when=before_cut, force=file_layout.raw)
        except Exception:  # noqa: BLE001 - what is left may not even be readable
            header = None
    return TruncatedFileError(truncation.reason(), path, truncation.keyword, header, truncation.in_pixel_data)


def _check_pixel_extent(file: BinaryIO, dataset: Dataset, position: int, file_layout: Layout, path: Path) -> None:
    """After a header-only read stopped at ``position``: the Pixel Data there must fit in the file."""
    file.seek(position)
    header = file.read(12)
    if header[:4] not in _PIXEL_DATA_TAGS:
        return
    if file_layout.little and not file_layout.implicit and header[4:6] in (b"OB", b"OW") and header[8:12] != b"\xff\xff\xff\xff":
        declared = int.from_bytes(header[8:12], "little")  # native pixel data: its end is known without a walk
        size = os.fstat(file.fileno()).st_size
        if position + 12 + declared <= size:
            return
    try:
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError):
        frames = 1
    with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        truncation = pixel_data_truncation(data, position, file_layout, frames)  # type: ignore[arg-type]
    if truncation is not None:
        raise TruncatedFileError(truncation.reason(), path, truncation.keyword, dataset, truncation.in_pixel_data)

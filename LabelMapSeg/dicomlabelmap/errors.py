"""The one exception hierarchy of the core.

Every error raised on purpose by :mod:`dicomlabelmap` derives from
:class:`DicomLabelMapError`, so callers (the command line, the Slicer plugins)
can catch one type and show its message, which always names what is wrong:
the file, the DICOM attribute, the ROI.
"""

from __future__ import annotations

import importlib
import importlib.util
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class DicomLabelMapError(Exception):
    """Base class of every error the core raises on purpose."""


class InvalidDicomError(DicomLabelMapError):
    """A DICOM file is unreadable or breaks a rule the conversion relies on.

    Parameters
    ----------
    message
        What is wrong, in one sentence.
    path
        The file concerned, when known.
    attribute
        The DICOM attribute concerned (keyword), when known.
    """

    def __init__(self, message: str, path: str | Path | None = None, attribute: str | None = None):
        self.path = None if path is None else Path(path)
        self.attribute = attribute
        #: The message without the file name.
        self.reason = message
        prefix = f"{self.path}: " if self.path is not None else ""
        super().__init__(prefix + message)


class RoiNotFoundError(InvalidDicomError, KeyError):
    """An ROI asked for by name or number is not in the structure set (the message lists its
    ROIs); also a ``KeyError``, as a look-up that finds nothing."""

    __str__ = Exception.__str__  # the message, not KeyError's quoted repr


class NotDicomError(InvalidDicomError):
    """The file is not DICOM at all (text, an image, an empty file): neither the ``DICM`` marker
    at byte 128 nor a DICOM data element at its start."""


class TruncatedFileError(InvalidDicomError):
    """The file ends before its last element does (a copy cut short).

    Parameters
    ----------
    message, path, attribute
        As for :class:`InvalidDicomError`; ``attribute`` is the element the file ends in.
    header
        The elements before that element (a pydicom ``Dataset``), when they could be read: a
        reference image whose pixel data is cut short still tells where its slice lies.
    in_pixel_data
        Whether the file ends inside its Pixel Data.
    """

    def __init__(
        self, message: str, path: str | Path | None = None, attribute: str | None = None, header: Any = None, in_pixel_data: bool = False
    ):
        super().__init__(message, path, attribute)
        self.header = header
        self.in_pixel_data = in_pixel_data


class ReferenceSeriesError(DicomLabelMapError):
    """The reference image series cannot be assembled into one regular grid."""


class GeometryError(DicomLabelMapError):
    """Coordinates do not fit the reference grid (orientation, planarity, spacing)."""


class MissingDependencyError(DicomLabelMapError):
    """An optional package needed for the requested operation is not installed.

    Parameters
    ----------
    package
        The PyPI name of the package to install.
    purpose
        What it is needed for, e.g. ``"writing .nii.gz files"``.
    """

    def __init__(self, package: str, purpose: str):
        self.package = package
        super().__init__(f"{purpose} needs the Python package '{package}': pip install {package}")


def optional_import(module: str, package: str, purpose: str) -> Any:
    """Import an optional dependency, or raise :class:`MissingDependencyError` naming the
    package to install (optional packages fail only when used)."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(package, purpose) from error


def require(module: str, package: str, purpose: str) -> None:
    """Check, before any work and without importing it, that an optional dependency is
    installed; raise :class:`MissingDependencyError` naming the package otherwise."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module set to None
        found = False
    if not found:
        raise MissingDependencyError(package, purpose)


class OutputError(DicomLabelMapError):
    """An output file could not be written, or would overwrite an existing file."""


class OperationCancelled(DicomLabelMapError):
    """The user cancelled a long operation through its progress callback."""


class ResourceLimitError(InvalidDicomError):
    """The input declares more data than the configured ceiling (or than it holds); refused
    before anything that size is allocated."""


#: What malformed input makes numpy, zlib or our own parsing raise; ``DATA_ERRORS`` adds
#: pydicom's own exceptions (resolved on first use, so that importing this module does not
#: import pydicom: the command line starts faster).
_BUILTIN_DATA_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    NotImplementedError,
    OverflowError,
    EOFError,
    OSError,  # pydicom reports broken nested data this way ("No tag to read at file position")
    UnicodeError,
    struct.error,
    zlib.error,
)


def _data_errors() -> tuple[type[BaseException], ...]:
    from pydicom.errors import BytesLengthException
    from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError

    return _BUILTIN_DATA_ERRORS + (BytesLengthException, PydicomInvalidDicomError)


def __getattr__(name: str) -> Any:
    if name == "DATA_ERRORS":
        return _data_errors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextmanager
def malformed_input(path: str | Path | None, what: str) -> Iterator[None]:
    """Turn the exceptions malformed data raises anywhere below into one
    :class:`InvalidDicomError` naming the file (the readers' last line of defence: specific
    checks give more precise messages first)."""
    try:
        yield
    except DicomLabelMapError:
        raise
    except _data_errors() as error:
        raise InvalidDicomError(f"{what} is malformed ({type(error).__name__}: {error})", path) from error

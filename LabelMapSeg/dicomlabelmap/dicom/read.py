"""One safe ``dcmread`` for every reader of whole DICOM files (RT Structure Sets, Segmentations).

Whatever is wrong with the file becomes an :class:`~dicomlabelmap.errors.InvalidDicomError`
naming it: a folder or a missing path, a deflated data set that would inflate past what its
header describes, a file pydicom cannot parse, elements cut short by truncation. A file without
the DICOM preamble (as pydicom's own test files) is read as raw data set.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from ..errors import InvalidDicomError
from .limits import check_deflated_file, check_not_truncated


def read_dataset(path: Path, what: str = "the DICOM file") -> Dataset:
    """The whole data set of ``path`` (pixel data included), checked for truncation.

    ``what`` names the expected file in messages ("is a folder; give the RT Structure Set file").
    """
    if path.is_dir():
        raise InvalidDicomError(f"is a folder; give {what}", path)
    if not path.exists():
        raise InvalidDicomError("no such file", path)
    check_deflated_file(path)
    try:
        dataset = pydicom.dcmread(path)
    except pydicom.errors.InvalidDicomError:
        try:  # no preamble / no file meta: pydicom reads it only when forced
            dataset = pydicom.dcmread(path, force=True)
        except Exception as error:  # noqa: BLE001
            raise InvalidDicomError(f"not a DICOM file ({error})", path) from error
    except Exception as error:  # noqa: BLE001 - pydicom raises many types on broken files
        raise InvalidDicomError(f"cannot read the file ({type(error).__name__}: {error})", path) from error
    check_not_truncated(dataset, path)
    return dataset

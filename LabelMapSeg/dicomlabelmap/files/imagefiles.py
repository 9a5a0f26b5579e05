"""The reference image beside the label maps (``--image``): ``.nii.gz``/``.nii`` or ``.nrrd`` on
exactly the grid of the label files written in the same run.

The image is :func:`~dicomlabelmap.dicom.pixels.read_series_image`'s array (Modality LUT applied;
int16/uint16/int32 or float32), written with the label files' own geometry: NRRD in LPS with the
same 17-digit space directions and origin as :mod:`~dicomlabelmap.files.labelfiles` writes,
NIfTI in RAS with the same qform and sform (code 1). Like the label files, it is written to a
temporary file, read back and compared (voxels, type, geometry), then renamed into place.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..dicom.pixels import SeriesImage
from ..errors import OutputError, optional_import
from ..model.geometry import ImageGeometry
from ..outputs import check_output_file, double_suffix, write_verified
from .nrrdio import DEFAULT_COMPRESSION_LEVEL, payload_digest, read_header, write_nrrd

IMAGE_FILE_SUFFIXES = (".nii.gz", ".nii", ".nrrd")
#: NRRD ``type`` values of the image types.
_NRRD_TYPES = {"int16": "int16", "uint16": "uint16", "int32": "int32", "float32": "float"}


def check_image_output(path: Path, overwrite: bool) -> None:
    """Refuse, before any work, an image output that cannot be written."""
    suffix = double_suffix(path)
    if path.is_dir():
        raise OutputError(f"--image {path} is a folder; give a file name ending in {', '.join(IMAGE_FILE_SUFFIXES)}")
    if suffix not in IMAGE_FILE_SUFFIXES:
        raise OutputError(f"--image {path}: unknown image type '{suffix}'; use one of {', '.join(IMAGE_FILE_SUFFIXES)}")
    check_output_file(path, overwrite)


def nifti_affine(geometry: ImageGeometry) -> npt.NDArray[np.float64]:
    """The NIfTI (RAS) affine of a grid: LPS with the first two axes negated, as the label files'."""
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ geometry.ijk_to_lps


def write_image_file(
    path: str | Path, image: SeriesImage, overwrite: bool = False, compression_level: int = DEFAULT_COMPRESSION_LEVEL
) -> Path:
    """Write ``image`` to ``path`` (type from the suffix), verified by reading it back.

    Raises
    ------
    OutputError
        Unknown suffix, an existing file without ``overwrite``, or a file that reads back
        differently.
    MissingDependencyError
        NIfTI without nibabel.
    """
    target = Path(path)
    check_image_output(target, overwrite)
    if double_suffix(target) == ".nrrd":
        digest: list[tuple[int, int]] = []

        def write(temporary: Path) -> None:
            digest.append(write_nrrd(temporary, [image.array], image.geometry.ijk_to_lps, None, compression_level))

        return write_verified(target, write, partial(_verify_nrrd, image=image, digest=digest), overwrite)
    return write_verified(target, partial(_write_nifti, image=image), partial(_verify_nifti, image=image), overwrite)


def _verify_nrrd(path: Path, image: SeriesImage, digest: list[tuple[int, int]]) -> None:
    header = read_header(path)
    shape = image.array.shape
    if header.sizes != [shape[2], shape[1], shape[0]] or header.type != _NRRD_TYPES[image.array.dtype.name]:
        raise OutputError(f"{path}: wrote {image.array.dtype} {list(shape)} but read back {header.type} {header.sizes}")
    if not ImageGeometry.from_ijk_to_lps(shape, header.ijk_to_lps).is_close(image.geometry, 1e-6):  # type: ignore[arg-type]
        raise OutputError(f"{path}: the geometry changed on writing")
    if payload_digest(path) != digest[0]:
        raise OutputError(f"{path}: the voxels read back differ from those written")


def _nibabel() -> Any:
    return optional_import("nibabel", "nibabel", "writing NIfTI images")


def _write_nifti(path: Path, image: SeriesImage) -> None:
    nibabel = _nibabel()
    affine = nifti_affine(image.geometry)
    nifti = nibabel.Nifti1Image(image.array.transpose(2, 1, 0), affine)
    nifti.header.set_data_dtype(image.array.dtype)
    nifti.header.set_xyzt_units("mm")
    nifti.set_qform(affine, code=1)
    nifti.set_sform(affine, code=1)
    nibabel.save(nifti, str(path))


def _verify_nifti(path: Path, image: SeriesImage) -> None:
    """Voxels, type and geometry read back (NIfTI keeps the matrix in 32-bit floats: the label
    files' tolerance, 1e-3 mm)."""
    nibabel = _nibabel()
    try:
        loaded = nibabel.load(str(path))
        data = np.asarray(loaded.dataobj)
    except Exception as error:  # noqa: BLE001 - nibabel raises many types
        raise OutputError(f"{path}: the written NIfTI cannot be read back ({type(error).__name__}: {error})") from error
    if data.dtype != image.array.dtype or data.shape != image.array.shape[::-1]:
        raise OutputError(f"{path}: wrote {image.array.dtype} {image.array.shape[::-1]} but read back {data.dtype} {data.shape}")
    found = ImageGeometry.from_ijk_to_lps(image.array.shape, np.diag([-1.0, -1.0, 1.0, 1.0]) @ loaded.affine)  # type: ignore[arg-type]
    if not found.is_close(image.geometry, 1e-3):
        raise OutputError(f"{path}: the geometry changed on writing")
    if not np.array_equal(data.transpose(2, 1, 0), image.array):
        raise OutputError(f"{path}: the voxels read back differ from those written")

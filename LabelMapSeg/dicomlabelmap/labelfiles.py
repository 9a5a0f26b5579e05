"""Label map files for use outside DICOM: Slicer ``.seg.nrrd``, ``.nrrd``, ``.nii.gz``/``.nii``.

* ``.seg.nrrd`` (through ``slicerio``): every layer, segment names, colours, label values,
  terminology entries; Slicer and slicerio read it. Geometry is exact (LPS, 17 digits).
* ``.nrrd`` (through ``pynrrd``): one label map in LPS, geometry exact.
* ``.nii.gz`` (through ``nibabel``): one label map; NIfTI is RAS, so the first two axes of the
  LPS matrix change sign; NIfTI stores the matrix in 32-bit floats (about 1e-5 mm off).

Voxel arrays in these files are in ``(i, j, k)`` order; the core's arrays are ``(k, j, i)``.
Several layers (overlapping segments) only fit ``.seg.nrrd``; for the other formats pass
``split_layers=True`` to get one file per layer (``name.nrrd``, ``name_layer2.nrrd``, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DicomLabelMapError, MissingDependencyError, OutputError, optional_import
from .geometry import ImageGeometry
from .labels import LabelVolume
from .outputs import double_suffix, write_verified
from .segment import Segment
from .terminology import apply_terminology_string, to_terminology_string

logger = logging.getLogger(__name__)

LABEL_FILE_SUFFIXES = (".seg.nrrd", ".nrrd", ".nii.gz", ".nii")
#: RAS <-> LPS: the sign of the first two axes.
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_PROPERTY_TAG_PREFIX = "DICOMLabelMap."


def write_label_file(path: str | Path, volumes: Sequence[LabelVolume], overwrite: bool = False, split_layers: bool = False) -> list[Path]:
    """Write label layers to ``path`` (format from the suffix), verified by reading back.

    Returns
    -------
    list of Path
        The files written (several only with ``split_layers``).

    Raises
    ------
    OutputError
        Unknown suffix, an existing file without ``overwrite``, or several layers for a
        one-layer format without ``split_layers``.
    MissingDependencyError
        When the package for the format is not installed.
    """
    target = Path(path)
    suffix = double_suffix(target)
    if suffix not in LABEL_FILE_SUFFIXES:
        raise OutputError(f"{target}: unknown output type '{suffix}'; use one of {', '.join(LABEL_FILE_SUFFIXES)}")
    if not volumes:
        raise OutputError(f"{target}: nothing to write")
    if suffix == ".seg.nrrd":
        return [write_verified(target, lambda p: _write_seg_nrrd(p, volumes), lambda p: _verify(p, volumes), overwrite)]
    if len(volumes) > 1 and not split_layers:
        raise OutputError(
            f"{target}: the segments overlap, so they need {len(volumes)} label layers, and {suffix} holds one; "
            "write .seg.nrrd, or one file per layer (split layers)"
        )
    stem = target.name[: -len(suffix)]
    writer = _write_nrrd if suffix == ".nrrd" else _write_nifti
    written = []
    for index, volume in enumerate(volumes):
        layer_path = target if index == 0 else target.with_name(f"{stem}_layer{index + 1}{suffix}")
        written.append(write_verified(layer_path, partial(writer, volume=volume), partial(_verify, expected=[volume]), overwrite))
    return written


def read_label_file(path: str | Path) -> list[LabelVolume]:
    """Read label layers from a ``.seg.nrrd``, ``.nrrd`` or NIfTI file.

    For plain ``.nrrd`` and NIfTI, every distinct non-zero value becomes a segment named
    ``Segment <value>``.
    """
    source = Path(path)
    suffix = double_suffix(source)
    if not source.is_file():
        raise DicomLabelMapError(f"{source}: no such file")
    if suffix == ".seg.nrrd":
        return _read_seg_nrrd(source)
    if suffix == ".nrrd":
        return _read_nrrd(source)
    if suffix in (".nii.gz", ".nii"):
        return _read_nifti(source)
    raise DicomLabelMapError(f"{source}: unknown label file type '{suffix}'; use one of {', '.join(LABEL_FILE_SUFFIXES)}")


# -- .seg.nrrd ------------------------------------------------------------------------------------
def _slicerio() -> Any:
    return optional_import("slicerio.segmentation", "slicerio", "reading and writing .seg.nrrd files")


def _write_seg_nrrd(path: Path, volumes: Sequence[LabelVolume]) -> None:
    slicerio = _slicerio()
    geometry = volumes[0].geometry
    arrays = [volume.array.transpose(2, 1, 0) for volume in volumes]
    voxels = arrays[0] if len(arrays) == 1 else np.stack(arrays)
    segments = []
    for layer, volume in enumerate(volumes):
        for segment in volume.segments:
            entry: dict[str, Any] = {
                "id": f"Segment_{segment.number}",
                "name": segment.label,
                "labelValue": segment.number,
                "layer": layer,
                "color": [c / 255 for c in segment.display_color()],
                "terminology": slicerio.terminology_entry_from_string(to_terminology_string(segment)),
                "tags": {f"{_PROPERTY_TAG_PREFIX}{key}": value for key, value in segment.properties.items()},
            }
            if segment.description:
                entry["tags"][f"{_PROPERTY_TAG_PREFIX}Description"] = segment.description
            segments.append(entry)
    segmentation = {
        "voxels": voxels,
        "ijkToLPS": geometry.ijk_to_lps,
        "segments": segments,
        "containedRepresentationNames": ["Binary labelmap"],
        "masterRepresentation": "Binary labelmap",
    }
    slicerio.write_segmentation(str(path), segmentation)


def _read_seg_nrrd(path: Path) -> list[LabelVolume]:
    slicerio = _slicerio()
    try:
        segmentation = slicerio.read_segmentation(str(path))
    except Exception as error:  # noqa: BLE001 - slicerio and pynrrd raise many types
        raise DicomLabelMapError(f"{path}: not a readable .seg.nrrd file ({type(error).__name__}: {error})") from error
    voxels = np.asarray(segmentation["voxels"])
    layers = voxels[np.newaxis] if voxels.ndim == 3 else voxels
    shape = tuple(int(n) for n in layers.shape[1:][::-1])
    geometry = ImageGeometry.from_ijk_to_lps(shape, segmentation["ijkToLPS"])  # type: ignore[arg-type]
    volumes = [LabelVolume(np.ascontiguousarray(layer.transpose(2, 1, 0)), geometry, []) for layer in layers]
    for entry in segmentation["segments"]:
        segment = Segment(
            number=int(entry["labelValue"]),
            label=str(entry.get("name", "")),
            color=tuple(int(round(float(c) * 255)) for c in entry["color"]) if "color" in entry else None,  # type: ignore[arg-type]
        )
        tags = dict(entry.get("tags", {}))
        if "terminology" in entry:
            segment = apply_terminology_string(segment, slicerio.terminology_entry_to_string(entry["terminology"]))
        segment.description = str(tags.pop(f"{_PROPERTY_TAG_PREFIX}Description", ""))
        segment.properties = {
            key[len(_PROPERTY_TAG_PREFIX) :]: str(value) for key, value in tags.items() if key.startswith(_PROPERTY_TAG_PREFIX)
        }
        volumes[int(entry.get("layer", 0))].segments.append(segment)
    _fit_dtype(volumes)
    return volumes


# -- .nrrd ----------------------------------------------------------------------------------------
def _nrrd() -> Any:
    return optional_import("nrrd", "pynrrd", "reading and writing .nrrd files")


def _write_nrrd(path: Path, volume: LabelVolume) -> None:
    header = {
        "space": "left-posterior-superior",
        "space directions": volume.geometry.ijk_to_lps[:3, :3].T,
        "space origin": volume.geometry.origin,
        "kinds": ["domain", "domain", "domain"],
        "encoding": "gzip",
    }
    _nrrd().write(str(path), volume.array.transpose(2, 1, 0), header, index_order="F")


def _read_nrrd(path: Path) -> list[LabelVolume]:
    try:
        data, header = _nrrd().read(str(path), index_order="F")
    except MissingDependencyError:
        raise
    except Exception as error:  # noqa: BLE001
        raise DicomLabelMapError(f"{path}: not a readable .nrrd file ({type(error).__name__}: {error})") from error
    if data.ndim != 3:
        raise DicomLabelMapError(f"{path}: a label map must be 3D, this NRRD has {data.ndim} dimensions")
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(header["space directions"], dtype=np.float64).T
    matrix[:3, 3] = np.asarray(header.get("space origin", [0, 0, 0]), dtype=np.float64)
    space = str(header.get("space", "left-posterior-superior"))
    if space in ("right-anterior-superior", "RAS"):
        matrix = _LPS_TO_RAS @ matrix
    elif space not in ("left-posterior-superior", "LPS"):
        raise DicomLabelMapError(f"{path}: NRRD space '{space}' is not supported (use LPS or RAS)")
    return [_volume_from_array(data, matrix)]


# -- NIfTI ----------------------------------------------------------------------------------------
def _nibabel() -> Any:
    return optional_import("nibabel", "nibabel", "reading and writing NIfTI files")


def _write_nifti(path: Path, volume: LabelVolume) -> None:
    nibabel = _nibabel()
    affine = _LPS_TO_RAS @ volume.geometry.ijk_to_lps
    image = nibabel.Nifti1Image(volume.array.transpose(2, 1, 0), affine)
    image.header.set_xyzt_units("mm")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nibabel.save(image, str(path))


def _read_nifti(path: Path) -> list[LabelVolume]:
    nibabel = _nibabel()
    try:
        image = nibabel.load(str(path))
        data = np.asarray(image.dataobj)
    except Exception as error:  # noqa: BLE001
        raise DicomLabelMapError(f"{path}: not a readable NIfTI file ({type(error).__name__}: {error})") from error
    if data.ndim != 3:
        raise DicomLabelMapError(f"{path}: a label map must be 3D, this NIfTI has {data.ndim} dimensions")
    return [_volume_from_array(data, _LPS_TO_RAS @ np.asarray(image.affine, dtype=np.float64))]


# -- shared ---------------------------------------------------------------------------------------
def _volume_from_array(data_ijk: np.ndarray, ijk_to_lps: np.ndarray) -> LabelVolume:
    if not np.issubdtype(data_ijk.dtype, np.integer):
        if not np.all(np.equal(np.mod(data_ijk, 1), 0)):
            raise DicomLabelMapError("the label map holds non-integer values")
    if data_ijk.size and (data_ijk.min() < 0 or data_ijk.max() > 65535):
        raise DicomLabelMapError(f"label values must lie in 0..65535, found {data_ijk.min()}..{data_ijk.max()}")
    array = np.ascontiguousarray(data_ijk.transpose(2, 1, 0))
    shape = tuple(int(n) for n in array.shape)
    geometry = ImageGeometry.from_ijk_to_lps(shape, ijk_to_lps)  # type: ignore[arg-type]
    values = [int(v) for v in np.unique(array) if v != 0]
    volume = LabelVolume(array, geometry, [Segment(v, f"Segment {v}") for v in values])
    _fit_dtype([volume])
    return volume


def _fit_dtype(volumes: list[LabelVolume]) -> None:
    for volume in volumes:
        top = max([int(volume.array.max()) if volume.array.size else 0] + [s.number for s in volume.segments])
        dtype = np.uint8 if top <= 255 else np.uint16
        if volume.array.dtype != dtype:
            volume.array = volume.array.astype(dtype)


def _verify(path: Path, expected: Sequence[LabelVolume]) -> None:
    """Read back a written file and compare voxels, geometry and segment numbers."""
    found = read_label_file(path)
    tolerance = 1e-3 if double_suffix(path) in (".nii.gz", ".nii") else 1e-6
    if len(found) != len(expected):
        raise OutputError(f"{path}: wrote {len(expected)} layer(s) but read back {len(found)}")
    for index, (mine, theirs) in enumerate(zip(expected, found, strict=True)):
        if not mine.geometry.is_close(theirs.geometry, tolerance):
            raise OutputError(f"{path}: layer {index + 1} geometry changed on writing")
        if not np.array_equal(mine.array, theirs.array):
            raise OutputError(f"{path}: layer {index + 1} voxels changed on writing")
        if double_suffix(path) == ".seg.nrrd":
            written = [(s.number, s.label, s.display_color()) for s in mine.segments]
            read = [(s.number, s.label, s.display_color()) for s in theirs.segments]
            if written != read:
                raise OutputError(f"{path}: layer {index + 1} segments changed on writing: {written} became {read}")

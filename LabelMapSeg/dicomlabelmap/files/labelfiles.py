"""Label map files for use outside DICOM: Slicer ``.seg.nrrd``, ``.nrrd``, ``.nii.gz``/``.nii``.

* ``.seg.nrrd``: every layer, segment names, colours, label values, terminology entries;
  Slicer and slicerio read it. Header values are UTF-8, as Slicer writes them (names in any
  script round-trip). Geometry is exact (LPS, 17 digits).
* ``.nrrd``: one label map in LPS, geometry exact.

Both NRRD kinds are written and read by :mod:`~dicomlabelmap.files.nrrdio` (gzip at a fast level by
default; ``compression_level`` 9 for the smallest files, 0 for raw); NRRD variants it does not
read (detached data, text encodings) go through pynrrd.
* ``.nii.gz`` (through ``nibabel``): one label map; NIfTI is RAS, so the first two axes of the
  LPS matrix change sign; NIfTI stores the matrix in 32-bit floats (about 1e-5 mm off).

Voxel arrays in these files are in ``(i, j, k)`` order; the core's arrays are ``(k, j, i)``.
Several layers (overlapping segments) only fit ``.seg.nrrd``; for the other formats pass
``split_layers=True`` to get one file per layer, each named with its layer number
(``name_layer1.nrrd``, ``name_layer2.nrrd``, ...; a single layer keeps the plain ``name.nrrd``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DicomLabelMapError, OutputError, optional_import, require
from ..model.geometry import ImageGeometry
from ..model.labels import LabelVolume, present_values
from ..model.segment import Segment
from ..model.terminology import apply_terminology_string, to_terminology_string
from ..outputs import check_output_file, double_suffix, write_verified
from .labeltables import check_table_outputs, table_entries, write_label_tables
from .nrrdio import (
    DEFAULT_COMPRESSION_LEVEL,
    NrrdFormatError,
    NrrdImage,
    UnsupportedNrrd,
    payload_digest,
    read_header,
    read_nrrd,
    write_nrrd,
)

logger = logging.getLogger(__name__)

LABEL_FILE_SUFFIXES = (".seg.nrrd", ".nrrd", ".nii.gz", ".nii")
#: RAS <-> LPS: the sign of the first two axes.
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_PROPERTY_TAG_PREFIX = "DICOMLabelMap."


def write_label_file(
    path: str | Path,
    volumes: Sequence[LabelVolume],
    overwrite: bool = False,
    split_layers: bool = False,
    compression_level: int = DEFAULT_COMPRESSION_LEVEL,
    label_table: bool = True,
    absent_labels: Sequence[Segment] = (),
) -> list[Path]:
    """Write label layers to ``path`` (format from the suffix), verified by reading back.

    ``compression_level`` (0-9) applies to the NRRD kinds: 1 (default) is fast, 9 smallest.
    ``label_table``: also write what each value means beside the file
    (:mod:`~dicomlabelmap.files.labeltables`: ``<file name>.labels.txt`` for ITK-SNAP,
    ``<file name>.labels.json``); they belong to the file and are replaced with it. ``absent_labels``
    (a scheme's labels this file does not hold) are listed there too.

    Returns
    -------
    list of Path
        The label files written (several only with ``split_layers``), then the label tables.

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
    if target.is_dir():
        raise OutputError(f"{target} is a folder; give a file name ending in {', '.join(LABEL_FILE_SUFFIXES)}")
    if suffix not in LABEL_FILE_SUFFIXES:
        raise OutputError(f"{target}: unknown output type '{suffix}'; use one of {', '.join(LABEL_FILE_SUFFIXES)}")
    if not volumes:
        raise OutputError(f"{target}: nothing to write")
    check_label_format(target)
    if label_table:
        check_table_outputs(target)
    written = _write_label_layers(target, suffix, volumes, overwrite, split_layers, compression_level)
    if label_table:
        written += write_label_tables(target, table_entries(volumes, written, absent_labels))
    logger.info("wrote and verified %s", ", ".join(str(path) for path in written))
    return written


def check_label_format(path: Path) -> None:
    """Before any work: the package writing ``path``'s format is installed (nibabel for NIfTI)."""
    if double_suffix(path) in (".nii.gz", ".nii"):
        require("nibabel", "nibabel", "reading and writing NIfTI files")


def _write_label_layers(
    target: Path, suffix: str, volumes: Sequence[LabelVolume], overwrite: bool, split_layers: bool, compression_level: int
) -> list[Path]:
    if suffix == ".seg.nrrd":
        return [_write_nrrd_verified(target, volumes, overwrite, compression_level)]
    if len(volumes) > 1 and not split_layers:
        raise OutputError(
            f"{target}: the segments overlap, so they need {len(volumes)} label layers, and {suffix} holds one; "
            "write .seg.nrrd, or one file per layer (--split-layers)"
        )
    stem = target.name[: -len(suffix)]
    # every layer named alike when there are several; one layer keeps the name asked for
    paths = [target] if len(volumes) == 1 else [target.with_name(f"{stem}_layer{index + 1}{suffix}") for index in range(len(volumes))]
    for layer_path in paths:  # every layer's file can be written, before the first is
        check_output_file(layer_path, overwrite)
    written = []
    for volume, layer_path in zip(volumes, paths, strict=True):
        if suffix == ".nrrd":
            written.append(_write_nrrd_verified(layer_path, [volume], overwrite, compression_level))
        else:
            written.append(write_verified(layer_path, partial(_write_nifti, volume=volume), partial(_verify, expected=[volume]), overwrite))
    return written


def _write_nrrd_verified(path: Path, volumes: Sequence[LabelVolume], overwrite: bool, compression_level: int) -> Path:
    """Write a ``.nrrd`` (one layer) or ``.seg.nrrd``, then check what is on disk: the header
    read back gives the same grid and segments, and the data decodes to the very bytes written
    (CRC-32 and length, decoded in chunks: one decode, no second copy of the voxels)."""
    digest: list[tuple[int, int]] = []
    seg_nrrd = double_suffix(path) == ".seg.nrrd"

    def write(temporary: Path) -> None:
        if seg_nrrd:
            digest.append(_write_seg_nrrd(temporary, volumes, compression_level))
        else:
            digest.append(_write_nrrd(temporary, volumes[0], compression_level))

    def verify(temporary: Path) -> None:
        header = read_header(temporary)
        shape = volumes[0].geometry.shape
        sizes = ([len(volumes)] if seg_nrrd and len(volumes) > 1 else []) + [shape[2], shape[1], shape[0]]
        if header.sizes != sizes:
            raise OutputError(f"{path}: wrote sizes {sizes} but read back {header.sizes}")
        found = ImageGeometry.from_ijk_to_lps(tuple(int(n) for n in shape), header.ijk_to_lps)  # type: ignore[arg-type]
        if not volumes[0].geometry.is_close(found, 1e-6):
            raise OutputError(f"{path}: the geometry changed on writing")
        if seg_nrrd:
            # Slicer's tag list cannot hold "|" (see _write_seg_nrrd).
            written = [[(s.number, s.label, s.display_color(), s.description.replace("|", "/")) for s in v.segments] for v in volumes]
            read = [
                [(s.number, s.label, s.display_color(), s.description) for s in layer]
                for layer in _segments_from_values(header.values, len(volumes), path)
            ]
            if written != read:
                raise OutputError(f"{path}: the segments changed on writing: {written} became {read}")
        if payload_digest(temporary) != digest[0]:
            raise OutputError(f"{path}: the voxels read back differ from those written")

    return write_verified(path, write, verify, overwrite)


def read_label_file(path: str | Path) -> list[LabelVolume]:
    """Read label layers from a ``.seg.nrrd``, ``.nrrd`` or NIfTI file.

    For plain ``.nrrd`` and NIfTI, every distinct non-zero value becomes a segment named
    ``Segment <value>``.
    """
    source = Path(path)
    suffix = double_suffix(source)
    if source.is_dir():
        raise DicomLabelMapError(f"{source} is a folder; give a label file ({', '.join(LABEL_FILE_SUFFIXES)})")
    if not source.is_file():
        raise DicomLabelMapError(f"{source}: no such file")
    readers = {".seg.nrrd": _read_seg_nrrd, ".nrrd": _read_nrrd, ".nii.gz": _read_nifti, ".nii": _read_nifti}
    if suffix in readers:
        volumes = readers[suffix](source)
        logger.info(
            "read %s: %d layer(s), %d segment(s), grid %s",
            source,
            len(volumes),
            sum(len(v.segments) for v in volumes),
            volumes[0].geometry.shape,
        )
        return volumes
    raise DicomLabelMapError(f"{source}: unknown label file type '{suffix}'; use one of {', '.join(LABEL_FILE_SUFFIXES)}")


# -- .seg.nrrd ------------------------------------------------------------------------------------
def _write_seg_nrrd(path: Path, volumes: Sequence[LabelVolume], compression_level: int = DEFAULT_COMPRESSION_LEVEL) -> tuple[int, int]:
    """Slicer's segmentation file: the layers as a list axis, segments as ``SegmentN_*`` header
    values (UTF-8, as Slicer writes them)."""
    geometry = volumes[0].geometry
    dtype = np.uint16 if any(volume.dtype.itemsize > 1 for volume in volumes) else np.uint8
    shape = geometry.shape
    extent = f"0 {shape[2] - 1} 0 {shape[1] - 1} 0 {shape[0] - 1}"
    values = {
        "Segmentation_ContainedRepresentationNames": "Binary labelmap|",
        "Segmentation_MasterRepresentation": "Binary labelmap",
        "Segmentation_ReferenceImageExtentOffset": "0 0 0",
    }
    index = 0
    for layer, volume in enumerate(volumes):
        for segment in volume.segments:
            tags = {f"{_PROPERTY_TAG_PREFIX}{key}": value for key, value in segment.properties.items()}
            if segment.description:
                tags[f"{_PROPERTY_TAG_PREFIX}Description"] = segment.description
            tags["TerminologyEntry"] = to_terminology_string(segment)
            prefix = f"Segment{index}_"
            values[prefix + "Color"] = " ".join(repr(c / 255) for c in segment.display_color())
            values[prefix + "ColorAutoGenerated"] = "0"
            values[prefix + "Extent"] = extent
            values[prefix + "ID"] = f"Segment_{segment.number}"
            values[prefix + "LabelValue"] = str(segment.number)
            values[prefix + "Layer"] = str(layer)
            values[prefix + "Name"] = segment.label
            values[prefix + "NameAutoGenerated"] = "0"
            # Slicer's tag list: "key:value|" per tag; a "|" inside a value would split it.
            values[prefix + "Tags"] = "".join(f"{key}:{value.replace('|', '/')}|" for key, value in tags.items())
            index += 1
    # The layers are streamed into the file a few slices at a time (painted from their masks when
    # they came from ROIs): the whole data never exists in memory at once.
    layers = [volume.voxels() for volume in volumes]
    return write_nrrd(path, layers, geometry.ijk_to_lps, values, compression_level, len(volumes) > 1, dtype, shape)


def _read_seg_nrrd(path: Path) -> list[LabelVolume]:
    image = _read_nrrd_image(path)
    voxels = image.voxels
    layers = [voxels] if voxels.ndim == 3 else [voxels[..., layer] for layer in range(voxels.shape[-1])]
    geometry = ImageGeometry.from_ijk_to_lps(tuple(int(n) for n in layers[0].shape), image.ijk_to_lps)  # type: ignore[arg-type]
    volumes = [LabelVolume(np.ascontiguousarray(layer), geometry, []) for layer in layers]
    for volume, segments in zip(volumes, _segments_from_values(image.values, len(volumes), path), strict=True):
        volume.segments = segments
    _fit_dtype(volumes)
    return volumes


def _segments_from_values(values: dict[str, str], layer_count: int, path: Path) -> list[list[Segment]]:
    """Each layer's segments from Slicer's ``SegmentN_*`` header values."""
    layers: list[list[Segment]] = [[] for _ in range(layer_count)]
    index = 0
    while f"Segment{index}_ID" in values or f"Segment{index}_Name" in values:
        prefix = f"Segment{index}_"
        # Slicer before 4.11 wrote one layer per segment, label value 1, without these fields.
        label_value = int(values.get(prefix + "LabelValue", "1"))
        layer = int(values.get(prefix + "Layer", str(index if layer_count > 1 else 0)))
        if not 0 <= layer < layer_count:
            raise DicomLabelMapError(f"{path}: segment {index} is on layer {layer}, the file holds {layer_count}")
        color = None
        if prefix + "Color" in values:
            try:
                color = tuple(int(round(float(c) * 255)) for c in values[prefix + "Color"].split())
            except ValueError:
                color = None
        segment = Segment(number=label_value, label=values.get(prefix + "Name", ""), color=color if color and len(color) == 3 else None)  # type: ignore[arg-type]
        tags = _parse_tags(values.get(prefix + "Tags", ""))
        if "TerminologyEntry" in tags:
            segment = apply_terminology_string(segment, tags.pop("TerminologyEntry"))
        segment.description = str(tags.pop(f"{_PROPERTY_TAG_PREFIX}Description", ""))
        segment.properties = {
            key[len(_PROPERTY_TAG_PREFIX) :]: str(value) for key, value in tags.items() if key.startswith(_PROPERTY_TAG_PREFIX)
        }
        layers[layer].append(segment)
        index += 1
    return layers


def _parse_tags(text: str) -> dict[str, str]:
    tags = {}
    for entry in text.split("|"):
        if entry:
            key, _, value = entry.partition(":")
            tags[key] = value
    return tags


# -- .nrrd ----------------------------------------------------------------------------------------
def _write_nrrd(path: Path, volume: LabelVolume, compression_level: int = DEFAULT_COMPRESSION_LEVEL) -> tuple[int, int]:
    return write_nrrd(path, [volume.voxels()], volume.geometry.ijk_to_lps, None, compression_level, shape=volume.geometry.shape)


def _read_nrrd_image(path: Path) -> NrrdImage:
    """Our UTF-8 NRRD reader; NRRD variants it leaves aside go through pynrrd."""
    try:
        return read_nrrd(path)
    except UnsupportedNrrd:
        pass
    except NrrdFormatError as error:
        raise DicomLabelMapError(f"{path}: not a readable {double_suffix(path)} file ({error})") from error
    except OSError as error:
        raise DicomLabelMapError(f"{path}: cannot read the file ({error.strerror or error})") from error
    nrrd = optional_import("nrrd", "pynrrd", "reading NRRD files with detached data or text encodings")
    try:
        data, header = nrrd.read(str(path), index_order="C")
    except Exception as error:  # noqa: BLE001 - pynrrd raises many types
        raise DicomLabelMapError(f"{path}: not a readable NRRD file ({type(error).__name__}: {error})") from error
    kinds = list(header.get("kinds", []))
    if data.ndim == 4 and kinds and kinds[0] == "list":
        data = np.moveaxis(data, 0, -1) if data.shape[0] == header["sizes"][0] else data
    directions = np.asarray(
        [row for row in header["space directions"] if row is not None and not np.any(np.isnan(np.asarray(row, dtype=float)))]
    )
    matrix = np.eye(4)
    matrix[:3, :3] = directions.T
    matrix[:3, 3] = np.asarray(header.get("space origin", [0, 0, 0]), dtype=np.float64)
    space = str(header.get("space", "left-posterior-superior"))
    if space in ("right-anterior-superior", "RAS"):
        matrix = _LPS_TO_RAS @ matrix
    elif space not in ("left-posterior-superior", "LPS"):
        raise DicomLabelMapError(f"{path}: NRRD space '{space}' is not supported (use LPS or RAS)")
    values = {key: str(value) for key, value in header.get("keyvaluepairs", {}).items()}
    return NrrdImage(np.ascontiguousarray(data), matrix, values)


def _read_nrrd(path: Path) -> list[LabelVolume]:
    image = _read_nrrd_image(path)
    if image.voxels.ndim != 3:
        raise DicomLabelMapError(f"{path}: a label map must be 3D, this NRRD has {image.voxels.ndim} dimensions")
    return [_volume_from_array(image.voxels, image.ijk_to_lps)]


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
    return [_volume_from_array(data.transpose(2, 1, 0), _LPS_TO_RAS @ np.asarray(image.affine, dtype=np.float64))]


# -- shared ---------------------------------------------------------------------------------------
def _volume_from_array(data_kji: np.ndarray, ijk_to_lps: np.ndarray) -> LabelVolume:
    """A label volume from a ``(k, j, i)`` array; every non-zero value becomes a segment."""
    if not np.issubdtype(data_kji.dtype, np.integer):
        if not np.all(np.equal(np.mod(data_kji, 1), 0)):
            raise DicomLabelMapError("the label map holds non-integer values")
    if data_kji.size and (data_kji.min() < 0 or data_kji.max() > 65535):
        raise DicomLabelMapError(f"label values must lie in 0..65535, found {data_kji.min()}..{data_kji.max()}")
    array = np.ascontiguousarray(data_kji)
    shape = tuple(int(n) for n in array.shape)
    geometry = ImageGeometry.from_ijk_to_lps(shape, ijk_to_lps)  # type: ignore[arg-type]
    values = [v for v in present_values(array) if v != 0]  # ascending
    dtype = np.uint8 if not values or values[-1] <= 255 else np.uint16
    if array.dtype != dtype:
        array = array.astype(dtype)
    return LabelVolume(array, geometry, [Segment(v, f"Segment {v}") for v in values], present=values)


def _fit_dtype(volumes: list[LabelVolume]) -> None:
    for volume in volumes:
        top = max([int(volume.array.max()) if volume.array.size else 0] + [s.number for s in volume.segments])
        dtype = np.uint8 if top <= 255 else np.uint16
        if volume.array.dtype != dtype:
            volume.array = volume.array.astype(dtype)


def _verify(path: Path, expected: Sequence[LabelVolume]) -> None:
    """Read back a written NIfTI file and compare voxels and geometry (NIfTI keeps the matrix
    in 32-bit floats: 1e-3 mm tolerance)."""
    found = read_label_file(path)
    if len(found) != len(expected):
        raise OutputError(f"{path}: wrote {len(expected)} layer(s) but read back {len(found)}")
    for index, (mine, theirs) in enumerate(zip(expected, found, strict=True)):
        if not mine.geometry.is_close(theirs.geometry, 1e-3):
            raise OutputError(f"{path}: layer {index + 1} geometry changed on writing")
        if not np.array_equal(mine.array, theirs.array):
            raise OutputError(f"{path}: layer {index + 1} voxels changed on writing")

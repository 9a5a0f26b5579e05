"""One image file's frames as the reference series needs them: orientation, position, pixel
spacing and thickness of each frame (single-frame images, or enhanced multi-frame images through
their functional groups), read from the header only."""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from ..errors import InvalidDicomError
from ..model.geometry import FloatArray, check_image_orientation
from . import quick
from .uids import NON_IMAGE_SOP_CLASSES

logger = logging.getLogger(__name__)


@dataclass
class ImageFrame:
    """One frame of an image file: where it lies and what it is."""

    path: Path
    dataset: Dataset
    sop_class_uid: str
    sop_instance_uid: str
    frame_number: int | None
    orientation: FloatArray
    position: FloatArray
    pixel_spacing: FloatArray
    rows: int
    columns: int
    thickness: float | None
    spacing_between_slices: float | None
    #: Why the frame's image cannot be used (its pixel data cut short), when it cannot: the
    #: frame holds its position on the grid without an image.
    problem: str | None = None


def non_image_reason(dataset: Dataset) -> str | None:
    sop_class = quick.text(dataset, "SOPClassUID")
    if sop_class in NON_IMAGE_SOP_CLASSES:
        return f"not an image ({NON_IMAGE_SOP_CLASSES[sop_class]})"
    if "PixelData" not in dataset and "Rows" not in dataset:
        modality = quick.text(dataset, "Modality") or "unknown modality"
        return f"no image geometry ({modality})"
    return None


def _float_list(value: object, count: int, attribute: str, path: Path) -> FloatArray:
    try:
        array = np.asarray([float(v) for v in value], dtype=np.float64)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as error:
        raise InvalidDicomError(f"{attribute} is not numeric ({error})", path, attribute) from error
    if array.shape != (count,) or not np.all(np.isfinite(array)):
        raise InvalidDicomError(f"{attribute} must hold {count} finite numbers, got {value}", path, attribute)
    return array


def _optional_float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) and number > 0 else None


def _numbers(dataset: Dataset, keyword: str, count: int, path: Path) -> FloatArray:
    """A header's numbers (read from its bytes where possible: :mod:`.quick`), checked."""
    found = quick.numbers(dataset, keyword)
    if found is not None and len(found) == count:
        return np.asarray(found, dtype=np.float64)
    return _float_list(dataset.get(keyword), count, keyword, path)


def _optional_number(dataset: Dataset, keyword: str) -> float | None:
    found = quick.numbers(dataset, keyword)
    if found is not None and len(found) == 1:
        return found[0] if found[0] > 0 else None
    return _optional_float(dataset.get(keyword))


@functools.lru_cache(maxsize=256)
def _checked_orientation_once(orientation: tuple[float, ...]) -> FloatArray:
    return check_image_orientation(orientation)


def _checked_orientation(orientation: tuple[float, ...]) -> FloatArray:
    """:func:`check_image_orientation`, done once per distinct value (a series repeats one)."""
    return _checked_orientation_once(orientation).copy()


def frames_of(path: Path, dataset: Dataset) -> list[ImageFrame]:
    rows, columns = quick.unsigned_short(dataset, "Rows"), quick.unsigned_short(dataset, "Columns")
    if rows < 1 or columns < 1:
        raise InvalidDicomError("Rows and Columns must be positive", path, "Rows")
    common = dict(
        path=path,
        dataset=dataset,
        sop_class_uid=quick.text(dataset, "SOPClassUID"),
        sop_instance_uid=quick.text(dataset, "SOPInstanceUID"),
        rows=rows,
        columns=columns,
    )
    if "PerFrameFunctionalGroupsSequence" not in dataset:
        for keyword in ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing"):
            if keyword not in dataset:
                raise InvalidDicomError(f"{keyword} is missing", path, keyword)
        return [
            ImageFrame(
                frame_number=None,
                orientation=_checked_orientation(tuple(_numbers(dataset, "ImageOrientationPatient", 6, path).tolist())),
                position=_numbers(dataset, "ImagePositionPatient", 3, path),
                pixel_spacing=_numbers(dataset, "PixelSpacing", 2, path),
                thickness=_optional_number(dataset, "SliceThickness"),
                spacing_between_slices=_optional_number(dataset, "SpacingBetweenSlices"),
                **common,  # type: ignore[arg-type]
            )
        ]
    shared = dataset.get("SharedFunctionalGroupsSequence")
    shared_item = shared[0] if shared else Dataset()
    frames = []
    for number, item in enumerate(dataset.PerFrameFunctionalGroupsSequence, start=1):
        position = _functional_group(item, shared_item, "PlanePositionSequence", "ImagePositionPatient", path)
        orientation = _functional_group(item, shared_item, "PlaneOrientationSequence", "ImageOrientationPatient", path)
        measures = _functional_group_item(item, shared_item, "PixelMeasuresSequence", path)
        if "PixelSpacing" not in measures:
            raise InvalidDicomError(f"frame {number}: PixelSpacing is missing", path, "PixelSpacing")
        frames.append(
            ImageFrame(
                frame_number=number,
                orientation=check_image_orientation(_float_list(orientation, 6, "ImageOrientationPatient", path)),
                position=_float_list(position, 3, "ImagePositionPatient", path),
                pixel_spacing=_float_list(measures.PixelSpacing, 2, "PixelSpacing", path),
                thickness=_optional_float(measures.get("SliceThickness")),
                spacing_between_slices=_optional_float(measures.get("SpacingBetweenSlices")),
                **common,  # type: ignore[arg-type]
            )
        )
    return frames


def _functional_group_item(item: Dataset, shared_item: Dataset, sequence: str, path: Path) -> Dataset:
    for source in (item, shared_item):
        if sequence in source and len(source[sequence].value) > 0:
            return source[sequence].value[0]
    raise InvalidDicomError(f"{sequence} is missing from both per-frame and shared functional groups", path, sequence)


def _functional_group(item: Dataset, shared_item: Dataset, sequence: str, keyword: str, path: Path) -> object:
    group = _functional_group_item(item, shared_item, sequence, path)
    if keyword not in group:
        raise InvalidDicomError(f"{sequence} has no {keyword}", path, keyword)
    return group[keyword].value


def walk_files(folder: Path) -> list[Path]:
    """Every file under ``folder``, sorted, following symbolic links (each real folder once, so
    a link loop ends)."""
    found: list[Path] = []
    visited: set[str] = set()
    for root, folders, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in visited:
            folders[:] = []
            continue
        visited.add(real)
        folders.sort()
        found.extend(Path(root) / name for name in files if (Path(root) / name).is_file())
    return sorted(found)

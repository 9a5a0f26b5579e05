"""A Segmentation series from files and folders: one Label Map SEG instance per label layer
(as :func:`~dicomlabelmap.seg.writer.write_label_map_segs` writes them), read onto one grid.

Without a reference series, the grid is rebuilt from the frames of *all* instances, so
layers whose empty frames were omitted still line up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from ..dicom.frames import FunctionalGroups
from ..dicom.images import ReferenceSeries
from ..dicom.read import read_header
from ..dicom.slices import walk_files
from ..dicom.uids import LABEL_MAP_SEGMENTATION_STORAGE, SEGMENTATION_STORAGE
from ..errors import DicomLabelMapError, InvalidDicomError, TruncatedFileError
from ..findings import Finding
from ..model.geometry import ImageGeometry
from ..model.labels import LabelVolume
from ..model.segment import Segment
from .grid import frame_geometry, frame_grid
from .reader import SegContents, read_seg


@dataclass
class SegSeries:
    """The instances of one Segmentation series, read onto one grid."""

    series_instance_uid: str
    contents: list[SegContents]

    @property
    def paths(self) -> list[Path]:
        return [content.path for content in self.contents if content.path is not None]

    @property
    def volumes(self) -> list[LabelVolume]:
        """Every instance's label layers, in Instance Number order."""
        return [volume for content in self.contents for volume in content.volumes]

    @property
    def segments(self) -> list[Segment]:
        return [segment for volume in self.volumes for segment in volume.segments]

    @property
    def geometry(self) -> ImageGeometry:
        return self.contents[0].geometry

    @property
    def findings(self) -> list[Finding]:
        """Each instance's findings, its file named in the message when there are several."""
        if len(self.contents) == 1:
            return list(self.contents[0].findings)
        return [
            Finding(f.severity, f"{content.path.name if content.path else ''}: {f.message}", f.roi_number, f.roi_name, f.attribute)
            for content in self.contents
            for f in content.findings
        ]


def find_seg_files(sources: Sequence[str | Path]) -> dict[str, list[tuple[int, Path]]]:
    """Segmentation files under ``sources`` (files or folders, searched recursively), by Series
    Instance UID, each with its Instance Number. Other files are ignored."""
    found: dict[str, list[tuple[int, Path]]] = {}
    for source in sources:
        path = Path(source)
        if path.is_dir():
            files = walk_files(path)
        elif path.is_file():
            files = [path]
        else:
            raise DicomLabelMapError(f"{path}: no such file or folder")
        for file in files:
            header = _header(file, explicit=len(files) == 1 and not path.is_dir())
            if header is None:
                continue
            uid = str(header.get("SeriesInstanceUID", "")) or f"(no Series Instance UID: {file})"
            try:
                number = int(header.get("InstanceNumber", 0) or 0)
            except (TypeError, ValueError):
                number = 0
            found.setdefault(uid, []).append((number, file))
    return found


def read_seg_series(
    sources: str | Path | Sequence[str | Path],
    reference: ReferenceSeries | ImageGeometry | None = None,
    series_instance_uid: str | None = None,
    fractional_threshold: float = 0.5,
    processes: int = 1,
) -> SegSeries:
    """Read one Segmentation series from files and folders (``processes``: as for
    :func:`~dicomlabelmap.seg.reader.read_seg`).

    Raises
    ------
    DicomLabelMapError
        When no Segmentation is found, or several series are found and none is chosen (the
        message lists them).
    """
    items = [sources] if isinstance(sources, (str, Path)) else list(sources)
    by_series = find_seg_files(items)
    if not by_series:
        raise DicomLabelMapError(f"no DICOM Segmentation found in {', '.join(str(i) for i in items)}")
    if series_instance_uid is not None:
        if series_instance_uid not in by_series:
            raise DicomLabelMapError(f"Segmentation series {series_instance_uid} not found; found: {', '.join(by_series)}")
        chosen = series_instance_uid
    elif len(by_series) > 1:
        listing = "; ".join(f"{uid} ({len(files)} file(s), e.g. {files[0][1]})" for uid, files in by_series.items())
        raise DicomLabelMapError(f"several Segmentation series found; choose one with --series-uid: {listing}")
    else:
        chosen = next(iter(by_series))
    paths = [path for _, path in sorted(by_series[chosen], key=lambda entry: (entry[0], str(entry[1])))]
    grid = reference if reference is not None or len(paths) == 1 else _common_grid(paths)  # None: each instance on its own frames
    contents = [read_seg(path, grid, fractional_threshold, processes=processes) for path in paths]
    shapes = {content.geometry.shape for content in contents}
    if len(shapes) > 1:
        raise DicomLabelMapError(f"the instances of series {chosen} lie on different grids: {sorted(shapes)}")
    return SegSeries(chosen, contents)


def _header(path: Path, explicit: bool) -> Dataset | None:
    """A Segmentation's header, ``None`` for other files in a folder; a file named on its own
    that is not a Segmentation is an error. A Segmentation cut short is kept: its reader says
    where it ends."""
    try:
        header = read_header(path, "the Segmentation file")
    except TruncatedFileError as error:
        if error.header is None or not _is_segmentation(error.header):
            if explicit:
                raise
            return None
        return error.header  # type: ignore[no-any-return]
    except InvalidDicomError:
        if explicit:
            raise
        return None
    if not _is_segmentation(header):
        if explicit:
            raise InvalidDicomError(f"not a Segmentation (SOP Class UID {header.get('SOPClassUID', 'missing')})", path, "SOPClassUID")
        return None
    return header


def _is_segmentation(header: Dataset) -> bool:
    return str(header.get("SOPClassUID", "")) in (SEGMENTATION_STORAGE, LABEL_MAP_SEGMENTATION_STORAGE)


def _common_grid(paths: list[Path]) -> ImageGeometry | None:
    """The grid spanning the frames of every instance (each alone may miss omitted frames);
    ``None`` for instances without plane positions (2-D or tiled: placed by their own layout)."""
    positions, orientation, spacing, between, shape, dataset = [], None, None, None, None, None
    for path in paths:
        header = read_header(path, "the Segmentation file")
        if "TotalPixelMatrixRows" in header or FunctionalGroups(header).item(0, "PlanePositionSequence") is None:
            return None
        count = int(header.get("NumberOfFrames", 1) or 1)
        frame_positions, frame_orientation, pixel_spacing, spacing_between = frame_geometry(FunctionalGroups(header), count)
        positions.append(frame_positions)
        if orientation is None:
            orientation, spacing, between, shape, dataset = (
                frame_orientation,
                pixel_spacing,
                spacing_between,
                (int(header.Rows), int(header.Columns)),
                header,
            )
    assert orientation is not None and spacing is not None and shape is not None and dataset is not None
    geometry, _ = frame_grid(None, dataset, np.concatenate(positions), orientation, spacing, between, shape)
    return geometry

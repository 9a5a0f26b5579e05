"""Segmentations back to RT Structure Sets: any label input we read (a label file with its label
table, or a DICOM SEG series) onto its reference image series, then
:func:`~dicomlabelmap.rtstruct.writer.write_rtstruct`.

This module joins the families that must not know each other (``files``, ``seg`` and
``rtstruct``); the ``contours`` command, batch and the Slicer module call it.

Inputs:

* a label file (``.seg.nrrd`` with its layers, ``.nrrd``, ``.nii.gz``, ``.nii``); for the
  single-layer kinds the label table beside it (``<name>.labels.json``, else ITK-SNAP's
  ``<name>.labels.txt``) names and colours the values;
* DICOM Segmentation files or folders holding one series (LABELMAP, BINARY, FRACTIONAL).

The labels must lie on the reference lattice; a grid that differs only by axis order or
direction is reoriented (never resampled). A SEG whose frames reference another series than the
reference one is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from .dicom.images import ReferenceSeries
from .dicom.processes import alongside
from .dicom.scan import read_reference_series
from .errors import DicomLabelMapError
from .files.labelfiles import LABEL_FILE_SUFFIXES, read_label_file
from .files.labeltables import apply_itksnap_table, found_table, read_itksnap_table
from .model.labels import LabelVolume
from .model.scheme import LabelScheme
from .outputs import double_suffix
from .progress import ProgressCallback, report, scaled
from .rtstruct.writer import ContourWriteOptions, ContourWriteResult, write_rtstruct

if TYPE_CHECKING:
    from .seg.sources import SegSources


@dataclass
class LabelInput:
    """Label layers read onto a reference series, with notes on how."""

    volumes: list[LabelVolume]
    reference: ReferenceSeries
    #: What the user may want to know (a label table applied, axes reoriented, SEG findings).
    notes: list[str] = field(default_factory=list)


def is_label_file(path: str | Path) -> bool:
    """Whether ``path`` names a label file by its suffix (else it is taken as DICOM SEG)."""
    return Path(path).is_file() and double_suffix(Path(path)) in LABEL_FILE_SUFFIXES


def read_labels(
    sources: str | Path | Sequence[str | Path],
    reference: str | Path | Sequence[str | Path] | ReferenceSeries,
    series_instance_uid: str | None = None,
    seg_series_uid: str | None = None,
    fractional_threshold: float = 0.5,
    progress: ProgressCallback | None = None,
    allow_missing_slices: bool = False,
) -> LabelInput:
    """Read a label file or a DICOM SEG series onto its reference series.

    Parameters
    ----------
    sources
        One label file, or DICOM SEG files / folders of one series.
    reference
        The reference series, or files / folders to find it in (``series_instance_uid`` chooses
        among several; for a SEG, the series it references is preferred).
    allow_missing_slices
        Accept a reference series with missing slices (its regular grid kept; contours there
        name no image).

    Raises
    ------
    DicomLabelMapError
        When the labels are not on the reference lattice (the message says how they differ), the
        reference is not a regular grid, or a SEG references another series.
    """
    items = [Path(sources)] if isinstance(sources, (str, Path)) else [Path(s) for s in sources]
    if len(items) == 1 and is_label_file(items[0]):
        return _label_file(items[0], reference, series_instance_uid, progress, allow_missing_slices)
    for item in items:
        if item.is_file() and double_suffix(item) in LABEL_FILE_SUFFIXES:
            raise DicomLabelMapError(f"{item}: give one label file, or DICOM Segmentation files and folders (not both)")
    return _seg_series(items, reference, series_instance_uid, seg_series_uid, fractional_threshold, progress, allow_missing_slices)


def segmentation_to_rtstruct(
    sources: str | Path | Sequence[str | Path],
    reference: str | Path | Sequence[str | Path] | ReferenceSeries,
    output: str | Path,
    options: ContourWriteOptions = ContourWriteOptions(),
    scheme: LabelScheme | None = None,
    series_instance_uid: str | None = None,
    seg_series_uid: str | None = None,
    fractional_threshold: float = 0.5,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    allow_missing_slices: bool = False,
) -> tuple[ContourWriteResult, LabelInput]:
    """Read labels onto the reference (:func:`read_labels`) and write them as an RT Structure
    Set, verified by reading back (:func:`~dicomlabelmap.rtstruct.writer.write_rtstruct`)."""
    labels = read_labels(
        sources, reference, series_instance_uid, seg_series_uid, fractional_threshold, scaled(progress, 0.0, 0.3), allow_missing_slices
    )
    result = write_rtstruct(labels.volumes, labels.reference, output, options, scheme, overwrite, scaled(progress, 0.3, 1.0))
    return result, labels


def _reference(
    reference: str | Path | Sequence[str | Path] | ReferenceSeries,
    series_instance_uid: str | None,
    frame_of_reference_uid: str | None,
    preferred: Sequence[str],
    progress: ProgressCallback | None,
    allow_missing_slices: bool = False,
) -> ReferenceSeries:
    if isinstance(reference, ReferenceSeries):
        return reference
    return read_reference_series(
        reference, series_instance_uid, frame_of_reference_uid, preferred, progress=progress, allow_missing_slices=allow_missing_slices
    )


def _label_file(
    path: Path,
    reference: str | Path | Sequence[str | Path] | ReferenceSeries,
    series_uid: str | None,
    progress: ProgressCallback | None,
    allow_missing_slices: bool = False,
) -> LabelInput:
    # The label file is read by a thread while this one reads the reference headers.
    headers = partial(_reference, reference, series_uid, None, (), scaled(progress, 0.0, 0.8), allow_missing_slices)
    volumes, series = alongside(partial(read_label_file, path), headers)
    notes = [str(finding) for finding in series.findings]  # the reference's own (a missing slice kept, a value too long)
    if double_suffix(path) != ".seg.nrrd":  # a .seg.nrrd names its segments itself (as encode reads it)
        volumes = _named_by_table(path, volumes, notes)
    placed = [volume.on_grid(series.geometry) for volume in volumes]
    if any(mine is not theirs for mine, theirs in zip(placed, volumes, strict=True)):
        notes.append(
            "the label map's axes are ordered or directed differently from the reference series; they were swapped/reversed "
            "to match (no resampling)"
        )
    report(progress, 1.0, "Read the labels")
    return LabelInput(placed, series, notes)


def _named_by_table(path: Path, volumes: list[LabelVolume], notes: list[str]) -> list[LabelVolume]:
    """Names, colours and codes from the label table beside the file: our ``<file name>.labels.json``
    (read as ``encode`` reads it, :mod:`~dicomlabelmap.seg.metadata`), else ITK-SNAP's
    ``<file name>.labels.txt`` (or the older names without the file type)."""
    table = found_table(path, ".labels.json")
    if table is not None:
        from .seg.metadata import apply_metadata, load_metadata

        volumes, _, more = apply_metadata(volumes, load_metadata(table, label_file=path.name))
        notes += [f"segment names, colours and codes from {table.name}"] + [note.removeprefix("note: ") for note in more]
        return volumes
    names, text = read_itksnap_table(path)
    if text is not None:
        notes.append(f"segment names and colours from {text.name}")
        return apply_itksnap_table(volumes, names)
    return volumes


def _seg_series(
    items: list[Path],
    reference: str | Path | Sequence[str | Path] | ReferenceSeries,
    series_uid: str | None,
    seg_series_uid: str | None,
    threshold: float,
    progress: ProgressCallback | None,
    allow_missing_slices: bool = False,
) -> LabelInput:
    from .seg.series import find_seg_files, read_seg_series  # only for SEG input: the label file path stays light

    found = find_seg_files(items)
    if not found:
        raise DicomLabelMapError(f"no label file or DICOM Segmentation found in {', '.join(str(i) for i in items)}")
    if seg_series_uid is not None and seg_series_uid not in found:
        raise DicomLabelMapError(f"Segmentation series {seg_series_uid} not found; found: {', '.join(found)}")
    if seg_series_uid is None and len(found) > 1:
        listing = "; ".join(f"{uid} ({len(files)} file(s), e.g. {files[0][1]})" for uid, files in found.items())
        raise DicomLabelMapError(f"several Segmentation series found; choose one with --seg-series-uid: {listing}")
    chosen = seg_series_uid or next(iter(found))
    sources = _sources_of(found[chosen][0][1])
    frame = sources.frame_of_reference_uid or None
    series = _reference(reference, series_uid, frame, sorted(sources.series_uids), scaled(progress, 0, 0.5), allow_missing_slices)
    _check_references(sources, series)
    seg = read_seg_series(items, series, chosen, threshold)
    notes = [str(finding) for finding in series.findings + seg.findings]
    report(progress, 1.0, "Read the Segmentation")
    return LabelInput(seg.volumes, series, notes)


def _sources_of(path: Path) -> SegSources:
    import pydicom

    from .seg.sources import seg_sources

    return seg_sources(pydicom.dcmread(path, stop_before_pixels=True))


def _check_references(sources: SegSources, series: ReferenceSeries) -> None:
    """Refuse a SEG whose frames were drawn on another series than the reference."""
    if sources.series_uids and series.series_instance_uid not in sources.series_uids:
        raise DicomLabelMapError(
            f"the Segmentation references series {', '.join(sorted(sources.series_uids))}, not the reference series "
            f"{series.series_instance_uid}; give the series it was drawn on (-r)"
        )
    if sources.instance_uids and not sources.instance_uids & series.sop_instance_uids():
        raise DicomLabelMapError(
            f"the Segmentation's frames reference {len(sources.instance_uids)} image(s), none of them in the reference series "
            f"{series.series_instance_uid}; give the series it was drawn on (-r)"
        )

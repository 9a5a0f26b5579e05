"""Classic SEG (BINARY, FRACTIONAL) -> Label Map SEG, keeping every segment number, name,
colour and code (layers when segments overlap).

Without the source images, the reference is rebuilt from the SEG itself: its grid from the
frame positions, each slice's source image from the frames' Derivation Image Sequence, and
the patient/study attributes from the SEG.
"""

from __future__ import annotations

from pathlib import Path

from ..dicom.copied import copy_checked
from ..dicom.images import ReferenceSeries, SourceSlice
from ..errors import DicomLabelMapError, InvalidDicomError
from ..progress import ProgressCallback, report, scaled
from .reader import FunctionalGroups, SegContents, read_seg
from .writer import SegWriteOptions, write_label_map_segs


def reference_from_seg(contents: SegContents) -> ReferenceSeries:
    """A :class:`ReferenceSeries` rebuilt from a Segmentation's own frames.

    Slices for which no frame names a source image get an empty source; the Label Map SEG
    writer leaves them out (they are empty in the source SEG, which omitted them).
    """
    dataset = contents.dataset
    if dataset is None:
        raise InvalidDicomError("the Segmentation's dataset is needed to rebuild its reference", contents.path)
    groups = contents.groups or FunctionalGroups(dataset)
    geometry = contents.geometry
    sources: dict[int, SourceSlice] = {}
    positions = geometry.slice_positions()
    for index in range(contents.frame_count):
        plane = groups.item(index, "PlanePositionSequence")
        derivation = groups.item(index, "DerivationImageSequence")
        if plane is None or derivation is None or not derivation.get("SourceImageSequence"):
            continue
        k = int(round(float(geometry.to_ijk([[float(v) for v in plane.ImagePositionPatient]])[0, 2])))
        source = derivation.SourceImageSequence[0]
        frame = source.get("ReferencedFrameNumber")
        sources.setdefault(
            k,
            SourceSlice(
                contents.path or Path(),
                str(source.get("ReferencedSOPClassUID", "")),
                str(source.get("ReferencedSOPInstanceUID", "")),
                int(frame) if frame not in (None, "") else None,
                tuple(positions[k].tolist()),  # type: ignore[arg-type]
            ),
        )
    slices = [sources.get(k) or SourceSlice(Path(), "", "", None, tuple(positions[k].tolist())) for k in range(geometry.shape[0])]  # type: ignore[arg-type]
    copied = copy_checked(dataset, contents.path.name if contents.path else "the Segmentation")
    series = dataset.get("ReferencedSeriesSequence", [])
    series_uid = str(series[0].SeriesInstanceUID) if series and "SeriesInstanceUID" in series[0] else ""
    return ReferenceSeries(geometry, slices, series_uid, "", "", copied.dataset, findings=copied.findings, refusals=copied.refusals)


def convert_to_label_map_seg(
    source: str | Path,
    output_dir: str | Path,
    reference: ReferenceSeries | None = None,
    options: SegWriteOptions = SegWriteOptions(),
    fractional_threshold: float = 0.5,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> tuple[SegContents, list[Path]]:
    """Convert a BINARY/FRACTIONAL (or LABELMAP) SEG file to Label Map SEG instances.

    Returns the contents read and the files written (one per layer), each verified.
    """
    report(progress, 0.0, f"Reading {Path(source).name}")
    contents = read_seg(source, reference, fractional_threshold)
    if contents.grid_kind != "volume":
        what = "no Frame of Reference (a 2-D segmentation)" if contents.grid_kind == "plane" else "a tiled (slide) grid"
        raise DicomLabelMapError(
            f"{source}: the Segmentation has {what}; converting it to Label Map SEG is not supported (the writer places frames "
            "in a Frame of Reference): decode it to a label file instead"
        )
    target = reference if reference is not None else reference_from_seg(contents)
    paths = write_label_map_segs(contents.volumes, target, output_dir, options, overwrite, scaled(progress, 0.3, 1.0))
    # What the copy left out or emptied, and what writing assumed, reported with the SEG's findings.
    contents.findings.extend(target.findings)
    return contents, paths

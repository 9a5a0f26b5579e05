"""Finding image series among files: every header read once, grouped by series, then one series
chosen and assembled into a :class:`~dicomlabelmap.dicom.images.ReferenceSeries`."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydicom.dataset import Dataset

from ..errors import (
    DATA_ERRORS,
    GeometryError,
    InvalidDicomError,
    NotDicomError,
    ReferenceSeriesError,
    ResourceLimitError,
    TruncatedFileError,
)
from ..findings import Finding, Severity
from ..progress import ProgressCallback, report
from . import quick
from .images import NO_SERIES_UID, ReferenceSeries, assemble
from .read import quiet_pydicom, read_header
from .slices import ImageFrame, frames_of, non_image_reason, walk_files

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeriesSummary:
    """One image series found while scanning files."""

    series_instance_uid: str
    modality: str
    series_description: str
    frame_of_reference_uid: str
    image_count: int

    def describe(self) -> str:
        return f"{self.series_instance_uid} ({self.modality}, '{self.series_description}', {self.image_count} image(s))"


@dataclass
class SeriesScan:
    """The image series found in a set of files, before one is chosen.

    Use :meth:`select` to build the :class:`ReferenceSeries`.
    """

    frames_by_series: dict[str, list[ImageFrame]]
    skipped: dict[str, int]
    #: ``(path, reason, series UID or "")`` of every file not used.
    skipped_files: list[tuple[str, str, str]] = field(default_factory=list)
    #: Frames whose position is known but whose image is unusable (pixel data cut short), by
    #: series: they hold their place on the grid (:attr:`ImageFrame.problem` says why).
    broken_frames: dict[str, list[ImageFrame]] = field(default_factory=dict)

    def summaries(self) -> list[SeriesSummary]:
        result = []
        for uid, frames in self.frames_by_series.items():
            first = frames[0].dataset
            result.append(
                SeriesSummary(
                    uid,
                    str(first.get("Modality", "")),
                    str(first.get("SeriesDescription", "")),
                    str(first.get("FrameOfReferenceUID", "")),
                    len({(frame.path, frame.sop_instance_uid) for frame in frames}),  # files: UIDs may be empty
                )
            )
        return result

    def select(
        self,
        series_instance_uid: str | None = None,
        frame_of_reference_uid: str | None = None,
        preferred_series_uids: Iterable[str] = (),
        spacing_tolerance: float = 0.01,
        allow_missing_slices: bool = False,
        referenced_instances: Collection[str] = (),
    ) -> ReferenceSeries:
        """Choose one series and assemble its grid.

        Parameters
        ----------
        series_instance_uid
            Take exactly this series.
        frame_of_reference_uid
            Otherwise, only consider series in this Frame of Reference.
        preferred_series_uids
            Otherwise, among several candidates take the one listed here (for example the series
            an RT Structure Set references).
        spacing_tolerance
            Allowed deviation of each slice's position from the fitted uniform grid, as a fraction
            of the slice spacing (at least :data:`POSITION_TOLERANCE_MM`).
        allow_missing_slices
            Accept a series whose slices sit on a uniform grid with some positions empty (a
            slice missing): the grid keeps every position, the missing ones have no image
            (:attr:`ReferenceSeries.missing_slices`). Off by default: such a series is refused.
        referenced_instances
            SOP Instance UIDs the caller's object was drawn on (an RT Structure Set's Contour Image
            Sequences). When the chosen series holds several image sets (reconstructions sharing
            one Series Instance UID), the set these name is used, with a warning saying so.

        Raises
        ------
        ReferenceSeriesError
            When no image series is found, the choice is ambiguous (the message lists the
            series), or the chosen series is not a regular grid.
        """
        with quiet_pydicom():  # the values used are checked here and by dicom.copied, naming the attribute
            chosen = self._choose(series_instance_uid, frame_of_reference_uid, preferred_series_uids)
            return self._assemble(chosen, spacing_tolerance, allow_missing_slices, set(referenced_instances))

    def _choose(self, series_instance_uid: str | None, frame_of_reference_uid: str | None, preferred_series_uids: Iterable[str]) -> str:
        summaries = self.summaries()
        if not summaries:
            first = "; ".join(f"{path}: {reason}" for path, reason, _ in self.skipped_files[:3])
            raise ReferenceSeriesError(f"no image series found ({_describe_skipped(self.skipped)}{': ' + first if first else ''})")
        listing = "; ".join(summary.describe() for summary in summaries)
        if series_instance_uid is not None:
            if series_instance_uid not in self.frames_by_series:
                raise ReferenceSeriesError(f"series {series_instance_uid} not found; available: {listing}")
            chosen = series_instance_uid
        else:
            candidates = summaries
            if frame_of_reference_uid:
                candidates = [s for s in summaries if s.frame_of_reference_uid == frame_of_reference_uid]
                if not candidates:
                    raise ReferenceSeriesError(f"no image series in Frame of Reference {frame_of_reference_uid}; available: {listing}")
            preferred = set(preferred_series_uids)
            if len(candidates) > 1 and preferred:
                candidates = [s for s in candidates if s.series_instance_uid in preferred] or candidates
            if len(candidates) > 1:
                raise ReferenceSeriesError(
                    "several image series found; choose one by Series Instance UID: " + "; ".join(s.describe() for s in candidates)
                )
            chosen = candidates[0].series_instance_uid
        return chosen

    def _assemble(self, chosen: str, spacing_tolerance: float, allow_missing_slices: bool, referenced: set[str]) -> ReferenceSeries:
        frames, broken = self.frames_by_series[chosen], self.broken_frames.get(chosen, [])
        skipped_here = [(path, reason) for path, reason, uid in self.skipped_files if uid in ("", chosen)]
        try:
            series = assemble(chosen, frames, dict(self.skipped), spacing_tolerance, allow_missing_slices, broken)
        except ReferenceSeriesError as error:
            found = self._referenced_set(chosen, error, spacing_tolerance, allow_missing_slices, referenced)
            if found is None:
                broken_paths = {str(frame.path) for frame in broken}
                own = [f"{path}: {reason}" for path, reason, uid in self.skipped_files if uid == chosen and path not in broken_paths]
                if own:
                    raise ReferenceSeriesError(f"{error} ({len(own)} file(s) of this series were skipped: {'; '.join(own[:3])})") from error
                raise
            series = found
        series.skipped_files = [(str(path), reason) for path, reason in skipped_here]
        without = len(series.missing_slices)
        logger.info(
            "reference series %s chosen out of %d: %d slice(s)%s, grid %s",
            chosen,
            len(self.frames_by_series),
            len(series.slices),
            f" ({without} without an image)" if without else "",
            series.geometry.shape,
        )
        return series

    def _referenced_set(
        self, chosen: str, error: ReferenceSeriesError, spacing_tolerance: float, allow_missing_slices: bool, referenced: set[str]
    ) -> ReferenceSeries | None:
        """When the series is not one grid (several reconstructions under one Series Instance
        UID), the image set the references name: the images that share the named images'
        reconstruction (Slice Thickness, kernel, ...), else the named images alone. ``None`` when
        nothing tells the sets apart."""
        frames = self.frames_by_series[chosen]
        named = [frame for frame in frames if frame.sop_instance_uid in referenced]
        if not named or len(named) == len(frames):
            return None
        keys = {_image_set_key(frame) for frame in named}
        candidates = [[frame for frame in frames if _image_set_key(frame) in keys]] if len(keys) == 1 else []
        candidates.append(named)
        for candidate in candidates:
            if len(candidate) == len(frames):
                continue
            broken = [frame for frame in self.broken_frames.get(chosen, []) if _image_set_key(frame) in keys]
            try:
                series = assemble(chosen, candidate, dict(self.skipped), spacing_tolerance, allow_missing_slices, broken)
            except ReferenceSeriesError:
                continue
            count = len({frame.path for frame in frames})
            used = len({frame.path for frame in candidate})
            series.findings.append(
                Finding(
                    Severity.WARNING,
                    f"series {chosen} holds several image sets ({count} images that are not one grid: {str(error).split(':')[0]}); "
                    f"the {used} images of the set whose {len(named)} images the structure set's Contour Image Sequence names are "
                    f"used, the other {count - used} are left out",
                    attribute="ContourImageSequence",
                )
            )
            return series
        return None


#: What tells reconstructions sharing a Series Instance UID apart.
_IMAGE_SET_ATTRIBUTES = ("SliceThickness", "SpacingBetweenSlices", "ConvolutionKernel", "ReconstructionDiameter", "AcquisitionNumber")


def _image_set_key(frame: ImageFrame) -> tuple[str, ...]:
    values = tuple(str(frame.dataset.get(keyword, "")) for keyword in _IMAGE_SET_ATTRIBUTES)
    return (*values, str(frame.rows), str(frame.columns), str(frame.pixel_spacing.round(4).tolist()))


def scan_series(source: str | Path | Sequence[str | Path], progress: ProgressCallback | None = None) -> SeriesScan:
    """Read the headers of every file under ``source`` (a folder, searched recursively, a file,
    or a list of both) and group the images by series."""
    paths = list(_collect_files(source))
    scan = SeriesScan({}, {})
    seen_instances: set[str] = set()
    with quiet_pydicom():  # values are checked where they matter, naming the attribute (copied values, UIDs)
        for index, path in enumerate(paths):
            report(progress, index / max(1, len(paths)), f"Reading {path.name}")
            _scan_file(path, scan, seen_instances)
    report(progress, 1.0, "Read headers")
    logger.info(
        "read the headers of %d file(s): %d image series, %d file(s) skipped",
        len(paths),
        len(scan.frames_by_series),
        sum(scan.skipped.values()),
    )
    return scan


def _skip(scan: SeriesScan, path: Path, reason: str, detail: str | None = None, series_uid: str = "") -> None:
    scan.skipped[reason] = scan.skipped.get(reason, 0) + 1
    scan.skipped_files.append((str(path), detail or reason, series_uid))


def _scan_file(path: Path, scan: SeriesScan, seen_instances: set[str]) -> None:
    """One file's frames into ``scan``, or the file into its skipped files with the reason."""
    try:
        dataset = read_header(path)
        problem = None
    except TruncatedFileError as error:
        # A slice whose pixel data is cut short still says where it lies: it is kept as a
        # position without a usable image (refused, or kept empty with allow_missing_slices).
        if error.header is None or not error.in_pixel_data:
            return _skip(scan, path, "truncated", error.reason, _series_of(error.header))
        dataset, problem = error.header, error.reason
    except NotDicomError as error:
        return _skip(scan, path, "not DICOM", error.reason)
    except ResourceLimitError as error:
        logger.warning("skipping %s: %s", path, error)
        return _skip(scan, path, "exceeds resource limits", f"exceeds resource limits ({error.reason})")
    except InvalidDicomError as error:
        return _skip(scan, path, "unreadable", error.reason)
    try:
        reason = non_image_reason(dataset)
        sop_instance_uid = quick.text(dataset, "SOPInstanceUID")
        series_uid = quick.text(dataset, "SeriesInstanceUID") or NO_SERIES_UID
    except DATA_ERRORS as error:
        logger.warning("skipping %s: unreadable header (%s)", path, error)
        return _skip(scan, path, "unreadable header", f"unreadable header ({error})")
    if reason is not None:
        return _skip(scan, path, reason, f"{reason}; {problem}" if problem else None)
    if sop_instance_uid and sop_instance_uid in seen_instances:
        return _skip(scan, path, "duplicate SOP Instance UID", f"duplicate SOP Instance UID {sop_instance_uid}", series_uid)
    try:
        frames = frames_of(path, dataset)
    except (GeometryError, InvalidDicomError) + DATA_ERRORS as error:
        logger.warning("skipping %s: %s", path, error)
        detail = getattr(error, "reason", str(error))
        attribute = getattr(error, "attribute", None)
        group = f"invalid image geometry ({attribute})" if attribute else "invalid image geometry"
        return _skip(scan, path, group, f"invalid image geometry: {detail}" + (f"; {problem}" if problem else ""), series_uid)
    seen_instances.add(sop_instance_uid)
    if problem is not None:
        _skip(scan, path, "truncated", problem, series_uid)
        scan.broken_frames.setdefault(series_uid, []).extend(replace(frame, problem=problem) for frame in frames)
        return None
    scan.frames_by_series.setdefault(series_uid, []).extend(frames)
    return None


def _series_of(header: Dataset | None) -> str:
    try:
        return str(header.get("SeriesInstanceUID", "")) if header is not None else ""
    except DATA_ERRORS:
        return ""


def read_reference_series(
    source: str | Path | Sequence[str | Path],
    series_instance_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    preferred_series_uids: Iterable[str] = (),
    spacing_tolerance: float = 0.01,
    progress: ProgressCallback | None = None,
    allow_missing_slices: bool = False,
) -> ReferenceSeries:
    """Read a reference image series from a folder (recursively), a file or a list of them.

    See :meth:`SeriesScan.select` for the parameters and errors.
    """
    return scan_series(source, progress).select(
        series_instance_uid, frame_of_reference_uid, preferred_series_uids, spacing_tolerance, allow_missing_slices
    )


def _collect_files(source: str | Path | Sequence[str | Path]) -> Iterable[Path]:
    items = [source] if isinstance(source, (str, Path)) else list(source)
    for item in items:
        path = Path(item)
        if path.is_dir():
            yield from walk_files(path)
        elif path.is_file():
            yield path
        else:
            raise ReferenceSeriesError(f"{path}: no such file or folder")


def _describe_skipped(skipped: dict[str, int]) -> str:
    if not skipped:
        return "no files"
    return ", ".join(f"{count} {reason}" for reason, count in sorted(skipped.items()))

"""Finding image series among files: every header read once, grouped by series, then one series
chosen and assembled into a :class:`~dicomlabelmap.dicom.images.ReferenceSeries`."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DATA_ERRORS, GeometryError, InvalidDicomError, ReferenceSeriesError, ResourceLimitError
from ..progress import ProgressCallback, report
from .images import NO_SERIES_UID, ReferenceSeries, assemble
from .slices import ImageFrame, frames_of, non_image_reason, read_header, walk_files

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

        Raises
        ------
        ReferenceSeriesError
            When no image series is found, the choice is ambiguous (the message lists the
            series), or the chosen series is not a regular grid.
        """
        summaries = self.summaries()
        if not summaries:
            raise ReferenceSeriesError(f"no image series found ({_describe_skipped(self.skipped)})")
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
        skipped_here = [(path, reason) for path, reason, uid in self.skipped_files if uid in ("", chosen)]
        try:
            series = assemble(chosen, self.frames_by_series[chosen], dict(self.skipped), spacing_tolerance, allow_missing_slices)
        except ReferenceSeriesError as error:
            own = [f"{path}: {reason}" for path, reason, uid in self.skipped_files if uid == chosen]
            if own:
                raise ReferenceSeriesError(f"{error} ({len(own)} file(s) of this series were skipped: {'; '.join(own[:3])})") from error
            raise
        series.skipped_files = [(str(path), reason) for path, reason in skipped_here]
        logger.info(
            "reference series %s chosen out of %d: %d slice(s), grid %s", chosen, len(summaries), len(series.slices), series.geometry.shape
        )
        return series


def scan_series(source: str | Path | Sequence[str | Path], progress: ProgressCallback | None = None) -> SeriesScan:
    """Read the headers of every file under ``source`` (a folder, searched recursively, a file,
    or a list of both) and group the images by series."""
    paths = list(_collect_files(source))
    frames_by_series: dict[str, list[ImageFrame]] = defaultdict(list)
    skipped: Counter[str] = Counter()
    skipped_files: list[tuple[str, str, str]] = []
    seen_instances: set[str] = set()

    def skip(path: Path, reason: str, detail: str | None = None, series_uid: str = "") -> None:
        skipped[reason] += 1
        skipped_files.append((str(path), detail or reason, series_uid))

    for index, path in enumerate(paths):
        report(progress, index / max(1, len(paths)), f"Reading {path.name}")
        try:
            dataset = read_header(path)
        except ResourceLimitError as error:
            logger.warning("skipping %s: %s", path, error)
            skip(path, "exceeds resource limits", f"exceeds resource limits ({error})")
            continue
        if dataset is None:
            skip(path, "not DICOM")
            continue
        try:
            reason = non_image_reason(dataset)
            sop_instance_uid = str(dataset.get("SOPInstanceUID", ""))
            series_uid = str(dataset.get("SeriesInstanceUID", "")) or NO_SERIES_UID
        except DATA_ERRORS as error:
            logger.warning("skipping %s: unreadable header (%s)", path, error)
            skip(path, "unreadable header", f"unreadable header ({error})")
            continue
        if reason is not None:
            skip(path, reason)
            continue
        if sop_instance_uid and sop_instance_uid in seen_instances:
            skip(path, "duplicate SOP Instance UID", f"duplicate SOP Instance UID {sop_instance_uid}", series_uid)
            continue
        try:
            frames = frames_of(path, dataset)
        except (GeometryError, InvalidDicomError) + DATA_ERRORS as error:
            logger.warning("skipping %s: %s", path, error)
            detail = getattr(error, "reason", str(error))
            attribute = getattr(error, "attribute", None)
            skip(
                path,
                f"invalid image geometry ({attribute})" if attribute else "invalid image geometry",
                f"invalid image geometry: {detail}",
                series_uid,
            )
            continue
        seen_instances.add(sop_instance_uid)
        frames_by_series[series_uid].extend(frames)
    report(progress, 1.0, "Read headers")
    logger.info(
        "read the headers of %d file(s): %d image series, %d file(s) skipped", len(paths), len(frames_by_series), sum(skipped.values())
    )
    return SeriesScan(dict(frames_by_series), dict(skipped), skipped_files)


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

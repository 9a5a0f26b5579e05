"""One batch input converted in a worker: the :class:`Job` (input, reference files, output
folder), the run's :class:`BatchSettings` (the same for every job), and :func:`run_job`.

A job writes into a staging folder beside its output folder and renames it into place once
every output was written and verified and ``result.json`` (written last) says so: the folder
appears complete or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DATA_ERRORS, DicomLabelMapError, GeometryError, ReferenceSeriesError
from ..findings import Severity
from ..outputs import atomic_output

if TYPE_CHECKING:
    from ..model.scheme import LabelScheme
    from ..rtstruct.rasterize import RasterOptions
    from ..seg.writer import SegWriteOptions

RESULT_FILE = "result.json"


class InputKind(str, Enum):
    """What a batch input is."""

    RTSTRUCT = "rtstruct"
    SEG = "seg"

    def __str__(self) -> str:
        return self.value


class JobStatus(str, Enum):
    """How a batch input ended."""

    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped (done before)"
    NOT_RUN = "not run (interrupted)"

    def __str__(self) -> str:
        return self.value

    @property
    def done(self) -> bool:
        """Converted, in this run or an earlier one."""
        return self in (JobStatus.OK, JobStatus.SKIPPED)


class OutputFormat(str, Enum):
    """What a batch writes for an RT Structure Set (SEGs always become Label Map SEG)."""

    LABELMAP_SEG = "labelmap-seg"
    SEG_NRRD = "seg.nrrd"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class BatchSettings:
    """What every job of a run shares: outputs, Label Map SEG write options, the label scheme."""

    seg_options: SegWriteOptions
    formats: tuple[OutputFormat, ...] = (OutputFormat.LABELMAP_SEG,)
    #: Accept reference series with missing slices (grid kept, positions empty).
    allow_missing_slices: bool = False
    #: The label scheme for RT Structure Sets (same labels for every patient).
    scheme: LabelScheme | None = None
    #: How contours are drawn (``None``: the defaults), e.g. ``skip_bad_contours``.
    raster_options: RasterOptions | None = None

    def raster_key(self, kind: InputKind) -> Any:
        """What identifies the raster options an input of ``kind`` is converted with (``None``
        for the defaults, so results written before the options existed still count)."""
        if self.raster_options is None or kind is not InputKind.RTSTRUCT:
            return None
        from ..rtstruct.rasterize import RasterOptions

        changed = {key: value for key, value in asdict(self.raster_options).items() if value != getattr(RasterOptions(), key)}
        return changed or None

    def scheme_key(self, kind: InputKind) -> Any:
        """What identifies the scheme an input of ``kind`` is converted with (a changed scheme
        makes a re-run convert again; SEGs take no scheme)."""
        if self.scheme is None or kind is not InputKind.RTSTRUCT:
            return None
        return json.loads(json.dumps(self.scheme.to_dict() | {"labels": [asdict(label) for label in self.scheme.labels]}))


@dataclass
class Job:
    """One input to convert."""

    kind: InputKind
    path: str
    #: Files the reference series is searched in (RTSTRUCT), or the reference series' files (SEG).
    reference_files: list[str]
    output_dir: str


@dataclass
class JobResult:
    input: str
    kind: InputKind
    status: JobStatus
    output_dir: str = ""
    outputs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    reason: str = ""
    #: With a label scheme: the labels this input holds, and those it lacks.
    labels_found: list[str] = field(default_factory=list)
    labels_missing: list[str] = field(default_factory=list)
    #: ERROR-level findings of a converted input (ROIs that failed), among ``warnings``.
    errors: int = 0

    @classmethod
    def failed(cls, job: Job, reason: str) -> JobResult:
        return cls(job.path, job.kind, JobStatus.FAILED, job.output_dir, reason=reason)

    @classmethod
    def from_result_file(cls, job: Job, status: JobStatus, earlier: dict[str, Any]) -> JobResult:
        """The result an earlier (or unreported) run left in the job's ``result.json``."""
        return cls(
            job.path,
            job.kind,
            status,
            job.output_dir,
            earlier.get("outputs", []),
            earlier.get("warnings", []),
            labels_found=earlier.get("labels_found", []),
            labels_missing=earlier.get("labels_missing", []),
            errors=int(earlier.get("errors", 0) or 0),
        )


def run_job(job: Job, settings: BatchSettings) -> JobResult:
    """Convert one input (in a worker process); never raises."""
    result = JobResult(job.path, job.kind, JobStatus.FAILED, job.output_dir)
    try:
        _convert(job, settings, result)
        result.status = JobStatus.OK
    except DicomLabelMapError as error:
        result.reason = str(error)
    except DATA_ERRORS + (MemoryError,) as error:
        result.reason = f"{type(error).__name__}: {error}"
    return result


def staging_folder(folder: Path) -> Path:
    """Where a job's outputs are written before the folder is renamed into place."""
    return folder.with_name(folder.name + ".partial")


def remove_tree(folder: Path) -> None:
    """Remove a folder and everything in it (a staging folder may hold a killed writer's own
    staging folder)."""
    if folder.is_dir():
        shutil.rmtree(folder)


def _convert(job: Job, settings: BatchSettings, result: JobResult) -> None:
    folder = Path(job.output_dir)
    staging = staging_folder(folder)
    remove_tree(staging)
    staging.mkdir(parents=True)
    try:
        convert = _convert_rtstruct if job.kind is InputKind.RTSTRUCT else _convert_seg
        report = convert(job, settings, result, staging)
        outputs = sorted(p.name for p in staging.iterdir())
        with atomic_output(staging / RESULT_FILE) as temporary:
            temporary.write_text(
                json.dumps(
                    {
                        "input": job.path,
                        "outputs": outputs,
                        "warnings": result.warnings,
                        "labels_found": result.labels_found,
                        "labels_missing": result.labels_missing,
                        "errors": result.errors,
                        "scheme": settings.scheme_key(job.kind),
                        "raster_options": settings.raster_key(job.kind),
                        "report": report,
                    }
                )
            )
        remove_tree(folder)
        os.replace(staging, folder)  # the folder appears complete, with its result.json, or not at all
        result.outputs = outputs
    finally:
        remove_tree(staging)


def _convert_rtstruct(job: Job, settings: BatchSettings, result: JobResult, staging: Path) -> dict[str, Any]:
    from ..rtstruct.conversion import rtstruct_to_labels
    from ..seg.writer import write_label_map_segs

    if not job.reference_files:
        raise DicomLabelMapError("no image series found for it in the input folder")
    from ..rtstruct.rasterize import RasterOptions

    conversion = rtstruct_to_labels(
        job.path,
        job.reference_files,
        options=settings.raster_options or RasterOptions(),
        allow_missing_slices=settings.allow_missing_slices,
        scheme=settings.scheme,
    )
    if not conversion.rois and conversion.assignments:
        raise DicomLabelMapError(f"the label scheme selects none of its {len(conversion.assignments)} ROIs")
    result.warnings = [str(f) for f in conversion.findings]
    result.errors = sum(f.severity is Severity.ERROR for f in conversion.findings)
    result.labels_found, result.labels_missing = conversion.labels_found, conversion.labels_missing
    if OutputFormat.SEG_NRRD in settings.formats:
        from ..files.labelfiles import write_label_file

        write_label_file(staging / "labels.seg.nrrd", conversion.label_volumes)
    if OutputFormat.LABELMAP_SEG in settings.formats:
        write_label_map_segs(conversion.label_volumes, conversion.reference, staging, settings.seg_options)
    return conversion.to_dict()


def _convert_seg(job: Job, settings: BatchSettings, result: JobResult, staging: Path) -> dict[str, Any]:
    from ..dicom.scan import read_reference_series
    from ..seg.convert import convert_to_label_map_seg

    reference, note = None, "reference series not found"
    if job.reference_files:
        try:
            reference = read_reference_series(job.reference_files, allow_missing_slices=settings.allow_missing_slices)
        except (ReferenceSeriesError, GeometryError) as error:
            note = f"reference series unusable ({error})"
    try:
        contents, _ = convert_to_label_map_seg(job.path, staging, reference, settings.seg_options)
    except GeometryError as error:  # the series found does not fit this SEG: use its own frames
        note = f"reference series does not fit ({error})"
        reference = None
        contents, _ = convert_to_label_map_seg(job.path, staging, None, settings.seg_options)
    result.warnings = [str(f) for f in contents.findings]
    result.errors = sum(f.severity is Severity.ERROR for f in contents.findings)
    if reference is None:
        result.warnings.append(f"{note}: the grid was rebuilt from the SEG's own frames")
    return {"segmentation_type": contents.segmentation_type, "segments": len(contents.segments)}

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
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import DATA_ERRORS, DicomLabelMapError, GeometryError, ReferenceSeriesError
from ..findings import Severity
from ..outputs import atomic_output
from .settings import BatchSettings, InputKind, OutputFormat

__all__ = ["BatchSettings", "InputKind", "Job", "JobResult", "JobStatus", "OutputFormat", "run_job"]

RESULT_FILE = "result.json"


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


@dataclass
class Job:
    """One input to convert."""

    kind: InputKind
    path: str
    #: Files the reference series is searched in (RTSTRUCT), or the reference series' files (SEG).
    reference_files: list[str]
    output_dir: str
    #: The other instances of the input's series (a Label Map SEG of several layers), read with it.
    companions: list[str] = field(default_factory=list)


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
    #: Where the input came from (patient, study, series and structure set UIDs, modality).
    source: dict[str, str] = field(default_factory=dict)
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
            source=earlier.get("source", {}),
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
        convert = {InputKind.RTSTRUCT: _convert_rtstruct, InputKind.SEG: _convert_seg, InputKind.LABEL_FILE: _convert_label_file}[job.kind]
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
                        "source": result.source,
                        "errors": result.errors,
                        "scheme": settings.scheme_key(job.kind),
                        "settings": settings.outputs_key(),
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
    from ..rtstruct.rasterize import RasterOptions
    from .writers import nothing_selected, source_of, write_rtstruct_outputs

    if not job.reference_files:
        raise DicomLabelMapError("no image series found for it in the input folder")
    conversion = rtstruct_to_labels(
        job.path,
        job.reference_files,
        options=settings.raster_options or RasterOptions(),
        allow_missing_slices=settings.allow_missing_slices,
        scheme=settings.scheme,
    )
    selection = nothing_selected(conversion)
    result.labels_found, result.labels_missing = conversion.labels_found, conversion.labels_missing
    result.source = source_of(conversion)
    written = write_rtstruct_outputs(conversion, settings, staging)
    # after writing: it may add findings (a new Frame of Reference)
    result.warnings = [str(f) for f in conversion.findings] + selection + written
    result.errors = sum(f.severity is Severity.ERROR for f in conversion.findings)
    return conversion.to_dict()


def _convert_label_file(job: Job, settings: BatchSettings, result: JobResult, staging: Path) -> dict[str, Any]:
    """A label file listed beside its reference series: ``RS.dcm`` (and the image when asked)."""
    from ..export import read_labels
    from .writers import write_contour_outputs

    labels = read_labels(job.path, job.reference_files, allow_missing_slices=settings.allow_missing_slices)
    result.warnings = [f"note: {note}" for note in labels.notes]
    written, warnings = write_contour_outputs(labels.volumes, labels.reference, settings, staging)
    result.warnings += warnings
    return written


def _convert_seg(job: Job, settings: BatchSettings, result: JobResult, staging: Path) -> dict[str, Any]:
    if not settings.writes_label_map_seg_for_segs or _is_label_map(job.path):
        return _seg_to_contours(job, settings, result, staging)
    from ..dicom.scan import read_reference_series
    from ..seg.convert import convert_to_label_map_seg
    from .writers import write_contour_outputs, write_seg_outputs

    reference, note = None, "reference series not found"
    if job.reference_files:
        try:
            reference = read_reference_series(job.reference_files, allow_missing_slices=settings.allow_missing_slices)
        except (ReferenceSeriesError, GeometryError) as error:
            note = f"reference series unusable ({error})"
    if reference is None and settings.image_suffix is not None:
        raise DicomLabelMapError(f"--image asks for its reference series' image, and its {note}")
    try:
        contents, _ = convert_to_label_map_seg(job.path, staging, reference, settings.seg_options)
    except GeometryError as error:  # the series found does not fit this SEG: use its own frames
        if settings.image_suffix is not None:
            raise DicomLabelMapError(f"--image asks for its reference series' image, and the series does not fit it ({error})") from error
        note = f"reference series does not fit ({error})"
        reference = None
        contents, _ = convert_to_label_map_seg(job.path, staging, None, settings.seg_options)
    result.warnings = [str(f) for f in contents.findings]
    result.errors = sum(f.severity is Severity.ERROR for f in contents.findings)
    if reference is None:
        if OutputFormat.RTSTRUCT in settings.formats:
            raise DicomLabelMapError(f"--format rtstruct needs the series the SEG was drawn on, and its {note}")
        result.warnings.append(f"{note}: the grid was rebuilt from the SEG's own frames")
    result.warnings += write_seg_outputs(contents.volumes, reference, settings, staging)
    report = {"segmentation_type": contents.segmentation_type, "segments": len(contents.segments)}
    if reference is not None and OutputFormat.RTSTRUCT in settings.formats:
        written, warnings = write_contour_outputs(contents.volumes, reference, settings, staging, image=False)
        result.warnings += warnings
        report["rtstruct"] = written
    return report


def _is_label_map(path: str) -> bool:
    """Whether a SEG input is a Label Map SEG (an input only with ``--format rtstruct``); a header
    that cannot be read is left to the SEG reader, which names the problem."""
    from ..dicom.read import read_header
    from ..dicom.uids import LABEL_MAP_SEGMENTATION_STORAGE

    try:
        return str(read_header(Path(path)).get("SOPClassUID", "")) == LABEL_MAP_SEGMENTATION_STORAGE
    except (DicomLabelMapError, *DATA_ERRORS):
        return False


def _seg_to_contours(job: Job, settings: BatchSettings, result: JobResult, staging: Path) -> dict[str, Any]:
    """A SEG (any type) written as ``RS.dcm`` on the series it references (``--format rtstruct``
    alone): the label file and the image too when asked."""
    from ..export import read_labels
    from .writers import write_contour_outputs, write_seg_outputs

    if not job.reference_files:
        raise DicomLabelMapError(
            "--format rtstruct needs the series the SEG was drawn on, and no image of the series it references is in the input folder"
        )
    labels = read_labels([job.path, *job.companions], job.reference_files, allow_missing_slices=settings.allow_missing_slices)
    result.warnings = list(labels.notes)
    written, warnings = write_contour_outputs(labels.volumes, labels.reference, settings, staging, image=False)
    result.warnings += warnings + write_seg_outputs(labels.volumes, labels.reference, settings, staging)
    return written

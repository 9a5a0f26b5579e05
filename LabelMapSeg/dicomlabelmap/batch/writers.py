"""What a batch job writes into its staging folder: every output ``rtstruct`` can write (label
files with their tables, Label Map SEG, one mask per label, COCO masks, a preview, the image),
as :class:`~dicomlabelmap.batch.jobs.BatchSettings` asks; and where an input came from.

Everything that can fail on bad input (decoding the image above all) runs before the first file
is written; the job's folder appears only when every output was written and verified.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DicomLabelMapError
from .settings import BatchSettings, OutputFormat

if TYPE_CHECKING:
    from ..dicom.images import ReferenceSeries
    from ..dicom.pixels import SeriesImage
    from ..model.labels import LabelVolume
    from ..rtstruct.conversion import RtStructConversion

#: Names inside a job's folder.
LABELS_STEM, IMAGE_STEM, MASK_FOLDER, COCO_FILE, PREVIEW_FILE = "labels", "image", "masks", "coco.json", "preview.png"
RTSTRUCT_FILE = "RS.dcm"


def nothing_selected(conversion: RtStructConversion) -> list[str]:
    """When no ROI was selected: with a scheme that has labels, the input is converted all the
    same (empty label maps, every label missing) and a warning says why; with a selection alone
    (``--include``/``--exclude`` without labels) there is nothing to write: an error naming the ROIs."""
    reason = conversion.nothing_selected()
    if reason is None:
        return []
    if conversion.scheme is None or not conversion.scheme.has_labels:
        raise DicomLabelMapError(reason)
    return [f"warning: {reason}; its label maps hold no label (every label of the scheme is missing)"]


def source_of(conversion: RtStructConversion) -> dict[str, str]:
    """Where a converted RT Structure Set and its image series came from (for data-set manifests)."""
    attributes = conversion.reference.attributes
    dataset = conversion.structure_set.dataset
    own = (lambda keyword: str(dataset.get(keyword, "") or "")) if dataset is not None else (lambda keyword: "")
    return {
        "patient_id": str(attributes.get("PatientID", "") or "") or own("PatientID"),
        "study_instance_uid": str(attributes.get("StudyInstanceUID", "") or "") or own("StudyInstanceUID"),
        "series_instance_uid": conversion.reference.series_instance_uid,
        "frame_of_reference_uid": conversion.reference.frame_of_reference_uid or "",
        "modality": conversion.reference.modality,
        "rtstruct_sop_instance_uid": conversion.structure_set.sop_instance_uid,
        "rtstruct_series_instance_uid": own("SeriesInstanceUID"),
        "structure_set_label": conversion.structure_set.label,
    }


def write_rtstruct_outputs(conversion: RtStructConversion, settings: BatchSettings, staging: Path) -> list[str]:
    """Write what ``settings`` asks for an RT Structure Set into ``staging``; returns warnings."""
    from ..files.labelfiles import write_label_file

    image = _decode_image(conversion.reference, settings)
    volumes, absent = conversion.label_volumes, conversion.absent_labels()
    for suffix in settings.label_file_suffixes():  # each label file with its own tables (labels.nrrd.labels.json)
        write_label_file(
            staging / f"{LABELS_STEM}{suffix}",
            volumes,
            split_layers=settings.split_layers and suffix != ".seg.nrrd",
            compression_level=settings.compression_level,
            absent_labels=absent,
        )
    if OutputFormat.LABELMAP_SEG in settings.formats:
        from ..seg.writer import write_label_map_segs

        write_label_map_segs(volumes, conversion.reference, staging, settings.seg_options)
    if settings.split_rois:
        from ..files.maskfiles import write_label_masks

        (staging / MASK_FOLDER).mkdir()
        write_label_masks(conversion, staging / MASK_FOLDER, settings.mask_suffix, compression_level=settings.compression_level)
    if OutputFormat.COCO_RLE in settings.formats:
        from ..files.coco import write_coco

        write_coco(conversion, staging / COCO_FILE)
    if settings.preview:
        from ..files.preview import write_preview

        write_preview(conversion, staging / PREVIEW_FILE)
    return _write_image(image, settings, staging)


def write_seg_outputs(
    volumes: Sequence[LabelVolume], reference: ReferenceSeries | None, settings: BatchSettings, staging: Path
) -> list[str]:
    """Besides the Label Map SEG a SEG input always gets: its label file (``LABEL_FILE``) and
    its reference series' image (``image_suffix``); returns warnings."""
    from ..files.labelfiles import write_label_file

    image = _decode_image(reference, settings) if reference is not None else None
    if OutputFormat.LABEL_FILE in settings.formats:
        write_label_file(
            staging / f"{LABELS_STEM}{settings.label_suffix}",
            volumes,
            split_layers=settings.split_layers,
            compression_level=settings.compression_level,
        )
    return _write_image(image, settings, staging)


def write_contour_outputs(
    volumes: Sequence[LabelVolume], reference: ReferenceSeries, settings: BatchSettings, staging: Path, image: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """``RS.dcm`` (``RTSTRUCT``): the layers as an RT Structure Set, read back and compared; and the
    reference image when asked and ``image``. Returns the writer's report and warnings."""
    from ..rtstruct.writer import ContourWriteOptions, write_rtstruct

    decoded = _decode_image(reference, settings) if image else None
    written = write_rtstruct(volumes, reference, staging / RTSTRUCT_FILE, settings.contour_options or ContourWriteOptions())
    warnings = [str(finding) for finding in written.findings]
    return written.to_dict() | {"output": RTSTRUCT_FILE}, warnings + _write_image(decoded, settings, staging)


def _decode_image(reference: ReferenceSeries, settings: BatchSettings) -> SeriesImage | None:
    if settings.image_suffix is None:
        return None
    from ..dicom.pixels import read_series_image

    return read_series_image(reference)


def _write_image(image: SeriesImage | None, settings: BatchSettings, staging: Path) -> list[str]:
    if image is None or settings.image_suffix is None:
        return []
    from ..files.imagefiles import write_image_file

    write_image_file(staging / f"{IMAGE_STEM}{settings.image_suffix}", image, compression_level=settings.compression_level)
    return [str(finding) for finding in image.findings]

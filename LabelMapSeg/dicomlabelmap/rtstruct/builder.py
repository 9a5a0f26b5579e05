"""RT Structure Set datasets (PS3.3 A.19): what :mod:`~dicomlabelmap.rtstruct.writer` puts in the file.

Modules: Patient, General Study, Patient Study and Frame of Reference copied from the reference
series; RT Series (new Series Instance UID, Modality RTSTRUCT); General Equipment; Structure Set (C.8.8.5: label,
date and time, Referenced Frame of Reference with RT Referenced Study / Series and a Contour Image
Sequence listing every image of the reference series, Structure Set ROI Sequence); ROI Contour
(C.8.8.6: ROI Display Color, one Contour Image Sequence per contour naming its slice's image);
RT ROI Observations (C.8.8.8: RT ROI Interpreted Type, ROI Interpreter); SOP Common with
Specific Character Set ISO_IR 192 (UTF-8), so names in any script are kept.

The file is written in Implicit VR Little Endian, the default transfer syntax every reader
takes: its 32-bit value lengths hold Contour Data of any length, where Explicit VR limits a DS
value to 65,534 bytes (about 5,000 points). The ROI Contour Sequence, which holds nearly all the
bytes, is encoded here directly rather than through one pydicom Dataset per contour.
"""

from __future__ import annotations

import datetime
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import correct_ambiguous_vr
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import UID, ImplicitVRLittleEndian, generate_uid

from .._version import __version__
from ..dicom.images import ReferenceSeries, SourceSlice
from ..dicom.uids import RT_STRUCTURE_SET_STORAGE
from .reader import ContourGeometricType

FloatArray = npt.NDArray[np.float64]

#: Referenced SOP Class UID of an RT Referenced Study item (Detached Study Management, retired
#: but required there by PS3.3 C.8.8.5 and written by every planning system).
STUDY_COMPONENT_CLASS = "1.2.840.10008.3.1.2.3.1"
_ROI_CONTOUR_SEQUENCE = 0x30060039
#: Largest DS value: 16 characters (PS3.5 6.2).
_DS_LENGTH = 16


@dataclass
class RoiContours:
    """One ROI as written: its Structure Set ROI, ROI Contour and RT ROI Observations content."""

    number: int
    name: str
    color: tuple[int, int, int]
    #: RT ROI Interpreted Type (3006,00A4); empty when unknown (Type 2).
    interpreted_type: str = ""
    #: ROI Generation Algorithm (3006,0036): AUTOMATIC, SEMIAUTOMATIC or MANUAL.
    generation_algorithm: str = "MANUAL"
    description: str = ""
    #: ``(slice k, (N, 3) LPS points, geometric type)`` per contour.
    contours: list[tuple[int, FloatArray, ContourGeometricType]] = field(default_factory=list)


@dataclass(frozen=True)
class StructureSetHeader:
    """The structure set's own values."""

    label: str = "LabelMapSeg"
    name: str = ""
    description: str = ""
    series_description: str = "RT Structure Set"
    series_number: int = 301
    #: Frame of Reference all ROIs lie in (the reference series'; a new one when it has none).
    frame_of_reference_uid: str = ""


def build_structure_set(
    rois: Sequence[RoiContours], reference: ReferenceSeries, header: StructureSetHeader = StructureSetHeader()
) -> Dataset:
    """The RT Structure Set dataset of ``rois`` drawn on ``reference``."""
    frame = header.frame_of_reference_uid or reference.geometry.frame_of_reference_uid or generate_uid()
    dataset = Dataset()
    _patient_study_series(dataset, reference, header)
    dataset.FrameOfReferenceUID = frame  # the Frame of Reference module is part of the IOD (PS3.3 A.19.3)
    if "PositionReferenceIndicator" not in dataset:
        dataset.PositionReferenceIndicator = ""
    dataset.ReferencedFrameOfReferenceSequence = DicomSequence([_referenced_frame(reference, frame)])
    dataset.StructureSetROISequence = DicomSequence([_structure_set_roi(roi, frame) for roi in rois])
    dataset.RTROIObservationsSequence = DicomSequence([_observation(roi, index) for index, roi in enumerate(rois, start=1)])
    encoded = b"".join(_item(_roi_contour_item(roi, reference.slices)) for roi in rois)
    dataset[_ROI_CONTOUR_SEQUENCE] = RawDataElement(Tag(_ROI_CONTOUR_SEQUENCE), "SQ", len(encoded), encoded, 0, True, True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(RT_STRUCTURE_SET_STORAGE)
    meta.MediaStorageSOPInstanceUID = UID(dataset.SOPInstanceUID)
    meta.TransferSyntaxUID = ImplicitVRLittleEndian
    dataset.file_meta = meta
    return dataset


def save_structure_set(dataset: Dataset, path: Path) -> None:
    """Write the dataset as built (the raw ROI Contour Sequence as it is)."""
    raw = dataset.get_item(_ROI_CONTOUR_SEQUENCE)
    del dataset[_ROI_CONTOUR_SEQUENCE]
    correct_ambiguous_vr(dataset, True)
    dataset[_ROI_CONTOUR_SEQUENCE] = raw
    dataset.set_original_encoding(True, True, dataset._character_set)
    with warnings.catch_warnings():
        # Values copied from the source are reported by the series reader, naming the attribute.
        warnings.simplefilter("ignore", UserWarning)
        dataset.save_as(path, enforce_file_format=True)


# -- modules ----------------------------------------------------------------------------------------
def _patient_study_series(dataset: Dataset, reference: ReferenceSeries, header: StructureSetHeader) -> None:
    now = datetime.datetime.now()
    for element in reference.attributes:
        dataset.add(element)
    dataset.SpecificCharacterSet = "ISO_IR 192"
    dataset.InstanceCreationDate, dataset.InstanceCreationTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    dataset.SOPClassUID = RT_STRUCTURE_SET_STORAGE
    dataset.SOPInstanceUID = generate_uid()
    dataset.Modality = "RTSTRUCT"
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SeriesNumber = header.series_number
    dataset.SeriesDate, dataset.SeriesTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    dataset.SeriesDescription = header.series_description
    dataset.OperatorsName = ""
    dataset.Manufacturer = "LabelMapSeg"
    dataset.ManufacturerModelName = "dicomlabelmap"
    dataset.SoftwareVersions = __version__
    dataset.InstanceNumber = 1
    dataset.StructureSetLabel = header.label or "LabelMapSeg"
    if header.name:
        dataset.StructureSetName = header.name[:64]
    if header.description:
        dataset.StructureSetDescription = header.description
    dataset.StructureSetDate, dataset.StructureSetTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime"):
        if keyword not in dataset:
            setattr(dataset, keyword, "")
    for keyword in ("ReferringPhysicianName", "StudyID", "AccessionNumber"):
        if keyword not in dataset:
            setattr(dataset, keyword, "")
    if dataset.get("PatientIdentityRemoved") == "YES" and not {"DeidentificationMethod", "DeidentificationMethodCodeSequence"} & set(
        dataset.dir()
    ):
        # Type 1C once identity is removed (PS3.3 C.7.1.1); anonymisers often leave it out.
        dataset.DeidentificationMethod = "not stated by the source images"


def _image_item(source: SourceSlice) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = source.sop_class_uid
    item.ReferencedSOPInstanceUID = source.sop_instance_uid
    if source.frame_number is not None:
        item.ReferencedFrameNumber = source.frame_number
    return item


def _referenced_frame(reference: ReferenceSeries, frame_uid: str) -> Dataset:
    """Referenced Frame of Reference > RT Referenced Study > RT Referenced Series > Contour
    Image Sequence: every image of the reference series (PS3.3 C.8.8.5)."""
    series = Dataset()
    series.SeriesInstanceUID = reference.series_instance_uid
    series.ContourImageSequence = DicomSequence([_image_item(source) for source in reference.slices if source.sop_instance_uid])
    study = Dataset()
    study.ReferencedSOPClassUID = STUDY_COMPONENT_CLASS
    study.ReferencedSOPInstanceUID = reference.study_instance_uid
    study.RTReferencedSeriesSequence = DicomSequence([series])
    frame = Dataset()
    frame.FrameOfReferenceUID = frame_uid
    frame.RTReferencedStudySequence = DicomSequence([study])
    return frame


def _structure_set_roi(roi: RoiContours, frame_uid: str) -> Dataset:
    item = Dataset()
    item.ROINumber = roi.number
    item.ReferencedFrameOfReferenceUID = frame_uid
    item.ROIName = roi.name[:64]
    if roi.description:
        item.ROIDescription = roi.description
    item.ROIGenerationAlgorithm = roi.generation_algorithm
    return item


def _observation(roi: RoiContours, number: int) -> Dataset:
    item = Dataset()
    item.ObservationNumber = number
    item.ReferencedROINumber = roi.number
    item.RTROIInterpretedType = roi.interpreted_type
    item.ROIInterpreter = ""
    return item


# -- ROI Contour Sequence, Implicit VR Little Endian ---------------------------------------------------
def _element(tag: int, value: bytes, pad: bytes = b" ") -> bytes:
    if len(value) % 2:
        value += pad
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def _item(content: bytes) -> bytes:
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(content)) + content


def _roi_contour_item(roi: RoiContours, slices: Sequence[SourceSlice]) -> bytes:
    """ROI Display Color, Contour Sequence (if any contour), Referenced ROI Number: tag order."""
    content = _element(0x3006002A, "\\".join(str(int(c)) for c in roi.color).encode("ascii"))
    if roi.contours:
        texts = decimal_texts(np.concatenate([points.reshape(-1) for _, points, _ in roi.contours]))
        items = []
        done = 0
        for k, points, geometric_type in roi.contours:
            values = texts[done : done + points.size]
            done += points.size
            items.append(_item(_contour_item(slices[k], geometric_type, len(points), "\\".join(values.tolist()))))
        content += _element(0x30060040, b"".join(items))
    content += _element(0x30060084, str(roi.number).encode("ascii"))
    return content


def _contour_item(source: SourceSlice, geometric_type: ContourGeometricType, count: int, data: str) -> bytes:
    """Contour Image Sequence (when the slice has an image), Contour Geometric Type, Number of
    Contour Points, Contour Data."""
    content = b""
    if source.sop_instance_uid:
        image = _element(0x00081150, source.sop_class_uid.encode("ascii"), b"\x00") + _element(
            0x00081155, source.sop_instance_uid.encode("ascii"), b"\x00"
        )
        if source.frame_number is not None:
            image += _element(0x00081160, str(source.frame_number).encode("ascii"))
        content += _element(0x30060016, _item(image))
    content += _element(0x30060042, geometric_type.value.encode("ascii"))
    content += _element(0x30060046, str(count).encode("ascii"))
    return content + _element(0x30060050, data.encode("ascii"))


def decimal_texts(values: FloatArray) -> npt.NDArray[np.object_]:
    """Each value as DS text (at most 16 characters, micrometre precision for coordinates up to
    a kilometre): distinct values are formatted once, as outlines on a grid repeat few values."""
    rounded = np.round(np.asarray(values, dtype=np.float64), 6) + 0.0  # + 0.0: no "-0"
    unique, inverse = np.unique(rounded, return_inverse=True)
    texts = np.array([decimal_text(value) for value in unique.tolist()], dtype=object)
    return texts[inverse.reshape(-1)]  # type: ignore[no-any-return]


def decimal_text(value: float) -> str:
    """One DS value: the shortest of 6 decimals or fewer that fits 16 characters."""
    for decimals in range(6, -1, -1):
        text = f"{value:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if text == "-0":
            text = "0"
        if len(text) <= _DS_LENGTH:
            return text
    return f"{value:.10g}"[:_DS_LENGTH]

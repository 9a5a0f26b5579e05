"""Label Map Segmentation writer (Supplement 243; SOP Class 1.2.840.10008.5.1.4.1.1.66.7).

One instance per label layer, all in one new series, on the reference series' grid: one frame
per reference slice (empty frames too, unless asked to omit them), each frame's Derivation
Image pointing at its source image (and frame), Plane Position per frame, Plane Orientation and
Pixel Measures shared, a Background segment 0 with Pixel Padding Value 0, Recommended Display
CIELab Value per segment (MONOCHROME2). Every file is read back and compared before it is
published.
"""

from __future__ import annotations

import datetime
import logging
import struct
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr, write_dataset, write_file_meta_info
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, generate_uid

from .._version import __version__
from ..dicom import rawencode
from ..dicom.codecs import SLOW_TO_ENCODE, TransferSyntax, encode_frame, register_with_pydicom
from ..dicom.copied import invalid_uid
from ..dicom.icc import srgb_profile
from ..dicom.images import NO_SERIES_UID, ReferenceSeries
from ..dicom.processes import can_fork, map_in_two_processes
from ..dicom.uids import LABEL_MAP_SEGMENTATION_STORAGE
from ..errors import DicomLabelMapError, GeometryError, OutputError
from ..findings import Finding, Severity
from ..model.geometry import ImageGeometry, describe_difference
from ..model.labels import LabelVolume
from ..model.segment import Code
from ..outputs import staged_series, write_verified
from ..progress import ProgressCallback, report
from .segments import background_segment, segment_item

logger = logging.getLogger(__name__)
register_with_pydicom()

_SOURCE_IMAGE = Code("121322", "DCM", "Source image for image processing operation")
_PER_FRAME_FUNCTIONAL_GROUPS = 0x52009230
_SEGMENTATION = Code("113076", "DCM", "Segmentation")
_IMAGE_POSITION_PATIENT = 0x00200032
_PLANE_POSITION_SEQUENCE = 0x00209113


@dataclass(frozen=True)
class SegWriteOptions:
    """How Label Map SEG instances are written."""

    transfer_syntax: TransferSyntax = TransferSyntax.RLE
    #: PALETTE COLOR with a Palette Color Lookup Table and an sRGB ICC profile, instead of
    #: MONOCHROME2 with Recommended Display CIELab Value per segment.
    palette_color: bool = False
    omit_empty_frames: bool = False
    series_description: str = "Label map segmentation"
    series_number: int = 300
    content_label: str = "SEGMENTATION"
    content_description: str = ""
    content_creator: str = ""
    #: Write a newly generated Frame of Reference UID when the reference series has none (or an
    #: invalid one); without it such a series is refused. Viewers that match objects by Frame of
    #: Reference will not overlay such a SEG on its series.
    new_frame_of_reference: bool = False
    #: 2: a forked helper process encodes, and decodes again for the check, half of the JPEG-LS
    #: or JPEG 2000 frames (Linux; the ``encode`` command uses it). The library's default is
    #: this process only.
    processes: int = 1

    @classmethod
    def from_words(cls, transfer_syntax: str | TransferSyntax = "rle", **options: Any) -> SegWriteOptions:
        """Options from what a user typed or chose (the transfer syntax by its command-line
        name, ``rle``, ``jpegls``, ...): the one place where those words become options."""
        return cls(transfer_syntax=TransferSyntax.from_word(transfer_syntax), **options)


def build_label_map_seg(
    volume: LabelVolume,
    reference: ReferenceSeries,
    options: SegWriteOptions = SegWriteOptions(),
    series_instance_uid: str | None = None,
    instance_number: int = 1,
    frame_of_reference_uid: str | None = None,
) -> Dataset:
    """The Label Map SEG dataset of one label layer. ``frame_of_reference_uid``: the one
    :func:`check_reference` chose (all instances of a series share it)."""
    _validate(volume, reference, options)
    if frame_of_reference_uid is None:
        frame_of_reference_uid, _ = check_reference(reference, options)
    dataset = Dataset()
    _patient_study_and_equipment(dataset, reference, options, series_instance_uid or generate_uid(), instance_number)
    dataset.FrameOfReferenceUID = frame_of_reference_uid
    frames = _frame_indices(volume, reference, options)
    _image_pixel(dataset, volume, len(frames), options.palette_color)
    _segments(dataset, volume, with_color=not options.palette_color)
    _dimensions_and_frames(dataset, reference, frames)
    every = len(frames) == volume.geometry.shape[0] and bool(np.all(frames == np.arange(len(frames))))
    pixels = volume.array if every else volume.array[frames]  # every frame: no copy
    _pixel_data(dataset, pixels, options.transfer_syntax, options.processes)
    return dataset


def write_label_map_segs(
    volumes: Sequence[LabelVolume],
    reference: ReferenceSeries,
    output_dir: str | Path,
    options: SegWriteOptions = SegWriteOptions(),
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> list[Path]:
    """Write one Label Map SEG per layer into ``output_dir`` (``LabelMapSEG_001.dcm``, ...),
    each read back and compared with its layer before it is published.

    Warnings about what the series could not give (a new Frame of Reference) are logged and
    added to ``reference.findings``, so that reports list them.

    Raises
    ------
    DicomLabelMapError
        When the reference series lacks what a Label Map SEG must copy (:func:`check_reference`).
    OutputError
        When the folder is missing, a file exists (without ``overwrite``), or a file read
        back differs from what was meant to be written (nothing is then left behind).
    """
    folder = Path(output_dir)
    frame_uid, notes = check_reference(reference, options)
    for note in notes:
        logger.warning("%s", note)
        reference.findings.append(note)
    verified_on = reference
    if frame_uid != reference.geometry.frame_of_reference_uid:
        geometry = reference.geometry
        verified_on = replace(
            reference, geometry=ImageGeometry(geometry.shape, geometry.origin, geometry.spacing, geometry.direction, frame_uid)
        )
    series_uid = generate_uid()
    names = [f"LabelMapSEG_{index + 1:03d}.dcm" for index in range(len(volumes))]
    # The whole series is staged, verified, then swapped in: the folder holds the old series or
    # the new one, never a mix, whatever fails or interrupts (outputs.staged_series).
    with staged_series(folder, names, overwrite, "LabelMapSEG_*.dcm") as staging:
        for index, (volume, name) in enumerate(zip(volumes, names, strict=True)):
            report(progress, index / max(1, len(volumes)), f"Writing layer {index + 1} of {len(volumes)}")
            dataset = build_label_map_seg(volume, reference, options, series_uid, index + 1, frame_uid)
            write_verified(
                staging / name, partial(_save, dataset), partial(_verify, volume=volume, reference=verified_on, processes=options.processes)
            )
            logger.info("%s: layer %d, %d segment(s), written and verified", folder / name, index + 1, len(volume.segments))
    report(progress, 1.0, "Written and verified")
    return [folder / name for name in names]


def check_reference(reference: ReferenceSeries, options: SegWriteOptions = SegWriteOptions()) -> tuple[str, list[Finding]]:
    """What a Label Map SEG must copy from its reference series, checked before anything is
    written: returns the Frame of Reference UID to write in and the warnings to report.

    Raises
    ------
    DicomLabelMapError
        Naming the attribute, when a Type 1 value the SEG copies is broken (:mod:`~dicomlabelmap.dicom.copied`),
        a source image's UIDs are not UIDs, or the series has no valid Frame of Reference UID and
        ``options.new_frame_of_reference`` is not set.
    """
    if not reference.study_instance_uid:
        raise DicomLabelMapError(
            "the reference series has no Study Instance UID (0020,000D) (an anonymiser emptied it?); a Label Map SEG "
            "joins the study of its source images"
        )
    for keyword, why in reference.refusals.items():
        if keyword != "FrameOfReferenceUID":
            raise DicomLabelMapError(f"cannot write a Label Map SEG: {why}, and the SEG must copy it (Type 1 in PS3.3)")
    series_problem = invalid_uid(reference.series_instance_uid if reference.series_instance_uid != NO_SERIES_UID else "")
    if series_problem and any(source.sop_instance_uid for source in reference.slices):
        raise DicomLabelMapError(
            f"cannot write a Label Map SEG: the reference series' Series Instance UID '{reference.series_instance_uid}' {series_problem}, "
            "and the SEG references the series by it (Referenced Series Sequence)"
        )
    for source in reference.slices:
        if not source.sop_instance_uid:
            continue
        for what, uid in (("SOP Instance UID", source.sop_instance_uid), ("SOP Class UID", source.sop_class_uid)):
            problem = invalid_uid(uid)
            if problem:
                raise DicomLabelMapError(
                    f"cannot write a Label Map SEG: {source.path.name}: {what} '{uid}' {problem}, and the SEG references its source "
                    "images by it (Source Image Sequence)"
                )
    uid = reference.geometry.frame_of_reference_uid or ""
    problem = invalid_uid(uid)
    if problem is None:
        return uid, []
    said = f"Frame of Reference UID '{uid}' {problem}" if uid else "Frame of Reference UID is missing or empty"
    if not options.new_frame_of_reference:
        raise DicomLabelMapError(
            f"cannot write a Label Map SEG: the reference series' {said}, and the SEG needs one (Type 1); give "
            "--new-frame-of-reference (SegWriteOptions(new_frame_of_reference=True)) to write a newly generated one, which "
            "viewers will not match with the series"
        )
    new = generate_uid()
    return new, [
        Finding(
            Severity.WARNING,
            f"the reference series' {said}; the Label Map SEG is written in a newly generated Frame of Reference {new} "
            "(--new-frame-of-reference): viewers that match objects by Frame of Reference will not overlay it on the series",
            attribute="FrameOfReferenceUID",
        )
    ]


# -- building steps ---------------------------------------------------------------------------
#: Distinct frames remembered so that repeats are encoded once.
_REPEATED_FRAMES = 8


def _validate(volume: LabelVolume, reference: ReferenceSeries, options: SegWriteOptions) -> None:
    if not options.transfer_syntax.writable:
        raise DicomLabelMapError(f"{options.transfer_syntax.value} is read, never written (retired transfer syntax)")
    if not any(source.sop_instance_uid for source in reference.slices):
        raise DicomLabelMapError(
            "the reference series has no source images (it was not read from DICOM, or its SOP Instance UIDs are empty); "
            "a Label Map SEG needs the DICOM images it was drawn on"
        )
    if not reference.study_instance_uid:
        raise DicomLabelMapError(
            "the reference series has no Study Instance UID (0020,000D) (an anonymiser emptied it?); a Label Map SEG "
            "joins the study of its source images"
        )
    if not volume.geometry.is_close(reference.geometry, 1e-3):
        raise GeometryError(
            f"the label map's grid differs from the reference series' grid: {describe_difference(volume.geometry, reference.geometry)}"
        )
    if any(s.number < 1 for s in volume.segments):
        raise DicomLabelMapError("segment numbers must be 1 or more (0 is the background)")
    missing = volume.present_numbers() - {s.number for s in volume.segments}
    if missing:
        raise DicomLabelMapError(f"label values {sorted(missing)} have no segment description")


def _patient_study_and_equipment(
    dataset: Dataset, reference: ReferenceSeries, options: SegWriteOptions, series_uid: str, instance_number: int
) -> None:
    now = datetime.datetime.now()
    for element in reference.attributes:
        dataset.add(element)
    dataset.SpecificCharacterSet = "ISO_IR 192"
    dataset.SOPClassUID = LABEL_MAP_SEGMENTATION_STORAGE
    dataset.SOPInstanceUID = generate_uid()
    dataset.Modality = "SEG"
    dataset.SeriesInstanceUID = series_uid
    dataset.SeriesNumber = options.series_number
    dataset.SeriesDescription = options.series_description[:64]
    dataset.InstanceNumber = instance_number
    dataset.SeriesDate = dataset.ContentDate = now.strftime("%Y%m%d")
    dataset.SeriesTime = dataset.ContentTime = now.strftime("%H%M%S")
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyDate",
        "StudyTime",
        "ReferringPhysicianName",
        "StudyID",
        "AccessionNumber",
    ):
        if keyword not in dataset:
            setattr(dataset, keyword, "")
    if "PositionReferenceIndicator" not in dataset:
        dataset.PositionReferenceIndicator = ""
    if dataset.get("PatientIdentityRemoved") == "YES" and not {"DeidentificationMethod", "DeidentificationMethodCodeSequence"} & set(
        dataset.dir()
    ):
        # Type 1C once identity is removed (PS3.3 C.7.1.1); anonymisers often leave it out.
        dataset.DeidentificationMethod = "not stated by the source images"
    dataset.Manufacturer = "LabelMapSeg"
    dataset.ManufacturerModelName = "dicomlabelmap"
    dataset.DeviceSerialNumber = "0"
    dataset.SoftwareVersions = __version__
    dataset.ImageType = ["DERIVED", "PRIMARY"]
    dataset.ContentLabel = "".join(c if c.isalnum() or c == "_" else "_" for c in options.content_label.upper())[:16] or "SEGMENTATION"
    dataset.ContentDescription = options.content_description[:64]
    dataset.ContentCreatorName = options.content_creator
    dataset.SegmentationType = "LABELMAP"
    dataset.SegmentsOverlap = "NO"
    series = Dataset()
    series.SeriesInstanceUID = reference.series_instance_uid
    instances: dict[str, str] = {}
    for source in reference.slices:
        if source.sop_instance_uid:  # missing slices and positions rebuilt without a source have none
            instances.setdefault(source.sop_instance_uid, source.sop_class_uid)
    series.ReferencedInstanceSequence = DicomSequence([_reference_item(cls, uid) for uid, cls in instances.items()])
    dataset.ReferencedSeriesSequence = DicomSequence([series])


def _reference_item(sop_class_uid: str, sop_instance_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class_uid
    item.ReferencedSOPInstanceUID = sop_instance_uid
    return item


def _frame_indices(volume: LabelVolume, reference: ReferenceSeries, options: SegWriteOptions) -> npt.NDArray[np.int64]:
    """Slices to write: all, or the non-empty ones; never a slice without a known source image
    (a reference rebuilt from another SEG lacks them where that SEG had no frame)."""
    occupied = volume.array.reshape(volume.array.shape[0], -1).any(axis=1)
    known = np.array([bool(source.sop_instance_uid) for source in reference.slices])
    unknown_but_drawn = np.flatnonzero(occupied & ~known)
    if unknown_but_drawn.size:
        k = int(unknown_but_drawn[0])
        unusable = reference.slices[k].path
        where = f"its image {unusable} cannot be used" if unusable.name else "the reference series has no image there"
        position = ", ".join(f"{round(v, 3) + 0.0:g}" for v in reference.slices[k].position)  # + 0.0: no "-0"
        raise DicomLabelMapError(
            f"slice {k} (counted from 0, at {position} mm) holds labels but {where} (a missing slice, or a position rebuilt "
            "without its source); a Label Map SEG frame must reference its source image"
        )
    chosen = np.flatnonzero(occupied if options.omit_empty_frames else known)
    # A SEG needs at least one frame; an all-empty label map keeps its first known slice.
    return chosen if chosen.size else np.flatnonzero(known)[:1]


def _image_pixel(dataset: Dataset, volume: LabelVolume, frame_count: int, palette_color: bool) -> None:
    bits = 16 if volume.array.dtype.itemsize == 2 else 8
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "PALETTE COLOR" if palette_color else "MONOCHROME2"
    if palette_color:
        _palette(dataset, volume)
    dataset.Rows, dataset.Columns = volume.geometry.shape[1], volume.geometry.shape[2]
    dataset.BitsAllocated = dataset.BitsStored = bits
    dataset.HighBit = bits - 1
    dataset.PixelRepresentation = 0
    dataset.PixelPaddingValue = 0
    dataset.LossyImageCompression = "00"
    dataset.NumberOfFrames = frame_count


def _palette(dataset: Dataset, volume: LabelVolume) -> None:
    """Palette Color Lookup Table + sRGB ICC Profile; entry ``n`` is segment ``n``'s colour and
    0 (background) is black. Entries are 8-bit (PS3.3 C.7.6.3.1.5 allows 8 or 16 whatever the
    pixel depth; segment colours are 8-bit): highdicom and dcmqi write 8-bit entries for 8-bit
    maps, and highdicom cannot apply a table of 16-bit entries. dciodvfy flags a channel whose
    largest entry is below half its range, so when every colour is dark, one entry that no
    pixel uses (past the last segment, or a number without a segment) is made full scale."""
    bits = 8
    full = (1 << bits) - 1
    largest_pixel = (1 << (16 if volume.array.dtype.itemsize == 2 else 8)) - 1
    numbers = {s.number for s in volume.segments}
    top = max(numbers, default=0)
    table = np.zeros((top + 1, 3), dtype=np.uint32)
    for segment in volume.segments:
        table[segment.number] = np.asarray(segment.display_color(), dtype=np.uint32)
    if np.any(table.max(axis=0) < (full + 1) // 2):
        unused = top + 1 if top + 1 <= largest_pixel else next((n for n in range(1, top + 1) if n not in numbers), None)
        if unused is not None:
            if unused > top:
                table = np.vstack([table, np.zeros((1, 3), dtype=np.uint32)])
            table[unused] = full
    entries = len(table) if len(table) < 65536 else 0  # 65536 entries are written as 0 (PS3.3 C.7.6.3.1.5)
    for index, color in enumerate(("Red", "Green", "Blue")):
        setattr(dataset, f"{color}PaletteColorLookupTableDescriptor", [entries, 0, bits])
        data = table[:, index].astype(np.uint8).tobytes()
        setattr(dataset, f"{color}PaletteColorLookupTableData", data + b"\x00" * (len(data) & 1))
        dataset[f"{color}PaletteColorLookupTableData"].VR = "OW"
    dataset.PaletteColorLookupTableUID = generate_uid()
    dataset.ICCProfile = srgb_profile()
    dataset.ColorSpace = "SRGB"


def _segments(dataset: Dataset, volume: LabelVolume, with_color: bool) -> None:
    background = segment_item(background_segment(), with_color)
    items = [background] + [segment_item(s, with_color) for s in sorted(volume.segments, key=lambda s: s.number)]
    dataset.SegmentSequence = DicomSequence(items)


def _dimensions_and_frames(dataset: Dataset, reference: ReferenceSeries, frames: npt.NDArray[np.int64]) -> None:
    geometry = reference.geometry
    organization = generate_uid()
    organization_item = Dataset()
    organization_item.DimensionOrganizationUID = organization
    dataset.DimensionOrganizationSequence = DicomSequence([organization_item])
    dataset.DimensionOrganizationType = "3D"
    index = Dataset()
    index.DimensionOrganizationUID = organization
    index.DimensionIndexPointer = _IMAGE_POSITION_PATIENT
    index.FunctionalGroupPointer = _PLANE_POSITION_SEQUENCE
    index.DimensionDescriptionLabel = "Image Position Patient"
    dataset.DimensionIndexSequence = DicomSequence([index])
    shared = Dataset()
    orientation = Dataset()
    orientation.ImageOrientationPatient = _decimal(np.concatenate([geometry.direction[:, 0], geometry.direction[:, 1]]))
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    measures = Dataset()
    measures.PixelSpacing = _decimal([geometry.spacing[1], geometry.spacing[0]])
    measures.SliceThickness = _decimal([geometry.spacing[2]])[0]
    measures.SpacingBetweenSlices = _decimal([geometry.spacing[2]])[0]
    shared.PixelMeasuresSequence = DicomSequence([measures])
    dataset.SharedFunctionalGroupsSequence = DicomSequence([shared])
    positions = geometry.slice_positions()
    # Per-frame items encoded directly (rawencode): the same few elements for every frame.
    derivation_code = rawencode.sequence(0x00089215, [rawencode.code_item(_SEGMENTATION)])
    purpose = rawencode.sequence(0x0040A170, [rawencode.code_item(_SOURCE_IMAGE)])
    items = []
    for k in frames.tolist():
        source = reference.slices[k]
        source_item = rawencode.text(0x00081150, "UI", source.sop_class_uid) + rawencode.text(0x00081155, "UI", source.sop_instance_uid)
        if source.frame_number is not None:
            source_item += rawencode.text(0x00081160, "IS", str(source.frame_number))
        # The frame is on its source image's grid (highdicom indexes by source only then).
        source_item += rawencode.text(0x0028135A, "CS", "YES") + purpose
        derivation = rawencode.sequence(0x00082112, [source_item]) + derivation_code
        content = rawencode.element(0x00209157, "UL", struct.pack("<I", k + 1))
        plane = rawencode.text(0x00200032, "DS", rawencode.decimal_strings(positions[k]))
        items.append(
            rawencode.sequence(0x00089124, [derivation])
            + rawencode.sequence(0x00209111, [content])
            + rawencode.sequence(0x00209113, [plane])
        )
    encoded = rawencode.sequence(_PER_FRAME_FUNCTIONAL_GROUPS, items)
    dataset[_PER_FRAME_FUNCTIONAL_GROUPS] = rawencode.raw_sequence_element(_PER_FRAME_FUNCTIONAL_GROUPS, encoded)


def _pixel_data(dataset: Dataset, frames: npt.NDArray[np.integer], syntax: TransferSyntax, processes: int = 1) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(LABEL_MAP_SEGMENTATION_STORAGE)
    meta.MediaStorageSOPInstanceUID = UID(dataset.SOPInstanceUID)
    meta.TransferSyntaxUID = UID(syntax.uid)
    dataset.file_meta = meta
    if syntax.encapsulated:
        dataset.PixelData = encapsulate(_encode_frames(frames, syntax, processes), has_bot=True)
        dataset["PixelData"].VR = "OB"
    else:
        dtype = "<u2" if frames.dtype.itemsize == 2 else "u1"
        data = np.ascontiguousarray(frames, dtype=dtype).tobytes()  # one copy of the frames, the bytes written
        dataset.PixelData = data + b"\x00" if len(data) & 1 else data
        dataset["PixelData"].VR = "OW" if frames.dtype.itemsize == 2 else "OB"


def _encode_frames(frames: npt.NDArray[np.integer], syntax: TransferSyntax, processes: int = 1) -> list[bytes]:
    """Each frame encoded; identical frames (empty slices above all) are encoded once. With
    ``processes=2`` a forked helper encodes every other distinct frame of the slow syntaxes."""
    first: dict[bytes, int] = {}
    order = []  # for each frame, the position of its first identical frame
    for index, frame in enumerate(frames):
        key = frame.tobytes()
        if key not in first and len(first) < _REPEATED_FRAMES:
            first[key] = index
        order.append(first.get(key, index))
    distinct = sorted(set(order))
    if processes > 1 and syntax in SLOW_TO_ENCODE and len(distinct) >= 16 and can_fork():
        done = map_in_two_processes(lambda index: encode_frame(frames[index], syntax), distinct[0::2], distinct[1::2])
    else:
        done = {index: encode_frame(frames[index], syntax) for index in distinct}
    return [done[index] for index in order]


def _decimal(values: npt.ArrayLike) -> list[float]:
    """Numbers that fit the 16 characters of a DS value."""
    return [float(f"{v:.10g}") for v in np.asarray(values, dtype=np.float64).ravel()]


# -- verification -----------------------------------------------------------------------------
def _save(dataset: Dataset, path: Path) -> None:
    # The per-frame groups are a raw element: let pydicom write raw elements as they are (it
    # would otherwise parse them to re-encode), after resolving the ambiguous VRs (US or SS,
    # OB or OW) of the other elements; the raw element holds none.
    per_frame = dataset.get_item(_PER_FRAME_FUNCTIONAL_GROUPS)
    del dataset[_PER_FRAME_FUNCTIONAL_GROUPS]
    correct_ambiguous_vr(dataset, True)
    dataset[_PER_FRAME_FUNCTIONAL_GROUPS] = per_frame
    dataset.set_original_encoding(False, True, dataset._character_set)
    with warnings.catch_warnings():
        # pydicom re-validates values copied from the source (reported by the series reader,
        # naming the attribute); our own values are built valid.
        warnings.simplefilter("ignore", UserWarning)
        _write(dataset, path)


def _write(dataset: Dataset, path: Path) -> None:
    if dataset.file_meta.TransferSyntaxUID != TransferSyntax.DEFLATED.uid:
        dataset.save_as(path, enforce_file_format=True)
        return
    # PS3.5 A.5: file meta as usual, then the whole data set deflated. pydicom deflates at
    # zlib's default level; level 9 makes label maps about a tenth smaller.
    header = DicomBytesIO()
    header.is_little_endian, header.is_implicit_VR = True, False
    header.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(header, dataset.file_meta, enforce_standard=True)
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, dataset)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = compressor.compress(body.getvalue()) + compressor.flush()
    path.write_bytes(header.getvalue() + deflated + b"\x00" * (len(deflated) & 1))


def _verify(path: Path, volume: LabelVolume, reference: ReferenceSeries, processes: int = 1) -> None:
    from .reader import read_seg

    contents = read_seg(path, reference, processes=processes)
    (found,) = contents.volumes
    if not np.array_equal(found.array, volume.array):
        raise OutputError(f"{path}: the voxels read back differ from the label map written")
    written = sorted((s.number, s.label, s.display_color()) for s in volume.segments)
    read = sorted((s.number, s.label, s.display_color()) for s in found.segments)
    if written != read:
        raise OutputError(f"{path}: the segments read back differ: {written} became {read}")
    from .validate import header_findings

    assert contents.dataset is not None
    errors = [finding for finding in header_findings(contents.dataset) if finding.severity is Severity.ERROR]
    if errors:
        raise OutputError(f"{path}: the file written breaks a rule readers rely on: {errors[0]}")

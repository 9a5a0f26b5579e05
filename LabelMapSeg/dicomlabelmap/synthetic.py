"""Synthetic DICOM: small image series and RT Structure Sets built in memory.

Used by ``dicomlabelmap demo`` (the built-in example) and by the tests, so every case is
reproducible without patient data. Nothing here is needed to convert real files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from .dicom.uids import RT_STRUCTURE_SET_STORAGE
from .model.geometry import ImageGeometry

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"


def _file_meta(sop_class_uid: str, sop_instance_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def _decimal(values: npt.ArrayLike) -> list[float]:
    """Values that survive the 16-character DS encoding exactly."""
    return [float(f"{v:.10g}") for v in np.asarray(values, dtype=np.float64).ravel()]


def _patient_and_study(dataset: Dataset, study_uid: str) -> None:
    dataset.PatientName = "Synthetic^Phantom"
    dataset.PatientID = "LMS-SYNTH-001"
    dataset.PatientBirthDate = ""
    dataset.PatientSex = "O"
    dataset.StudyInstanceUID = study_uid
    dataset.StudyDate = "20260101"
    dataset.StudyTime = "120000"
    dataset.ReferringPhysicianName = ""
    dataset.StudyID = "1"
    dataset.AccessionNumber = ""


def phantom(geometry: ImageGeometry) -> npt.NDArray[np.int16]:
    """CT-like pixel values: an elliptical body (0 HU) in air (-1000 HU), stored with intercept -1024."""
    slices, rows, columns = geometry.shape
    j, i = np.mgrid[0:rows, 0:columns]
    body = ((i - (columns - 1) / 2) / (0.47 * columns)) ** 2 + ((j - (rows - 1) / 2) / (0.47 * rows)) ** 2 <= 1
    plane = np.where(body, 1024, 24).astype(np.int16)
    return np.broadcast_to(plane, geometry.shape).copy()


def make_image_series(
    geometry: ImageGeometry,
    multiframe: bool = False,
    series_description: str = "Synthetic CT",
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    pixels: npt.NDArray[np.int16] | None = None,
) -> list[Dataset]:
    """A CT series on ``geometry``: one dataset per slice, or one enhanced multi-frame dataset."""
    study_uid = study_instance_uid or generate_uid()
    series_uid = series_instance_uid or generate_uid()
    frame_uid = geometry.frame_of_reference_uid or generate_uid()
    data = phantom(geometry) if pixels is None else pixels.astype(np.int16)
    orientation = _decimal(np.concatenate([geometry.direction[:, 0], geometry.direction[:, 1]]))
    pixel_spacing = _decimal([geometry.spacing[1], geometry.spacing[0]])
    positions = geometry.slice_positions()

    def base(sop_class: str) -> Dataset:
        dataset = Dataset()
        dataset.SOPInstanceUID = generate_uid()
        dataset.SOPClassUID = sop_class
        dataset.file_meta = _file_meta(sop_class, dataset.SOPInstanceUID)
        _patient_and_study(dataset, study_uid)
        dataset.Modality = "CT"
        dataset.SeriesInstanceUID = series_uid
        dataset.SeriesNumber = 1
        dataset.SeriesDescription = series_description
        dataset.FrameOfReferenceUID = frame_uid
        dataset.PositionReferenceIndicator = ""
        dataset.Manufacturer = "LabelMapSeg synthetic"
        dataset.Rows, dataset.Columns = geometry.shape[1], geometry.shape[2]
        dataset.SamplesPerPixel = 1
        dataset.PhotometricInterpretation = "MONOCHROME2"
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
        dataset.PixelRepresentation = 1
        dataset.RescaleIntercept, dataset.RescaleSlope = -1024, 1
        return dataset

    if not multiframe:
        datasets = []
        # Instance Numbers run against the slice order, so sorting by them would be wrong.
        for k in range(geometry.shape[0]):
            dataset = base(CT_IMAGE_STORAGE)
            dataset.InstanceNumber = geometry.shape[0] - k
            dataset.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
            dataset.ImageOrientationPatient = orientation
            dataset.ImagePositionPatient = _decimal(positions[k])
            dataset.PixelSpacing = pixel_spacing
            dataset.SliceThickness = _decimal([geometry.spacing[2]])[0]
            dataset.PixelData = data[k].tobytes()
            datasets.append(dataset)
        return datasets
    dataset = base(ENHANCED_CT_IMAGE_STORAGE)
    dataset.InstanceNumber = 1
    dataset.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    dataset.NumberOfFrames = geometry.shape[0]
    shared = Dataset()
    orientation_item = Dataset()
    orientation_item.ImageOrientationPatient = orientation
    shared.PlaneOrientationSequence = DicomSequence([orientation_item])
    measures = Dataset()
    measures.PixelSpacing = pixel_spacing
    measures.SliceThickness = _decimal([geometry.spacing[2]])[0]
    shared.PixelMeasuresSequence = DicomSequence([measures])
    dataset.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = []
    # Frames are stored in reverse slice order: readers must sort by position.
    for k in reversed(range(geometry.shape[0])):
        item = Dataset()
        position = Dataset()
        position.ImagePositionPatient = _decimal(positions[k])
        item.PlanePositionSequence = DicomSequence([position])
        per_frame.append(item)
    dataset.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    dataset.PixelData = data[::-1].tobytes()
    return [dataset]


@dataclass
class SyntheticContour:
    """A contour given in continuous pixel coordinates ``(x=column, y=row)`` on slice ``k``
    (``k`` may be fractional to place it between slices)."""

    k: float
    pixels: npt.ArrayLike
    geometric_type: str = "CLOSED_PLANAR"


@dataclass
class SyntheticRoi:
    name: str
    contours: list[SyntheticContour] = field(default_factory=list)
    color: tuple[int, int, int] | None = (255, 0, 0)
    interpreted_type: str = "ORGAN"
    number: int | None = None


def contour_points(geometry: ImageGeometry, contour: SyntheticContour) -> npt.NDArray[np.float64]:
    """LPS points of a synthetic contour."""
    pixels = np.asarray(contour.pixels, dtype=np.float64).reshape(-1, 2)
    ijk = np.column_stack([pixels, np.full(len(pixels), contour.k)])
    return geometry.to_lps(ijk)


def make_rtstruct(
    images: Sequence[Dataset], geometry: ImageGeometry, rois: Sequence[SyntheticRoi], image_references: bool = True
) -> Dataset:
    """An RT Structure Set for ``images`` (on ``geometry``) holding ``rois``."""
    first = images[0]
    dataset = Dataset()
    dataset.SOPClassUID = RT_STRUCTURE_SET_STORAGE
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta = _file_meta(RT_STRUCTURE_SET_STORAGE, dataset.SOPInstanceUID)
    _patient_and_study(dataset, first.StudyInstanceUID)
    dataset.Modality = "RTSTRUCT"
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SeriesNumber = 2
    dataset.Manufacturer = "LabelMapSeg synthetic"
    dataset.StructureSetLabel = "Synthetic"
    dataset.StructureSetDate, dataset.StructureSetTime = "20260101", "120000"
    frame = Dataset()
    frame.FrameOfReferenceUID = first.FrameOfReferenceUID
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study.ReferencedSOPInstanceUID = first.StudyInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = first.SeriesInstanceUID
    series.ContourImageSequence = DicomSequence([_image_reference(image) for image in images])
    study.RTReferencedSeriesSequence = DicomSequence([series])
    frame.RTReferencedStudySequence = DicomSequence([study])
    dataset.ReferencedFrameOfReferenceSequence = DicomSequence([frame])
    structure_items, contour_items, observation_items = [], [], []
    for position, roi in enumerate(rois, start=1):
        number = roi.number if roi.number is not None else position
        item = Dataset()
        item.ROINumber = number
        item.ReferencedFrameOfReferenceUID = first.FrameOfReferenceUID
        item.ROIName = roi.name
        item.ROIGenerationAlgorithm = "MANUAL"
        structure_items.append(item)
        roi_contour = Dataset()
        roi_contour.ReferencedROINumber = number
        if roi.color is not None:
            roi_contour.ROIDisplayColor = list(roi.color)
        contours = []
        for contour in roi.contours:
            contour_item = Dataset()
            contour_item.ContourGeometricType = contour.geometric_type
            points = contour_points(geometry, contour)
            contour_item.NumberOfContourPoints = len(points)
            contour_item.ContourData = _decimal(points)
            k = int(round(contour.k))
            if image_references and len(images) == geometry.shape[0] and 0 <= k < geometry.shape[0]:
                contour_item.ContourImageSequence = DicomSequence([_image_reference(_image_at(images, geometry, k))])
            contours.append(contour_item)
        roi_contour.ContourSequence = DicomSequence(contours)
        contour_items.append(roi_contour)
        observation = Dataset()
        observation.ObservationNumber = number
        observation.ReferencedROINumber = number
        observation.RTROIInterpretedType = roi.interpreted_type
        observation.ROIInterpreter = ""
        observation_items.append(observation)
    dataset.StructureSetROISequence = DicomSequence(structure_items)
    dataset.ROIContourSequence = DicomSequence(contour_items)
    dataset.RTROIObservationsSequence = DicomSequence(observation_items)
    return dataset


def _image_reference(image: Dataset) -> Dataset:
    reference = Dataset()
    reference.ReferencedSOPClassUID = image.SOPClassUID
    reference.ReferencedSOPInstanceUID = image.SOPInstanceUID
    return reference


def _image_at(images: Sequence[Dataset], geometry: ImageGeometry, k: int) -> Dataset:
    target = geometry.slice_positions()[k]
    return min(images, key=lambda image: float(np.linalg.norm(np.asarray(image.ImagePositionPatient, dtype=float) - target)))


def save(datasets: Sequence[Dataset], folder: str | Path, prefix: str = "IMG") -> list[Path]:
    """Write datasets as DICOM files ``prefix0001.dcm``, ... into ``folder``."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, dataset in enumerate(datasets, start=1):
        path = target / f"{prefix}{index:04d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def circle(cx: float, cy: float, radius: float, count: int = 64, clockwise: bool = False) -> npt.NDArray[np.float64]:
    """A circle polygon in pixel coordinates."""
    return ellipse(cx, cy, radius, radius, count, clockwise)


def ellipse(cx: float, cy: float, rx: float, ry: float, count: int = 64, clockwise: bool = False) -> npt.NDArray[np.float64]:
    """An axis-aligned ellipse polygon in pixel coordinates."""
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    if clockwise:
        angles = -angles
    return np.column_stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)])


def keyhole_ring(cx: float, cy: float, outer: float, inner: float, count: int = 64) -> npt.NDArray[np.float64]:
    """One polygon that runs around the outer circle, in along a zero-width channel at angle 0,
    around the inner circle the other way, and back out: a ring drawn as a keyhole."""
    angles = np.linspace(0, 2 * np.pi, count + 1)
    outer_path = np.column_stack([cx + outer * np.cos(angles), cy + outer * np.sin(angles)])
    inner_path = np.column_stack([cx + inner * np.cos(-angles), cy + inner * np.sin(-angles)])
    return np.concatenate([outer_path, inner_path])


def demo_geometry() -> ImageGeometry:
    """A small axial CT grid: 12 slices of 96x128 pixels, 1.5 x 1.25 mm, 3 mm apart."""
    return ImageGeometry((12, 96, 128), [-80.0, -60.0, -15.0], [1.25, 1.5, 3.0], np.eye(3), generate_uid())


def demo_rois() -> list[SyntheticRoi]:
    """ROIs that today's tools get wrong: a nested ring, a keyhole ring, an XOR island in a
    hole (listed in scrambled order), a sub-voxel contour, points and an open line."""
    rois = [
        SyntheticRoi(
            "Ring (nested)", [SyntheticContour(k, c) for k in range(2, 6) for c in (circle(40, 40, 18), circle(40, 40, 8))], (230, 80, 80)
        ),
        SyntheticRoi("Ring (keyhole)", [SyntheticContour(k, keyhole_ring(88, 40, 18, 8)) for k in range(2, 6)], (80, 160, 230)),
        SyntheticRoi(
            "Island in hole (XOR)",
            [
                SyntheticContour(k, shape, "CLOSEDPLANAR_XOR")
                for k in range(4, 9)
                for shape in (circle(64, 62, 5), circle(64, 62, 24), circle(64, 62, 14))
            ],
            (90, 200, 110),
        ),
        SyntheticRoi("Sub-voxel", [SyntheticContour(7, circle(20.5, 80.5, 0.3, 8))], (240, 200, 40)),
        SyntheticRoi(
            "Markers",
            [SyntheticContour(6, [[100, 80]], "POINT"), SyntheticContour(6, [[90, 70], [110, 70], [110, 90]], "OPEN_PLANAR")],
            (200, 100, 220),
            interpreted_type="MARKER",
        ),
        SyntheticRoi("Body", [SyntheticContour(k, ellipse(63.5, 47.5, 58, 43, 128)) for k in range(0, 12)], (200, 180, 150), "EXTERNAL"),
    ]
    return rois


def write_demo_case(folder: str | Path) -> tuple[Path, Path]:
    """Write the demo CT series and RT Structure Set; return (CT folder, RTSTRUCT file)."""
    target = Path(folder)
    geometry = demo_geometry()
    images = make_image_series(geometry, series_description="LabelMapSeg demo CT")
    ct_folder = target / "ct"
    save(images, ct_folder, "CT")
    rtstruct = make_rtstruct(images, geometry, demo_rois())
    rtstruct_path = target / "RS_demo.dcm"
    rtstruct.save_as(rtstruct_path, enforce_file_format=True)
    return ct_folder, rtstruct_path


def hard_geometry() -> ImageGeometry:
    """A small square axial grid for the hard mask cases: 8 slices of 40 x 40 pixels."""
    return ImageGeometry((8, 40, 40), [-20.0, -30.0, 10.0], [1.0, 1.0, 2.5], np.eye(3), "1.2.826.0.1.3680043.8.498.20")


def hard_masks(shape: tuple[int, int, int] = (8, 40, 40)) -> dict[str, npt.NDArray[np.bool_]]:
    """Masks that contour writers and readers get wrong, each with exact voxels to find again:
    rings, islands inside holes inside islands, voxels touching only at corners (diagonal chains,
    a checkerboard, a hole touching the outside at a corner), single voxels and one-voxel-wide
    lines, masks on the grid border and on the first and last slices."""
    slices, rows, columns = shape
    masks = {name: np.zeros(shape, dtype=bool) for name in ("ring", "islands", "diagonal", "checkerboard", "thin", "border")}
    j, i = np.mgrid[0:rows, 0:columns]
    radius = np.hypot(i - 12.3, j - 12.7)
    for k in range(1, slices - 1):
        masks["ring"][k] = (radius <= 9.2) & (radius > 4.6 + 0.4 * k)
    for k in range(0, slices):  # nested squares: outer, hole, island, hole, island
        for level, half in enumerate((11, 9, 6, 4, 1)):
            masks["islands"][k, 26 - half : 26 + half + 1, 26 - half : 26 + half + 1] = level % 2 == 0
    diagonal = masks["diagonal"]
    for n in range(8):
        diagonal[2, 3 + n, 3 + n] = True  # a diagonal chain of single voxels
    diagonal[3, 5:9, 5:9] = True
    diagonal[3, 9:12, 9:12] = True  # two squares touching at one corner
    diagonal[4, 20:27, 20:27] = True
    diagonal[4, 22, 22] = False  # a hole
    diagonal[4, 26, 26] = False  # a notch touching the hole's diagonal neighbour ...
    diagonal[4, 23, 23] = False  # ... and a hole touching another hole at a corner
    diagonal[5, 30:36, 4:10] = True
    diagonal[5, 33, 7] = False
    diagonal[5, 34, 8] = False  # holes of one voxel touching each other at a corner
    board = (i + j) % 2 == 0
    masks["checkerboard"][slices // 2, 4:16, 24:36] = board[4:16, 24:36]
    masks["checkerboard"][slices // 2 + 1, 4:16, 24:36] = ~board[4:16, 24:36]
    thin = masks["thin"]
    thin[1, 30, 20] = True  # a single voxel
    thin[1, 32, 10:30] = True  # one voxel wide, along a row
    thin[2, 14:34, 38] = True  # along a column
    for n in range(10):
        thin[3, 20 + n, 12 + n] = thin[3, 20 + n, 13 + n] = True  # a staircase two voxels wide
        thin[3, 20 + n, 30 - n] = True  # an anti-diagonal chain
    border = masks["border"]
    border[0, 0:5, :] = True  # the first slice along the top edge
    border[slices - 1, :, columns - 4 :] = True  # the last slice along the right edge
    border[slices - 1, rows - 1, :] = True
    border[0, rows - 3 :, 0:3] = True  # a corner of the grid
    border[0, 0, 0] = False  # a notch in the grid corner
    return masks

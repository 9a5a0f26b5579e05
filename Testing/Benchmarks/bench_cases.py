"""Synthetic inputs for the benchmarks, written on the fly (never into the repository).

* :func:`ring_stress_case`: 40 ring ROIs, 9600 nested contours (a stress case for the fill).
* :func:`pelvis_case`: a many-ROI structure set built like a real pelvis plan (22 ROIs on 170
  slices of 512x512, a body outline of about 500 contours, nested target volumes that need 5
  label layers, small structures on a few slices, ROIs with holes).
* :func:`make_archive`: K copies of LUNG1-001, each with its own UIDs, for batch benchmarks.
"""

from __future__ import annotations

import copy as copy_module
from pathlib import Path

import numpy as np
import pydicom
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, circle, make_image_series, make_rtstruct, save
from pydicom.uid import generate_uid


def ring_stress_case(folder: Path, geometric_type: str = "CLOSED_PLANAR") -> tuple[Path, Path]:
    """120x512x512 CT and an RT Structure Set of 40 ring ROIs: on every slice a 400-point outer
    contour and a 400-point hole (9600 contours). Returns ``(ct_folder, rtstruct_path)``."""
    geometry = ImageGeometry((120, 512, 512), [-250.0, -250.0, 0.0], [0.98, 0.98, 2.5], np.eye(3), "1.2.826.0.1.3680043.8.498.1")
    images = make_image_series(geometry, pixels=np.zeros(geometry.shape, np.int16))
    path = folder / f"RS_{geometric_type}.dcm"
    if path.exists():
        return folder / "ct", path
    save(images, folder / "ct", "CT")
    rois = []
    for index in range(40):
        cx, cy = 80 + (index % 8) * 50, 120 + (index // 8) * 60
        contours = []
        for k in range(120):
            contours.append(SyntheticContour(k, circle(cx, cy, 22 + 3 * np.sin(k / 9), 400), geometric_type))
            contours.append(SyntheticContour(k, circle(cx, cy, 9, 400, clockwise=True), geometric_type))
        rois.append(SyntheticRoi(f"ROI {index + 1}", contours, (200, 100, 50)))
    make_rtstruct(images, geometry, rois).save_as(path, enforce_file_format=True)
    return folder / "ct", path


# -- a many-ROI pelvis plan ------------------------------------------------------------------------------
PELVIS_SLICES = 170


class _Blob:
    """A smooth star-shaped outline around ``(cx, cy)`` whose radius wobbles with the angle and
    drifts slowly from slice to slice; scaled copies of one blob nest inside each other."""

    def __init__(
        self,
        seed: int,
        cx: float,
        cy: float,
        rx: float,
        ry: float,
        first: int,
        last: int,
        points: int,
        wobble: float = 0.08,
        taper: bool = True,
    ):
        self.taper = taper
        generator = np.random.default_rng(seed)
        self.cx, self.cy, self.rx, self.ry = cx, cy, rx, ry
        self.first, self.last, self.points = first, last, points
        self.harmonics = [(h, wobble * generator.uniform(0.3, 1.0) / h**0.5, generator.uniform(0, 2 * np.pi)) for h in (2, 3, 5)]
        self.drift = generator.uniform(0, 2 * np.pi)

    def slices(self) -> range:
        return range(self.first, self.last + 1)

    def outline(self, k: int, scale: float = 1.0, clockwise: bool = False, points: int | None = None) -> np.ndarray:
        """The outline on slice ``k``; rounded ends: the size shrinks towards the first and last slices."""
        middle, half = (self.first + self.last) / 2, max(1.0, (self.last - self.first) / 2 + 1)
        size = scale * max(0.35, np.sqrt(max(0.0, 1 - ((k - middle) / half) ** 2))) if self.taper else scale
        angles = np.linspace(0, 2 * np.pi, points or self.points, endpoint=False)
        if clockwise:
            angles = -angles
        radius = 1 + sum(a * np.sin(h * angles + phase + 0.05 * k + self.drift) for h, a, phase in self.harmonics)
        x = self.cx + 3 * np.sin(k / 23 + self.drift) + size * self.rx * radius * np.cos(angles)
        y = self.cy + 2 * np.cos(k / 31 + self.drift) + size * self.ry * radius * np.sin(angles)
        return np.column_stack([x, y])


def _roi(name: str, contours: list[tuple[int, np.ndarray]], color: tuple[int, int, int], kind: str = "ORGAN") -> SyntheticRoi:
    return SyntheticRoi(name, [SyntheticContour(k, pixels) for k, pixels in contours], color, kind)


def _solid(blob: _Blob, scale: float = 1.0) -> list[tuple[int, np.ndarray]]:
    return [(k, blob.outline(k, scale)) for k in blob.slices()]


def _ring(blob: _Blob, inner: float) -> list[tuple[int, np.ndarray]]:
    """An outline with a hole on every slice (the hole a scaled copy, drawn the other way round)."""
    return [(k, pixels) for k in blob.slices() for pixels in (blob.outline(k), blob.outline(k, inner, clockwise=True))]


def pelvis_rois() -> list[SyntheticRoi]:
    """22 ROIs built like a prostate and pelvic-node plan on 170 slices of 512x512 (2.5 mm): 5 label layers."""
    last = PELVIS_SLICES - 1
    body = _Blob(1, 256, 262, 165, 115, 0, last, 560, wobble=0.05)
    thighs = [_Blob(2 + side, 256 + 98 * (2 * side - 1), 262, 80, 105, 0, 54, 360, 0.04) for side in (0, 1)]
    external: list[tuple[int, np.ndarray]] = []
    for k in body.slices():
        outlines = [blob.outline(k) for blob in thighs] if k < 55 else [body.outline(k, 1.15)]
        external += [(k, outline) for outline in outlines]
        # skin folds, marker wire: a small island just outside the skin on every slice
        skin = outlines[0]
        centre = skin.mean(axis=0)
        point = skin[(k * 37) % len(skin)]
        x, y = point + 12 * (point - centre) / np.linalg.norm(point - centre)
        external.append((k, _Blob(10 + k, x, y, 4, 3, k, k, 24).outline(k)))
        if 55 <= k <= 150 and k % 2 == 0:  # gas in the bowel, cut out of the body on every second slice
            external.append((k, _Blob(400 + k, 230 + 30 * np.sin(k / 5), 215, 14, 9, k, k, 40).outline(k, clockwise=True)))
    prostate = _Blob(20, 256, 300, 20, 17, 70, 100, 120)
    seminal = [_Blob(21 + side, 256 + 22 * (2 * side - 1), 322, 12, 7, 96, 110, 60) for side in (0, 1)]
    nodes = [_Blob(23 + side, 256 + 72 * (2 * side - 1), 240, 24, 30, 62, 138, 140) for side in (0, 1)]
    rectum = _Blob(25, 256, 345, 19, 17, 50, 118, 140)
    bladder = _Blob(26, 256, 250, 52, 42, 98, 140, 220)
    femurs = [_Blob(27 + side, 256 + 130 * (2 * side - 1), 285, 26, 26, 45, 100, 180, 0.03) for side in (0, 1)]
    pelvic = _Blob(29, 256, 270, 150, 100, 95, 165, 420, 0.04, taper=False)
    bowel = _Blob(30, 250, 215, 110, 60, 141, last, 360, 0.12)
    canal = _Blob(31, 256, 372, 10, 9, 120, last, 48, 0.02)
    couch = [(k, pixels) for k in range(PELVIS_SLICES) for pixels in _couch()]
    ring = _Blob(20, 256, 300, 20, 17, 62, 108, 160)
    rois = [
        _roi("External", external, (255, 210, 170), "EXTERNAL"),
        _roi("PTV_56", [c for blob in nodes for c in _solid(blob, 1.2)], (255, 128, 0), "PTV"),
        _roi("CTV_56", [c for blob in nodes for c in _solid(blob)], (255, 200, 0), "CTV"),
        _roi("PTV_70", _solid(prostate, 1.6), (255, 0, 0), "PTV"),
        _roi("CTV_70", _solid(prostate, 1.25), (255, 80, 80), "CTV"),
        _roi("Prostate", _solid(prostate), (190, 120, 220)),
        _roi("SeminalVesicles", [c for blob in seminal for c in _solid(blob)], (220, 180, 230)),
        _roi("Bladder", _solid(bladder), (240, 240, 0)),
        _roi("BladderWall", _ring(bladder, 0.82), (200, 200, 0)),
        _roi("Rectum", _solid(rectum), (130, 70, 30)),
        _roi("RectumWall", _ring(rectum, 0.6), (160, 90, 40)),
        _roi("Femur_L", _ring(femurs[1], 0.55), (250, 250, 225)),
        _roi("Femur_R", _ring(femurs[0], 0.55), (250, 250, 225)),
        _roi("PelvicBones", _ring(pelvic, 0.88), (240, 230, 200)),
        _roi("BowelBag", _solid(bowel), (200, 140, 100)),
        _roi("SpinalCanal", _solid(canal), (0, 200, 255)),
        _roi("PenileBulb", _solid(_Blob(32, 256, 372, 9, 7, 44, 48, 40)), (70, 130, 180)),
        _roi("Ring_PTV70", [(k, ring.outline(k, s, s < 2)) for k in ring.slices() for s in (2.6, 1.8)], (0, 255, 120), "AVOIDANCE"),
        *(_roi(f"Fiducial{n}", _solid(_Blob(32 + n, 246 + 8 * n, 296 + 3 * n, 1.6, 1.4, 78 + 6 * n, 78 + 6 * n, 16)), (0, 255, 0), "MARKER")
          for n in (1, 2, 3)),
        _roi("Couch", couch, (120, 120, 120), "SUPPORT"),
    ]  # fmt: skip
    return rois


def _couch() -> list[np.ndarray]:
    """The couch top under the patient: a rectangle with a hollow core (outer clockwise, hole the other way)."""
    outer = np.array([[40.0, 420.0], [472.0, 420.0], [472.0, 448.0], [40.0, 448.0]])
    inner = np.array([[50.0, 425.0], [50.0, 443.0], [462.0, 443.0], [462.0, 425.0]])
    return [outer, inner]


def pelvis_case(folder: Path) -> tuple[Path, Path]:
    """170x512x512 CT and a 22-ROI RT Structure Set like a pelvis plan (see :func:`pelvis_rois`).
    Returns ``(ct_folder, rtstruct_path)``; reuses the files when they are already there."""
    path = folder / "RS_pelvis.dcm"
    if path.exists():
        return folder / "ct", path
    geometry = ImageGeometry(
        (PELVIS_SLICES, 512, 512), [-249.5, -260.0, -300.0], [0.977, 0.977, 2.5], np.eye(3), "1.2.826.0.1.3680043.8.498.2"
    )
    images = make_image_series(geometry, series_description="Pelvis", pixels=np.zeros(geometry.shape, np.int16))
    save(images, folder / "ct", "CT")
    make_rtstruct(images, geometry, pelvis_rois()).save_as(path, enforce_file_format=True)
    return folder / "ct", path


# -- a batch of patients ---------------------------------------------------------------------------------
def make_archive(source: Path, folder: Path, copies: int) -> None:
    """``copies`` copies of a patient folder (``ct/`` + ``rtstruct/RS.dcm``, as LUNG1-001) with fresh
    UIDs (references inside the RT Structure Set remapped), one folder each."""
    sources = sorted((source / "ct").iterdir())
    structure = pydicom.dcmread(source / "rtstruct" / "RS.dcm")
    for copy in range(copies):
        mapping: dict[str, str] = {}

        def new(uid: str, mapping: dict[str, str] = mapping) -> str:
            return mapping.setdefault(uid, generate_uid())

        patient = folder / f"patient{copy:03d}"
        (patient / "ct").mkdir(parents=True)
        for index, path in enumerate(sources):
            image = pydicom.dcmread(path)
            for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
                setattr(image, keyword, new(str(getattr(image, keyword))))
            image.file_meta.MediaStorageSOPInstanceUID = image.SOPInstanceUID
            image.PatientID = f"BENCH{copy:03d}"
            image.save_as(patient / "ct" / f"{index:04d}.dcm")
        rs = copy_module.deepcopy(structure)
        for element in rs.iterall():
            if element.VR == "UI" and element.keyword not in ("SOPClassUID", "ReferencedSOPClassUID") and element.value:
                if element.VM > 1:
                    element.value = [new(str(v)) for v in element.value]
                else:
                    element.value = new(str(element.value))
        rs.SOPInstanceUID = generate_uid()
        rs.file_meta.MediaStorageSOPInstanceUID = rs.SOPInstanceUID
        rs.PatientID = f"BENCH{copy:03d}"
        rs.save_as(patient / "RS.dcm")

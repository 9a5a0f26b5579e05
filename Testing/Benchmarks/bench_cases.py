"""Synthetic inputs for the benchmarks, written on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, circle, make_image_series, make_rtstruct, save


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


def plan_masks(folder: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A plan-like many-ROI set on a 160x512x512 CT: a body outline on every slice, 21 organs
    (ellipsoids, several overlapping, three tube-like ROIs with a hole on every slice, four small
    structures of a few slices). Returns ``(ct_folder, masks by name)``, masks ``(k, j, i)``."""
    geometry = ImageGeometry((160, 512, 512), [-250.0, -250.0, -200.0], [0.98, 0.98, 2.5], np.eye(3), "1.2.826.0.1.3680043.8.498.31")
    if not (folder / "ct").exists():
        save(make_image_series(geometry, pixels=np.zeros(geometry.shape, np.int16)), folder / "ct", "CT")
    k, j, i = np.ogrid[0:160, 0:512, 0:512]
    rng = np.random.default_rng(31)
    masks = {"External": ((i - 256) / (200 + 10 * np.sin(k / 20))) ** 2 + ((j - 256) / 150) ** 2 <= 1}
    for index in range(21):
        ck, cj, ci = rng.uniform(30, 130), rng.uniform(170, 340), rng.uniform(120, 390)
        rk, rj, ri = (rng.uniform(2, 4) if index >= 17 else rng.uniform(8, 30)), rng.uniform(12, 45), rng.uniform(12, 45)
        inside = ((k - ck) / rk) ** 2 + ((j - cj) / rj) ** 2 + ((i - ci) / ri) ** 2 <= 1
        if index in (3, 8, 13):  # a tube: a hole on every slice
            inside &= ((j - cj) / (rj * 0.5)) ** 2 + ((i - ci) / (ri * 0.5)) ** 2 > 1
        masks[f"Organ_{index + 1:02d}"] = inside
    return folder / "ct", masks

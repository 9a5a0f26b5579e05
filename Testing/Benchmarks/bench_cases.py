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

"""Rotation matrices for oblique test geometries (no SciPy needed)."""

from __future__ import annotations

import numpy as np


def rotation(axis: tuple[float, float, float], degrees: float) -> np.ndarray:
    """Right-handed rotation about ``axis`` by ``degrees`` (Rodrigues' formula)."""
    unit = np.asarray(axis, dtype=np.float64)
    unit = unit / np.linalg.norm(unit)
    angle = np.radians(degrees)
    cross = np.array([[0, -unit[2], unit[1]], [unit[2], 0, -unit[0]], [-unit[1], unit[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


SAGITTAL = np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]).T  # i: +P, j: -S, k: cross
CORONAL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]).T

"""sRGB <-> DICOM CIELab (Recommended Display CIELab Value, PS3.3 C.10.7.1.1).

DICOM stores L* 0..100 and a*, b* -128..127 scaled to 0..65535. The conversion uses the sRGB
primaries and the D65 white point (IEC 61966-2-1).
"""

from __future__ import annotations

import numpy as np

_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = _RGB_TO_XYZ @ np.ones(3)  # D65 as the sRGB primaries give it
_EPSILON, _KAPPA = 216 / 24389, 24389 / 27


def rgb_to_dicom_lab(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """8-bit sRGB -> the three 16-bit values of Recommended Display CIELab Value."""
    channel = np.asarray(rgb, dtype=np.float64) / 255
    linear = np.where(channel <= 0.04045, channel / 12.92, ((channel + 0.055) / 1.055) ** 2.4)
    ratio = (_RGB_TO_XYZ @ linear) / _WHITE
    f = np.where(ratio > _EPSILON, np.cbrt(ratio), (_KAPPA * ratio + 16) / 116)
    lightness, a, b = 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])
    scaled = [lightness * 65535 / 100, (a + 128) * 65535 / 255, (b + 128) * 65535 / 255]
    return tuple(int(np.clip(round(v), 0, 65535)) for v in scaled)  # type: ignore[return-value]


def dicom_lab_to_rgb(lab: tuple[int, int, int] | list[int]) -> tuple[int, int, int]:
    """The three 16-bit values of Recommended Display CIELab Value -> 8-bit sRGB."""
    values = np.asarray(lab, dtype=np.float64)
    lightness, a, b = values[0] * 100 / 65535, values[1] * 255 / 65535 - 128, values[2] * 255 / 65535 - 128
    fy = (lightness + 16) / 116
    f = np.array([fy + a / 500, fy, fy - b / 200])
    ratio = np.where(f**3 > _EPSILON, f**3, (116 * f - 16) / _KAPPA)
    linear = np.clip(_XYZ_TO_RGB @ (ratio * _WHITE), 0, 1)
    channel = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return tuple(int(np.clip(round(v * 255), 0, 255)) for v in channel)  # type: ignore[return-value]

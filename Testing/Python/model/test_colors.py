"""sRGB <-> DICOM CIELab (Recommended Display CIELab Value): reference values of the sRGB
primaries (D65, as Bruce Lindbloom's calculator gives them), the scaling to 16 bits, and every
8-bit colour surviving the round trip."""

from __future__ import annotations

import itertools

import pytest
from dicomlabelmap.model.colors import dicom_lab_to_rgb, rgb_to_dicom_lab


def scaled_lab(lightness: float, a: float, b: float) -> tuple[int, int, int]:
    """PS3.3 C.10.7.1.1: L* 0..100 -> 0..65535, a* and b* -128..127 -> 0..65535."""
    return round(lightness * 65535 / 100), round((a + 128) * 65535 / 255), round((b + 128) * 65535 / 255)


@pytest.mark.parametrize(
    "rgb, lab",
    [
        ((255, 255, 255), (100.0, 0.0, 0.0)),
        ((0, 0, 0), (0.0, 0.0, 0.0)),
        ((255, 0, 0), (53.2408, 80.0925, 67.2032)),
        ((0, 255, 0), (87.7347, -86.1827, 83.1793)),
        ((0, 0, 255), (32.2970, 79.1875, -107.8602)),
        ((128, 128, 128), (53.5850, 0.0, 0.0)),
    ],
)
def test_reference_colours(rgb, lab):
    found = rgb_to_dicom_lab(rgb)
    expected = scaled_lab(*lab)
    assert all(abs(f - e) <= 2 for f, e in zip(found, expected, strict=True)), (found, expected)  # 2/65535: rounding of the references


def test_exact_scaled_values():
    """White is L* 100 exactly, greys have a* = b* = 0, i.e. 128 * 257 = 32896."""
    assert rgb_to_dicom_lab((255, 255, 255)) == (65535, 32896, 32896)
    assert rgb_to_dicom_lab((0, 0, 0)) == (0, 32896, 32896)
    assert rgb_to_dicom_lab((255, 0, 0)) == (34891, 53480, 50167)
    assert dicom_lab_to_rgb((65535, 32896, 32896)) == (255, 255, 255)
    assert dicom_lab_to_rgb([0, 32896, 32896]) == (0, 0, 0)


def test_every_lattice_colour_round_trips():
    levels = range(0, 256, 15)  # 0, 15, ..., 255: 18**3 colours
    for rgb in itertools.product(levels, repeat=3):
        assert dicom_lab_to_rgb(rgb_to_dicom_lab(rgb)) == rgb


def test_out_of_gamut_lab_is_clipped_to_rgb():
    """Lab values outside the sRGB gamut map to valid 8-bit channels (clipped, not wrapped)."""
    assert dicom_lab_to_rgb((65535, 65535, 0)) == (255, 139, 255)
    assert all(0 <= channel <= 255 for channel in dicom_lab_to_rgb((0, 0, 65535)))

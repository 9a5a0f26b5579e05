"""The PNG preview of a conversion: which slices it shows (spread over the contoured range,
favouring slices where more ROIs meet), a PNG of the figure's size, and the usual output rules."""

from __future__ import annotations

import struct
import sys
from dataclasses import replace

import pytest
from dicomlabelmap.errors import MissingDependencyError, OutputError
from dicomlabelmap.files.preview import choose_slices, write_preview
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.synthetic import write_demo_case

pytest.importorskip("matplotlib", reason="matplotlib is not installed")


@pytest.fixture(scope="module")
def conversion(tmp_path_factory):
    ct, rtstruct = write_demo_case(tmp_path_factory.mktemp("preview") / "dicom")
    return rtstruct_to_labels(rtstruct, [ct])


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_choose_slices(conversion):
    """Body covers slices 0-11; the rings (2-5) and the XOR island (4-8) make 4 and 7 busiest."""
    assert choose_slices(conversion) == [2, 4, 7, 9]
    assert choose_slices(conversion, 2) == [4, 7]
    assert choose_slices(conversion, 1) == [4]
    assert choose_slices(conversion, 20) == list(range(12))  # never more than the slices holding contours


def test_choose_slices_without_masks_takes_the_middle(conversion):
    empty = replace(conversion, rois=[replace(raster, mask=None) for raster in conversion.rois])
    assert choose_slices(empty) == [6]


def test_write_preview(conversion, tmp_path):
    target = tmp_path / "preview.png"
    assert write_preview(conversion, target) == target
    assert png_size(target) == (int(4.5 * 4 * 110), int(4.8 * 110))  # four panels at 110 dpi
    two = write_preview(conversion, tmp_path / "two.png", slices=[0, 11])
    assert png_size(two) == (990, 528)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preview.png", "two.png"]
    with pytest.raises(OutputError, match=r"preview\.png exists"):
        write_preview(conversion, target)
    write_preview(conversion, target, slices=[5], overwrite=True)
    assert png_size(target) == (495, 528)


def test_missing_matplotlib_is_named(conversion, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"drawing a preview needs the Python package 'matplotlib'"):
        write_preview(conversion, tmp_path / "p.png")

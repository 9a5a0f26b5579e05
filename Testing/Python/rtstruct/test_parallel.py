"""Layer 1: ROIs drawn by two processes (the command line's way on Linux) give exactly what one
process gives: masks, counts and findings in ROI order; the helper process is always reaped,
also when the work fails."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import axial_geometry, child_processes
from dicomlabelmap.rtstruct import parallel
from dicomlabelmap.rtstruct.parallel import can_fork, map_in_two_processes, split_rois
from dicomlabelmap.rtstruct.rasterize import rasterize_structure_set
from dicomlabelmap.rtstruct.reader import read_rtstruct
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, circle, keyhole_ring, make_image_series, make_rtstruct

pytestmark = pytest.mark.skipif(not can_fork(), reason="the helper process is forked on Linux only")


def _structure_set():
    geometry = axial_geometry()
    images = make_image_series(geometry)
    rois = [
        SyntheticRoi("Ring", [SyntheticContour(k, c) for k in range(4) for c in (circle(8, 8, 6, 200), circle(8, 8, 3, 150, True))]),
        SyntheticRoi("Keyhole", [SyntheticContour(k, keyhole_ring(9, 9, 7, 3, 300)) for k in range(2, 6)]),
        SyntheticRoi("Tiny", [SyntheticContour(1, circle(4.5, 4.5, 0.2, 8))]),
        SyntheticRoi("Marker", [SyntheticContour(2, [[4, 4]], "POINT")]),
        SyntheticRoi("Crossing", [SyntheticContour(3, circle(6, 6, 3, 64)), SyntheticContour(3, circle(8, 6, 3, 64))]),
    ]
    return read_rtstruct(make_rtstruct(images, geometry, rois)), geometry


def _summary(rasters):
    return [
        (
            r.roi.name,
            None if r.mask is None else (r.mask.offset, r.mask.crop.tolist()),
            r.contour_count,
            r.plane_count,
            r.nested_count,
            r.keyhole_count,
            r.point_count,
            r.repeated_count,
            [str(f) for f in r.findings],
        )
        for r in rasters
    ]


def test_two_processes_draw_what_one_draws(monkeypatch):
    before = child_processes()
    structure_set, geometry = _structure_set()
    one = rasterize_structure_set(structure_set, geometry)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_POINTS", 0)
    two = rasterize_structure_set(structure_set, geometry, processes=2)
    assert _summary(two) == _summary(one)
    assert [r.roi for r in two] == structure_set.rois  # the parent's own ROI objects, contours included
    assert any(r.findings for r in one) and any(r.keyhole_count for r in one)
    assert child_processes() <= before


def test_split_balances_points():
    structure_set, _ = _structure_set()
    mine, theirs = split_rois(structure_set.rois)
    assert sorted(mine + theirs) == list(range(5)) and mine and theirs
    assert (0 in mine) != (1 in mine)  # the two heaviest ROIs on different sides


def test_a_failure_in_the_helper_is_raised_here_and_the_helper_reaped():
    def work(index):
        if index == 3:
            raise ValueError("bad ROI 3")
        return np.full(2, index)

    before = child_processes()
    with pytest.raises(ValueError, match="bad ROI 3"):
        map_in_two_processes(work, [0, 1], [2, 3])
    found = map_in_two_processes(lambda index: np.full(2, index), [0, 2], [1, 3])
    assert {k: v.tolist() for k, v in found.items()} == {0: [0, 0], 1: [1, 1], 2: [2, 2], 3: [3, 3]}
    assert child_processes() <= before


def test_contour_data_parsed_by_two_processes_reads_as_one_process_reads(monkeypatch, tmp_path):
    """The same ROIs, contours and findings, in order, whichever process parsed the numbers; an
    odd Contour Data value (here: not a number) is read and reported by the full path alike."""
    from dicomlabelmap.rtstruct import contourdata

    geometry = axial_geometry()
    images = make_image_series(geometry)
    rois = [SyntheticRoi(f"Ring {n}", [SyntheticContour(k, circle(8, 8, 2 + n, 40 + n)) for k in range(6)]) for n in range(5)]
    dataset = make_rtstruct(images, geometry, rois)
    dataset.ROIContourSequence[2].ContourSequence[3].ContourData[4] = 1.23456789  # then made not a number in the file
    broken = tmp_path / "broken.dcm"
    dataset.save_as(broken, enforce_file_format=True)
    assert broken.read_bytes().count(b"1.23456789") == 1
    broken.write_bytes(broken.read_bytes().replace(b"1.23456789", b"1.2345678x"))
    one = read_rtstruct(broken)
    monkeypatch.setattr(contourdata, "PARALLEL_MIN_BYTES", 0)
    before = child_processes()
    two = read_rtstruct(broken, processes=2)
    assert child_processes() <= before

    def summary(structure_set):
        return [
            (roi.name, [(c.index, c.geometric_type, c.points.tolist(), c.referenced_sop_instance_uids) for c in roi.contours], roi.findings)
            for roi in structure_set.rois
        ]

    assert summary(two) == summary(one)
    assert any("Contour Data" in str(f) for f in one.rois[2].findings)

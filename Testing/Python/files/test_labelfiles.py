"""Layer 1 + 3: label files written through slicerio / pynrrd / nibabel, read back by those
libraries directly, geometry exact (NIfTI within float32), nothing partial left behind."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel
import nrrd
import numpy as np
import pytest
import slicerio
from dicomlabelmap.errors import DicomLabelMapError, OutputError
from dicomlabelmap.files.labelfiles import read_label_file, write_label_file
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.model.labels import LabelVolume
from dicomlabelmap.model.segment import Code, Segment
from dicomlabelmap.model.terminology import to_terminology_string
from rotations import rotation

GEOMETRY = ImageGeometry((4, 5, 6), [10.25, -20.5, 33.125], [0.7, 1.1, 2.5], rotation((1, 1, 0.2), 20))
LIVER = Code("10200004", "SCT", "Liver")
ORGAN = Code("123037004", "SCT", "Anatomical Structure")


def _volumes(layers=2):
    rng = np.random.default_rng(3)
    first = rng.choice(np.array([0, 1, 2], dtype=np.uint8), GEOMETRY.shape)
    volumes = [
        LabelVolume(
            first,
            GEOMETRY,
            [
                Segment(1, "Liver", "a liver", (200, 100, 50), ORGAN, LIVER, properties={"RoiNumber": "4"}),
                Segment(2, "Empty?", color=(1, 2, 3)),
            ],
        )
    ]
    if layers == 2:
        second = (rng.random(GEOMETRY.shape) > 0.7).astype(np.uint8) * 3
        volumes.append(LabelVolume(second, GEOMETRY, [Segment(3, "Tumour", color=(0, 255, 0))]))
    return volumes


def test_seg_nrrd_round_trip_and_slicerio_reads_it(tmp_path):
    path = tmp_path / "out.seg.nrrd"
    volumes = _volumes()
    tables = [tmp_path / "out.seg.nrrd.labels.txt", tmp_path / "out.seg.nrrd.labels.json"]  # what each value means, beside it
    assert write_label_file(path, volumes) == [path, *tables]
    entries = json.loads(tables[1].read_text())["labels"]
    assert [(e["value"], e["name"], e["layer"]) for e in entries] == [(1, "Liver", 1), (2, "Empty?", 1), (3, "Tumour", 2)]
    read = read_label_file(path)
    assert [s.label for v in read for s in v.segments] == ["Liver", "Empty?", "Tumour"]
    liver = read[0].segment(1)
    assert (liver.type, liver.category, liver.color, liver.description, liver.properties) == (
        LIVER,
        ORGAN,
        (200, 100, 50),
        "a liver",
        {"RoiNumber": "4"},
    )
    for mine, theirs in zip(volumes, read, strict=True):
        assert np.array_equal(mine.array, theirs.array)
        assert theirs.geometry.is_close(GEOMETRY, 1e-9)
    # slicerio itself: layers, label values, names, terminology, LPS matrix, (i, j, k) voxel order
    segmentation = slicerio.read_segmentation(str(path))
    np.testing.assert_allclose(segmentation["ijkToLPS"], GEOMETRY.ijk_to_lps, atol=1e-12)
    assert segmentation["voxels"].shape == (2, 6, 5, 4)
    assert np.array_equal(segmentation["voxels"][1].transpose(2, 1, 0), volumes[1].array)
    entries = {s["name"]: s for s in segmentation["segments"]}
    assert (entries["Tumour"]["labelValue"], entries["Tumour"]["layer"]) == (3, 1)
    assert slicerio.segmentation.terminology_entry_to_string(entries["Liver"]["terminology"]) == to_terminology_string(
        volumes[0].segments[0]
    )


def test_nrrd_is_lps_and_exact(tmp_path):
    path = tmp_path / "one.nrrd"
    (volume,) = _volumes(layers=1)
    write_label_file(path, [volume])
    data, header = nrrd.read(str(path), index_order="C")
    assert header["space"] == "left-posterior-superior"
    assert np.array_equal(data, volume.array)
    np.testing.assert_allclose(header["space origin"], GEOMETRY.origin, atol=0)
    assert read_label_file(path)[0].geometry.is_close(GEOMETRY, 1e-12)
    assert [s.number for s in read_label_file(path)[0].segments] == [1, 2]


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_nifti_is_ras(tmp_path, suffix):
    path = tmp_path / f"one{suffix}"
    (volume,) = _volumes(layers=1)
    write_label_file(path, [volume])
    image = nibabel.load(str(path))
    expected_ras = np.diag([-1.0, -1, 1, 1]) @ GEOMETRY.ijk_to_lps
    np.testing.assert_allclose(image.affine, expected_ras, atol=1e-5)
    assert nibabel.aff2axcodes(image.affine) == nibabel.aff2axcodes(expected_ras)
    assert np.array_equal(np.asarray(image.dataobj).transpose(2, 1, 0), volume.array)
    assert read_label_file(path)[0].geometry.is_close(GEOMETRY, 1e-4)


def test_several_layers_need_seg_nrrd_or_split(tmp_path):
    with pytest.raises(OutputError, match="need 2 label layers, and .nrrd holds one"):
        write_label_file(tmp_path / "x.nrrd", _volumes())
    assert not list(tmp_path.iterdir())
    written = write_label_file(tmp_path / "x.nii.gz", _volumes(), split_layers=True)
    assert [p.name for p in written] == ["x_layer1.nii.gz", "x_layer2.nii.gz", "x.nii.gz.labels.txt", "x.nii.gz.labels.json"]
    files = {e["value"]: e["file"] for e in json.loads(written[3].read_text())["labels"]}
    assert files == {1: "x_layer1.nii.gz", 2: "x_layer1.nii.gz", 3: "x_layer2.nii.gz"}
    assert not (tmp_path / "x.nii.gz").exists()  # every layer is named alike
    (single,) = write_label_file(tmp_path / "one.nii.gz", _volumes()[:1], split_layers=True)[:1]
    assert single.name == "one.nii.gz"  # one layer keeps the plain name
    assert np.array_equal(read_label_file(written[1])[0].array, _volumes()[1].array)


def test_existing_file_is_not_overwritten_unless_asked(tmp_path):
    path = tmp_path / "x.seg.nrrd"
    path.write_text("keep me")
    with pytest.raises(OutputError, match="exists"):
        write_label_file(path, _volumes())
    assert path.read_text() == "keep me"
    write_label_file(path, _volumes(), overwrite=True)
    assert len(read_label_file(path)) == 2


@pytest.mark.parametrize("suffix", [".seg.nrrd", ".nrrd"])
@pytest.mark.parametrize("damage", ["voxel", "byte"])
def test_failed_verification_leaves_nothing(tmp_path, monkeypatch, suffix, damage):
    """What reaches the disk is checked: a voxel that differs from the one meant (the data's
    CRC-32), or a damaged compressed stream, fails the write and leaves no file."""
    import dicomlabelmap.files.labelfiles as labelfiles

    original = labelfiles.write_nrrd

    def faulty(path, layers, *arguments, **options):
        digest = original(path, [layer.copy() for layer in layers], *arguments, **options)
        if damage == "voxel":
            changed = [layer.copy() for layer in layers]
            changed[0].flat[7] += 1
            original(path, changed, *arguments, **options)
        else:
            data = bytearray(Path(path).read_bytes())
            data[-20] ^= 0xFF
            Path(path).write_bytes(bytes(data))
        return digest

    monkeypatch.setattr(labelfiles, "write_nrrd", faulty)
    with pytest.raises(DicomLabelMapError, match="voxels read back differ|gzip data"):
        write_label_file(tmp_path / f"x{suffix}", _volumes(layers=1))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("x.txt", b"", "unknown label file type"),
        ("x.nrrd", b"NRRD0004\nnonsense\n", "not a readable .nrrd"),
        ("x.seg.nrrd", b"garbage", "not a readable .seg.nrrd"),
    ],
)
def test_unreadable_files_name_the_problem(tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DicomLabelMapError, match=match):
        read_label_file(tmp_path / name)


def test_unknown_output_suffix(tmp_path):
    with pytest.raises(OutputError, match="unknown output type '.png'"):
        write_label_file(tmp_path / "x.png", _volumes())


def test_missing_optional_package_is_named(tmp_path, monkeypatch):
    import sys

    from dicomlabelmap.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "nibabel", None)  # makes "import nibabel" raise ImportError
    with pytest.raises(MissingDependencyError, match="pip install nibabel"):
        write_label_file(tmp_path / "x.nii.gz", _volumes(layers=1))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".nrrd", ".seg.nrrd"])
def test_nrrd_needs_no_optional_package(tmp_path, monkeypatch, suffix):
    import sys

    for module in ("nrrd", "slicerio", "slicerio.segmentation"):
        monkeypatch.setitem(sys.modules, module, None)
    volumes = _volumes(layers=1)
    path, *_tables = write_label_file(tmp_path / f"x{suffix}", volumes)
    assert np.array_equal(read_label_file(path)[0].array, volumes[0].array)


NAMES = ["Rückenmark", "脊髓", "脊髄", "Ösophagus – links", "Лёгкое", "a|b\\c"]


@pytest.mark.parametrize("compression_level", [0, 1, 9])
def test_unicode_names_and_descriptions_round_trip_through_seg_nrrd(tmp_path, compression_level):
    array = (np.arange(np.prod(GEOMETRY.shape)).reshape(GEOMETRY.shape) % 7).astype(np.uint8)
    segments = [Segment(n, name, f"Beschreibung {name} – 説明") for n, name in enumerate(NAMES, start=1)]
    volumes = [LabelVolume(array, GEOMETRY, segments)]
    path, *_tables = write_label_file(tmp_path / "u.seg.nrrd", volumes, compression_level=compression_level)
    (back,) = read_label_file(path)
    assert [(s.label, s.description) for s in back.segments] == [(s.label, s.description.replace("|", "/")) for s in volumes[0].segments]
    raw = path.read_bytes()
    assert "Rückenmark".encode() in raw  # UTF-8 in the header, as Slicer writes it
    assert (raw[raw.index(b"encoding: ") + 10 : raw.index(b"encoding: ") + 13] == b"raw") == (compression_level == 0)

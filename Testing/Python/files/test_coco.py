"""COCO run-length masks of the demo conversion: one image per reference slice (its SOP Instance
UID and file), one category per label, one annotation per label and slice with voxels, each
decoding to exactly that label's mask plane with the right area and box."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from dicomlabelmap.errors import MissingDependencyError, OutputError
from dicomlabelmap.files.coco import coco_dataset, write_coco
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.synthetic import write_demo_case

mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools is not installed")
# pycocotools' own use of numpy 2 (not ours)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


@pytest.fixture(scope="module")
def conversion(tmp_path_factory):
    ct, rtstruct = write_demo_case(tmp_path_factory.mktemp("coco") / "dicom")
    return rtstruct_to_labels(rtstruct, [ct])


def test_images_and_categories(conversion):
    data = coco_dataset(conversion)
    slices = conversion.reference.slices
    assert [image["id"] for image in data["images"]] == [s.sop_instance_uid for s in slices]
    assert [image["file_name"] for image in data["images"]] == [str(s.path) for s in slices]
    assert {(image["height"], image["width"]) for image in data["images"]} == {(96, 128)}
    assert [image["slice_index"] for image in data["images"]] == list(range(12))
    assert [(c["id"], c["name"], c["color"]) for c in data["categories"]] == [
        (1, "Ring (nested)", [230, 80, 80]),
        (2, "Ring (keyhole)", [80, 160, 230]),
        (3, "Island in hole (XOR)", [90, 200, 110]),
        (4, "Sub-voxel", [240, 200, 40]),
        (5, "Markers", [200, 100, 220]),
        (6, "Body", [200, 180, 150]),
    ]
    assert data["categories"][0]["roi_names"] == ["Ring (nested)"]
    assert data["info"] == {
        "description": "RT Structure Set Synthetic",
        "rtstruct": str(conversion.structure_set.path),
        "reference_series_instance_uid": conversion.reference.series_instance_uid,
    }


def test_annotations_decode_to_the_label_masks(conversion):
    data = coco_dataset(conversion)
    annotations = data["annotations"]
    assert [a["id"] for a in annotations] == list(range(1, 27))
    per_label = {number: sum(1 for a in annotations if a["category_id"] == number) for number in range(1, 7)}
    assert per_label == {1: 4, 2: 4, 3: 5, 4: 1, 5: 0, 6: 12}  # slices holding voxels; the empty Markers label has none
    slice_of = {image["id"]: image["slice_index"] for image in data["images"]}
    masks = {segment.number: mask for segment, mask in conversion.label_masks()}
    for annotation in annotations:
        k = slice_of[annotation["image_id"]]
        expected = masks[annotation["category_id"]].plane(k)
        rle = dict(annotation["segmentation"], counts=annotation["segmentation"]["counts"].encode("ascii"))
        np.testing.assert_array_equal(mask_api.decode(rle).astype(bool), expected)
        rows, columns = np.nonzero(expected)
        x, y = columns.min(), rows.min()
        assert annotation["bbox"] == [x, y, columns.max() - x + 1, rows.max() - y + 1]
        assert annotation["area"] == np.count_nonzero(expected) and annotation["iscrowd"] == 0
    areas = {n: sum(a["area"] for a in annotations if a["category_id"] == n) for n in range(1, 7)}
    assert areas == {1: 3264, 2: 3264, 3: 6285, 4: 4, 5: 0, 6: 94128}
    assert annotations[0]["bbox"] == [22.0, 22.0, 37.0, 37.0] and annotations[0]["segmentation"]["size"] == [96, 128]


def test_write_coco(conversion, tmp_path):
    target = tmp_path / "masks.json"
    assert write_coco(conversion, target) == target
    written = json.loads(target.read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(coco_dataset(conversion, tmp_path)))
    with pytest.raises(OutputError, match=r"masks\.json exists; choose another name or use --overwrite"):
        write_coco(conversion, target)
    target.write_text("{}")
    write_coco(conversion, target, overwrite=True)
    assert len(json.loads(target.read_text())["annotations"]) == 26


def test_without_pycocotools_the_package_is_named(conversion, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pycocotools.mask", None)
    with pytest.raises(MissingDependencyError, match=r"needs the Python package 'pycocotools': pip install pycocotools"):
        write_coco(conversion, tmp_path / "masks.json")
    assert not (tmp_path / "masks.json").exists()


def test_file_names_are_relative_to_the_json_file(conversion, tmp_path, monkeypatch):
    """COCO readers find images under an image root, usually the JSON file's folder: each
    file_name leads from there to the slice's DICOM file, wherever the command was run from."""
    import os

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    target = tmp_path / "out" / "coco" / "masks.json"
    write_coco(conversion, target)
    images = json.loads(target.read_text(encoding="utf-8"))["images"]
    for image, source in zip(images, conversion.reference.slices, strict=True):
        assert not os.path.isabs(image["file_name"]) and image["file_name"].startswith("../../")
        assert (target.parent / image["file_name"]).resolve() == source.path.resolve()

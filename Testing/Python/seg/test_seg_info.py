"""What ``dicomlabelmap info`` tells about a Label Map SEG series, as data: each instance (file,
size, type, transfer syntax, frames), the grid, and each segment with its layer and exact voxel
count; one instance's fields are repeated at the top level."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dicomlabelmap.dicom.codecs import TransferSyntax
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.seg.info import describe_seg_series
from dicomlabelmap.seg.series import read_seg_series
from dicomlabelmap.seg.writer import SegWriteOptions, write_label_map_segs
from dicomlabelmap.synthetic import write_demo_case


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("seginfo")
    ct, rtstruct = write_demo_case(root / "dicom")
    conversion = rtstruct_to_labels(rtstruct, [ct])
    folder = root / "seg"
    folder.mkdir()
    options = SegWriteOptions(transfer_syntax=TransferSyntax.DEFLATED_FRAME, omit_empty_frames=True)
    paths = write_label_map_segs(conversion.label_volumes, conversion.reference, folder, options)
    return conversion, paths


def test_series_description(demo):
    conversion, paths = demo
    data = describe_seg_series(read_seg_series(paths))
    json.dumps(data)  # JSON-ready
    assert data["layers"] == 3 and data["findings"] == []
    assert [(i["file"], i["bytes"], i["segmentation_type"], i["frames"], i["layers"]) for i in data["instances"]] == [
        (str(path), path.stat().st_size, "LABELMAP", frames, 1) for path, frames in zip(paths, (5, 12, 4), strict=True)
    ]  # empty frames omitted: the XOR island (and the sub-voxel ROI) lie on slices 4-8, Body on all, the rings on 2-5
    assert {(i["transfer_syntax"]["name"], i["transfer_syntax"]["uid"]) for i in data["instances"]} == {
        ("deflated-frame", "1.2.840.10008.1.2.8.1")
    }
    assert {i["background_segment_number"] for i in data["instances"]} == {0}
    geometry = conversion.reference.geometry
    grid = data["grid"]
    assert (grid["shape"], grid["frame_of_reference_uid"]) == ([12, 96, 128], geometry.frame_of_reference_uid)
    np.testing.assert_allclose(grid["spacing"], [1.25, 1.5, 3.0], atol=1e-9)
    np.testing.assert_allclose(grid["ijk_to_lps"], geometry.ijk_to_lps, atol=1e-9)
    assert [(s["number"], s["label"], s["layer"], s["voxels"], s["file"]) for s in data["segments"]] == [
        (3, "Island in hole (XOR)", 1, 6285, str(paths[0])),
        (4, "Sub-voxel", 1, 4, str(paths[0])),
        (5, "Markers", 1, 0, str(paths[0])),
        (6, "Body", 2, 94128, str(paths[1])),
        (1, "Ring (nested)", 3, 3264, str(paths[2])),
        (2, "Ring (keyhole)", 3, 3264, str(paths[2])),
    ]
    assert data["segments"][3]["color"] == [200, 180, 150]
    assert data["segments"][0]["category"] == "(SCT, 85756007, 'Tissue')"
    assert "file" not in data  # several instances: no top-level copy


def test_one_instance_is_repeated_at_the_top_level(demo):
    _, paths = demo
    data = describe_seg_series(read_seg_series([paths[1]]))
    (instance,) = data["instances"]
    assert {key: data[key] for key in instance if key != "layers"} == {key: value for key, value in instance.items() if key != "layers"}
    assert data["file"] == str(paths[1]) and data["frames"] == 12
    assert "layers" in instance and data["layers"] == 1  # the top-level "layers" stays the series' count

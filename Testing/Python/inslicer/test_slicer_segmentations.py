"""Layer 4: the Slicer glue (LabelMapSegLib) on real Slicer C++ (slicer-core): volume nodes <->
grids, segmentation nodes <-> label layers, and the user path RT Structure Set -> segmentation
node -> Label Map SEG -> label layers, voxel for voxel on the CT grid."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_file
from dicomlabelmap.errors import GeometryError
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.model.labels import LabelVolume
from dicomlabelmap.model.segment import Code, Segment
from rotations import SAGITTAL, rotation
from slicer_scene import import_slicer, new_scene, volume_node

slicer = import_slicer()
from LabelMapSegLib.segmentations import (  # noqa: E402
    add_label_volumes_to_segmentation_node,
    geometry_from_volume_node,
    label_volumes_from_segmentation_node,
)

DIRECTIONS = {"axial": np.eye(3), "sagittal": SAGITTAL, "oblique": rotation((1, 2, 3), 27)}
LIVER = Code("10200004", "SCT", "Liver")


@pytest.mark.parametrize("name", list(DIRECTIONS))
def test_volume_node_geometry_round_trip(name):
    geometry = ImageGeometry((5, 7, 9), [10.0, -20.0, 30.5], [0.7, 1.3, 2.5], DIRECTIONS[name])
    node = volume_node(new_scene(), geometry)
    found = geometry_from_volume_node(node)
    assert found.shape == geometry.shape and found.is_close(geometry, 1e-9)
    # Slicer's RAS is LPS with the first two axes negated
    ras = [node.GetOrigin()[i] for i in range(3)]
    np.testing.assert_allclose(ras, [-geometry.origin[0], -geometry.origin[1], geometry.origin[2]], atol=1e-9)


def _layers(geometry):
    first = np.zeros(geometry.shape, np.uint8)
    first[1:4, 2:6, 3:8] = 1
    first[2, 5:7, 1:3] = 4
    second = np.zeros(geometry.shape, np.uint8)
    second[2:5, 3:7, 4:9] = 1  # same label value as in layer 1, another layer
    return [
        LabelVolume(
            first,
            geometry,
            [
                Segment(1, "Liver", color=(200, 100, 50), type=LIVER),
                Segment(4, "Tumour", color=(0, 255, 0)),
                Segment(9, "Empty", color=(1, 2, 3)),
            ],
        ),
        LabelVolume(second, geometry, [Segment(1, "Overlap", color=(10, 20, 250))]),
    ]


@pytest.mark.parametrize("name", list(DIRECTIONS))
def test_segmentation_node_round_trip(name):
    geometry = ImageGeometry((6, 8, 10), [5.0, 6.0, 7.0], [0.9, 1.1, 2.0], DIRECTIONS[name])
    scene = new_scene()
    reference = volume_node(scene, geometry)
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(reference)
    layers = _layers(geometry)
    add_label_volumes_to_segmentation_node(layers, segmentation_node)
    segmentation = segmentation_node.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 4 and segmentation.GetNumberOfLayers() == 2
    found = label_volumes_from_segmentation_node(segmentation_node, reference)
    assert len(found) == 2
    for mine, theirs in zip(layers, found, strict=True):
        np.testing.assert_array_equal(theirs.array, mine.array)
        assert theirs.geometry.is_close(geometry, 1e-9)
        assert [(s.number, s.label, s.display_color(), s.type) for s in theirs.segments] == [
            (s.number, s.label, s.display_color(), s.type) for s in mine.segments
        ]


def test_seg_nrrd_saved_by_slicer_comes_back(tmp_path):
    """Slicer's own storage node writes the segmentation (cropping layer extents as it likes);
    reading it back and placing the layers on the reference grid gives the same voxels."""
    geometry = ImageGeometry((6, 8, 10), [5.0, 6.0, 7.0], [0.9, 1.1, 2.0], DIRECTIONS["oblique"])
    scene = new_scene()
    reference = volume_node(scene, geometry)
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(reference)
    add_label_volumes_to_segmentation_node(_layers(geometry), segmentation_node)
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(tmp_path / "s.seg.nrrd"))
    assert storage.WriteData(segmentation_node) == 1
    loaded = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    reader = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    reader.SetFileName(str(tmp_path / "s.seg.nrrd"))
    assert reader.ReadData(loaded) == 1
    for mine, theirs in zip(_layers(geometry), label_volumes_from_segmentation_node(loaded, reference), strict=True):
        np.testing.assert_array_equal(theirs.array, mine.array)


def test_layer_on_another_lattice_is_refused():
    geometry = ImageGeometry((4, 6, 8), [0.0, 0.0, 0.0], [1.0, 1.0, 2.0], np.eye(3))
    other = ImageGeometry((4, 6, 8), [0.5, 0.0, 0.0], [1.0, 1.0, 2.0], np.eye(3))
    scene = new_scene()
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    array = np.zeros(other.shape, np.uint8)
    array[1, 1, 1] = 1
    add_label_volumes_to_segmentation_node([LabelVolume(array, other, [Segment(1, "A")])], segmentation_node)
    with pytest.raises(GeometryError, match="fraction of a voxel"):
        label_volumes_from_segmentation_node(segmentation_node, volume_node(scene, geometry))


@pytest.mark.realdata
def test_rtstruct_to_segmentation_node_to_label_map_seg_and_back(tmp_path):
    """The user path on LUNG1-001: RT Structure Set -> segmentation node on the CT grid (never
    cropped) -> Label Map SEG -> label layers identical to the segmentation's."""
    from dicomlabelmap import rtstruct_to_labels
    from dicomlabelmap.seg.reader import read_seg
    from dicomlabelmap.seg.writer import write_label_map_segs

    conversion = rtstruct_to_labels(shared_file("nsclc-lung1-001/rtstruct/RS.dcm"), shared_file("nsclc-lung1-001/ct"))
    geometry = conversion.reference.geometry
    scene = new_scene()
    ct = volume_node(scene, geometry)
    segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(ct)
    add_label_volumes_to_segmentation_node(conversion.label_volumes, segmentation_node)
    layers = label_volumes_from_segmentation_node(segmentation_node, ct)
    assert [layer.array.shape for layer in layers] == [geometry.shape] * 2
    paths = write_label_map_segs(layers, conversion.reference, tmp_path)
    for path, original in zip(paths, conversion.label_volumes, strict=True):
        (back,) = read_seg(path, conversion.reference).volumes
        np.testing.assert_array_equal(back.array, original.array)
        assert sorted((s.number, s.label, s.display_color()) for s in back.segments) == sorted(
            (s.number, s.label, s.display_color()) for s in original.segments
        )

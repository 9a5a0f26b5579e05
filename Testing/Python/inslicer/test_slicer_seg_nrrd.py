"""Layer 4 (file level): Slicer's own C++ reader (slicer-core's vtkMRMLSegmentationStorageNode)
loads our .seg.nrrd with every segment, layer, label value, colour, terminology tag and voxel,
on the full reference extent in RAS."""

from __future__ import annotations

import numpy as np
import pytest
from dicomlabelmap import rtstruct_to_labels, write_label_file
from dicomlabelmap.model.terminology import to_terminology_string
from dicomlabelmap.synthetic import write_demo_case

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core==5.12.4.0)")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("the installed 'slicer' module is not slicer-core", allow_module_level=True)
vtk = pytest.importorskip("vtk")
from vtk.util import numpy_support  # noqa: E402


def test_slicer_reads_our_seg_nrrd_exactly(tmp_path):
    ct, rtstruct = write_demo_case(tmp_path / "dicom")
    conversion = rtstruct_to_labels(rtstruct, ct)
    path = tmp_path / "demo.seg.nrrd"
    write_label_file(path, conversion.label_volumes)

    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1
    segmentation = node.GetSegmentation()
    expected = {s.label: (s, layer) for layer, volume in enumerate(conversion.label_volumes) for s in volume.segments}
    assert segmentation.GetNumberOfSegments() == len(expected) == 6
    assert segmentation.GetNumberOfLayers() == len(conversion.label_volumes) == 3

    geometry = conversion.reference.geometry
    layer_of_file = {}
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        segment = segmentation.GetSegment(segment_id)
        ours, layer = expected[segment.GetName()]
        assert segment.GetLabelValue() == ours.number
        np.testing.assert_allclose(segment.GetColor(), np.array(ours.display_color()) / 255, atol=1e-6)
        tag = vtk.reference("")
        assert segment.GetTag("TerminologyEntry", tag) and str(tag) == to_terminology_string(ours)
        layer_of_file.setdefault(segmentation.GetLayerIndex(segment_id), set()).add(layer)
        labelmap = segment.GetRepresentation("Binary labelmap")
        assert labelmap.GetExtent() == (0, geometry.shape[2] - 1, 0, geometry.shape[1] - 1, 0, geometry.shape[0] - 1)
        matrix = vtk.vtkMatrix4x4()
        labelmap.GetImageToWorldMatrix(matrix)
        ijk_to_ras = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
        np.testing.assert_allclose(ijk_to_ras, np.diag([-1.0, -1, 1, 1]) @ geometry.ijk_to_lps, atol=1e-9)
        voxels = numpy_support.vtk_to_numpy(labelmap.GetPointData().GetScalars()).reshape(geometry.shape)
        assert np.array_equal(voxels, conversion.label_volumes[layer].array)
    # Slicer's layers are ours, one to one.
    assert all(len(ours) == 1 for ours in layer_of_file.values()) and len(layer_of_file) == 3


UNICODE_NAMES = ["Rückenmark", "脊髓", "脊髄 (左)", "Лёгкое"]


def test_slicer_reads_our_unicode_names_and_we_read_slicers(tmp_path):
    """Segment names in any script: Slicer's C++ reader gets ours exactly, and a .seg.nrrd that
    Slicer's own writer made (UTF-8 header) reads back with the same names and descriptions."""
    from dicomlabelmap import read_label_file
    from dicomlabelmap.model.labels import LabelVolume
    from dicomlabelmap.model.segment import Segment
    from slicer_scene import new_scene
    from test_labelfiles import GEOMETRY

    array = (np.arange(np.prod(GEOMETRY.shape)).reshape(GEOMETRY.shape) % 5).astype(np.uint8)
    segments = [Segment(n, name, description=f"{name} – Beschreibung") for n, name in enumerate(UNICODE_NAMES, start=1)]
    ours = tmp_path / "ours.seg.nrrd"
    write_label_file(ours, [LabelVolume(array, GEOMETRY, segments)])

    scene = new_scene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(ours))
    assert storage.ReadData(node) == 1
    segmentation = node.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    assert names == UNICODE_NAMES
    tag = vtk.reference("")
    assert segmentation.GetNthSegment(0).GetTag("DICOMLabelMap.Description", tag) and str(tag) == "Rückenmark – Beschreibung"

    theirs = tmp_path / "theirs.seg.nrrd"
    writer = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    writer.SetFileName(str(theirs))
    assert writer.WriteData(node) == 1
    back = read_label_file(theirs)
    assert [s.label for v in back for s in v.segments] == UNICODE_NAMES
    assert [s.description for v in back for s in v.segments] == [s.description for s in segments]
    assert np.array_equal(back[0].array, array)

"""Scalar volume and segmentation nodes <-> :class:`ImageGeometry` and :class:`LabelVolume`.

Slicer keeps IJK-to-RAS; the core keeps IJK-to-LPS: the first two rows differ in sign. A
segmentation's layers (shared labelmaps) become label volumes one to one, every segment keeping
its label value, name, colour and terminology, empty segments included. Layers are placed on the
reference volume's grid by an integer voxel offset; a layer on another lattice is refused rather
than resampled.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import slicer
import vtk
from dicomlabelmap.errors import DicomLabelMapError, GeometryError
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.model.labels import LabelVolume, label_dtype
from dicomlabelmap.model.segment import Segment
from dicomlabelmap.model.terminology import apply_terminology_string, to_terminology_string
from vtk.util import numpy_support

_RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
_BINARY_LABELMAP = "Binary labelmap"
_TERMINOLOGY_TAG = "TerminologyEntry"
_LATTICE_TOLERANCE = 1e-3


def _matrix_to_numpy(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _numpy_to_matrix(array: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r, c]))
    return matrix


def geometry_from_volume_node(volume_node: Any) -> ImageGeometry:
    """The grid of a scalar volume node (array order ``(k, j, i)``, LPS)."""
    image = volume_node.GetImageData()
    if image is None:
        raise DicomLabelMapError(f"volume '{volume_node.GetName()}' has no image data")
    ijk_to_ras = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(ijk_to_ras)
    columns, rows, slices = image.GetDimensions()
    frame = volume_node.GetAttribute("DICOM.FrameOfReferenceUID") if hasattr(volume_node, "GetAttribute") else None
    return ImageGeometry.from_ijk_to_lps((slices, rows, columns), _RAS_FROM_LPS @ _matrix_to_numpy(ijk_to_ras), frame or None)


def ijk_to_ras(geometry: ImageGeometry) -> vtk.vtkMatrix4x4:
    """Slicer's IJK-to-RAS matrix of a grid."""
    return _numpy_to_matrix(_RAS_FROM_LPS @ geometry.ijk_to_lps)


def _oriented_image(array: np.ndarray, geometry: ImageGeometry) -> Any:
    image = slicer.vtkOrientedImageData()
    slices, rows, columns = array.shape
    image.SetDimensions(columns, rows, slices)
    image.AllocateScalars(vtk.VTK_UNSIGNED_SHORT if array.dtype == np.uint16 else vtk.VTK_UNSIGNED_CHAR, 1)
    numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())[:] = np.ascontiguousarray(array).ravel()
    image.SetImageToWorldMatrix(ijk_to_ras(geometry))
    return image


def _layer_on_grid(image: Any, geometry: ImageGeometry, name: str) -> np.ndarray:
    """A shared labelmap's voxels on the reference grid (exact copy at an integer offset)."""
    placed = np.zeros(geometry.shape, dtype=np.uint16)
    extent = image.GetExtent()
    if extent[1] < extent[0] or extent[3] < extent[2] or extent[5] < extent[4]:
        return placed
    to_world = vtk.vtkMatrix4x4()
    image.GetImageToWorldMatrix(to_world)
    layer_ijk_to_lps = _RAS_FROM_LPS @ _matrix_to_numpy(to_world)
    if not np.allclose(layer_ijk_to_lps[:3, :3], geometry.ijk_to_lps[:3, :3], atol=_LATTICE_TOLERANCE):
        raise GeometryError(
            f"segment layer of '{name}' is on another voxel lattice than the reference volume; resample the segmentation to it first"
        )
    start = geometry.to_ijk((layer_ijk_to_lps @ np.array([extent[0], extent[2], extent[4], 1.0]))[:3])[0]
    offset = np.round(start).astype(int)
    if np.max(np.abs(start - offset)) > _LATTICE_TOLERANCE:
        raise GeometryError(f"segment layer of '{name}' is shifted by a fraction of a voxel from the reference volume")
    dimensions = (extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
    voxels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dimensions)
    i0, j0, k0 = offset
    source = tuple(slice(max(0, -o), min(n, s - o)) for o, n, s in zip((k0, j0, i0), dimensions, geometry.shape, strict=True))
    target = tuple(slice(max(0, o), min(s, o + n)) for o, n, s in zip((k0, j0, i0), dimensions, geometry.shape, strict=True))
    if any(t.start >= t.stop for t in target):
        return placed
    clipped = voxels[source]
    outside = int(np.count_nonzero(voxels)) - int(np.count_nonzero(clipped))
    if outside:
        raise GeometryError(f"{outside} labelled voxel(s) of '{name}' lie outside the reference volume")
    placed[target] = clipped
    return placed


def label_volumes_from_segmentation_node(segmentation_node: Any, reference_volume_node: Any) -> list[LabelVolume]:
    """One label volume per layer of the segmentation, on the reference volume's grid."""
    geometry = geometry_from_volume_node(reference_volume_node)
    segmentation = segmentation_node.GetSegmentation()
    if segmentation.GetNumberOfSegments() and not segmentation.ContainsRepresentation(_BINARY_LABELMAP):
        segmentation_node.CreateBinaryLabelmapRepresentation()  # e.g. a segmentation drawn as surfaces
    layers: dict[int, tuple[Any, list[Segment]]] = {}
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        vtk_segment = segmentation.GetSegment(segment_id)
        layer = segmentation.GetLayerIndex(segment_id)
        image = vtk_segment.GetRepresentation(_BINARY_LABELMAP)
        layers.setdefault(layer, (image, []))[1].append(_segment_from_vtk(vtk_segment))
    volumes = []
    for layer in sorted(layers):
        image, segments = layers[layer]
        array = _layer_on_grid(image, geometry, segmentation_node.GetName()) if image is not None else np.zeros(geometry.shape, np.uint16)
        numbers = {s.number for s in segments}
        stray = {int(v) for v in np.unique(array)} - numbers - {0}
        if stray:
            raise DicomLabelMapError(
                f"layer {layer + 1} of '{segmentation_node.GetName()}' holds label values {sorted(stray)} that no segment owns"
            )
        volumes.append(LabelVolume(array.astype(label_dtype(max(numbers | {0}))), geometry, segments))
    return volumes


def _segment_from_vtk(vtk_segment: Any) -> Segment:
    red, green, blue = vtk_segment.GetColor()
    segment = Segment(
        number=int(vtk_segment.GetLabelValue()),
        label=vtk_segment.GetName(),
        color=(round(red * 255), round(green * 255), round(blue * 255)),
    )
    tag = vtk.reference("")
    if vtk_segment.GetTag(_TERMINOLOGY_TAG, tag) and str(tag):
        segment = apply_terminology_string(segment, str(tag))
    return segment


def add_label_volumes_to_segmentation_node(volumes: list[LabelVolume], segmentation_node: Any) -> list[str]:
    """Add every layer as one shared labelmap of ``segmentation_node`` (label values, names,
    colours and terminology kept; empty segments too). Returns the new segment IDs."""
    segmentation = segmentation_node.GetSegmentation()
    ids = []
    for volume in volumes:
        image = _oriented_image(volume.array, volume.geometry)
        for segment in volume.segments:
            vtk_segment = slicer.vtkSegment()
            vtk_segment.SetName(segment.label)
            vtk_segment.SetColor(*(c / 255 for c in segment.display_color()))
            vtk_segment.SetLabelValue(segment.number)
            vtk_segment.SetTag(_TERMINOLOGY_TAG, to_terminology_string(segment))
            vtk_segment.AddRepresentation(_BINARY_LABELMAP, image)
            segment_id = segmentation.GenerateUniqueSegmentID(f"Segment_{segment.number}")
            segmentation.AddSegment(vtk_segment, segment_id)
            ids.append(segment_id)
    return ids


def set_reference_geometry(segmentation_node: Any, geometry: ImageGeometry, volume_node: Any = None) -> None:
    """Make ``geometry`` the segmentation's reference image geometry (the grid Slicer edits and
    converts on): from ``volume_node`` when given (it must be on that grid), else directly."""
    if volume_node is not None:
        if not geometry_from_volume_node(volume_node).is_close(geometry, 1e-3):
            raise GeometryError(f"volume '{volume_node.GetName()}' is not on the segmentation's grid")
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
        return
    image = slicer.vtkOrientedImageData()
    image.SetDimensions(geometry.shape[2], geometry.shape[1], geometry.shape[0])
    image.SetImageToWorldMatrix(ijk_to_ras(geometry))
    converter = slicer.vtkSegmentationConverter
    segmentation_node.GetSegmentation().SetConversionParameter(
        converter.GetReferenceImageGeometryParameterName(), converter.SerializeImageGeometry(image)
    )


def reference_geometry(segmentation_node: Any) -> ImageGeometry | None:
    """The segmentation's reference image geometry, or ``None`` when it has none."""
    converter = slicer.vtkSegmentationConverter
    text = segmentation_node.GetSegmentation().GetConversionParameter(converter.GetReferenceImageGeometryParameterName())
    image = slicer.vtkOrientedImageData()
    if not text or not converter.DeserializeImageGeometry(text, image, False):
        return None
    extent = image.GetExtent()
    to_world = vtk.vtkMatrix4x4()
    image.GetImageToWorldMatrix(to_world)
    ijk_to_lps = _RAS_FROM_LPS @ _matrix_to_numpy(to_world)
    # The extent may start anywhere; the grid starts at its first voxel.
    ijk_to_lps[:3, 3] = (ijk_to_lps @ np.array([extent[0], extent[2], extent[4], 1.0]))[:3]
    shape = (extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
    return ImageGeometry.from_ijk_to_lps(shape, ijk_to_lps)


def labelmap_node_from_label_volume(volume: LabelVolume, scene: Any, name: str) -> Any:
    """A labelmap volume node holding ``volume`` on its exact grid, with a colour table that
    names and colours each label value."""
    colors = scene.AddNewNodeByClass("vtkMRMLColorTableNode", f"{name} colors")
    colors.SetTypeToUser()
    highest = max([s.number for s in volume.segments] + [0])
    colors.SetNumberOfColors(highest + 1)
    colors.SetColor(0, "Background", 0.0, 0.0, 0.0, 0.0)
    for segment in volume.segments:
        red, green, blue = (c / 255 for c in segment.display_color())
        colors.SetColor(segment.number, segment.label, red, green, blue, 1.0)
    node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", name)
    image = vtk.vtkImageData()
    image.SetDimensions(volume.geometry.shape[2], volume.geometry.shape[1], volume.geometry.shape[0])
    image.AllocateScalars(vtk.VTK_UNSIGNED_SHORT if volume.array.dtype == np.uint16 else vtk.VTK_UNSIGNED_CHAR, 1)
    numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())[:] = np.ascontiguousarray(volume.array).ravel()
    node.SetAndObserveImageData(image)
    node.SetIJKToRASMatrix(ijk_to_ras(volume.geometry))
    node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    if display is not None:
        display.SetAndObserveColorNodeID(colors.GetID())
    return node

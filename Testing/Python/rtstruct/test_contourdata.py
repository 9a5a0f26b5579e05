"""Layer 1: the ROI Contour Sequence walked as bytes (contourdata) gives exactly what pydicom's
reading gives, in every encoding a file may use; anything unusual is left to the pydicom path,
which reports it as before."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from conftest import axial_geometry
from dicomlabelmap.findings import Severity
from dicomlabelmap.rtstruct.contourdata import (
    CONTOUR_DATA,
    CONTOUR_SEQUENCE,
    Node,
    Unusual,
    numbers,
    roi_contour_nodes,
    sequence_nodes,
)
from dicomlabelmap.rtstruct.reader import read_rtstruct
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, circle, make_image_series, make_rtstruct
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian


def _structure_set():
    geometry = axial_geometry()
    images = make_image_series(geometry)
    rois = [
        SyntheticRoi("Ring", [SyntheticContour(k, shape) for k in (1, 2) for shape in (circle(5, 5, 4, 7), circle(5, 5, 2, 5, True))]),
        SyntheticRoi("Slab", [SyntheticContour(3, [[1, 1], [6, 1], [6, 6]])], (1, 2, 3)),
        SyntheticRoi("Marker", [SyntheticContour(2, [[4, 4]], "POINT")], None),
    ]
    dataset = make_rtstruct(images, geometry, rois)
    dataset.ROIContourSequence[1].ContourSequence[0].ContourSlabThickness = 2.5
    return dataset


def _written(tmp_path, dataset, syntax, undefined):
    for element in dataset.iterall():
        if element.VR == "SQ":
            element.is_undefined_length = undefined
    dataset.file_meta.TransferSyntaxUID = syntax
    path = tmp_path / f"rs_{syntax}_{undefined}.dcm"
    dataset.save_as(path, enforce_file_format=True)
    return path


def _contours(structure_set):
    return [
        (roi.name, roi.color, c.index, c.geometric_type, c.points.tolist(), c.referenced_sop_instance_uids, c.slab_thickness)
        for roi in structure_set.rois
        for c in roi.contours
    ]


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("undefined", [False, True])
def test_raw_walk_reads_what_pydicom_reads(tmp_path, syntax, undefined):
    """Sequences of defined length (kept as bytes by pydicom, walked here) and of undefined
    length (split by pydicom, each item's raw elements read here), explicit and implicit VR."""
    path = _written(tmp_path, _structure_set(), syntax, undefined)
    fast = read_rtstruct(path)
    expected = pydicom.dcmread(path)
    reference = [[float(v) for v in contour.ContourData] for item in expected.ROIContourSequence for contour in item.ContourSequence]
    assert [np.ravel(c.points).tolist() for roi in fast.rois for c in roi.contours] == reference
    found = _contours(fast)
    assert [(name, color, index, kind.value) for name, color, index, kind, *_ in found] == [
        ("Ring", (255, 0, 0), 0, "CLOSED_PLANAR"),
        ("Ring", (255, 0, 0), 1, "CLOSED_PLANAR"),
        ("Ring", (255, 0, 0), 2, "CLOSED_PLANAR"),
        ("Ring", (255, 0, 0), 3, "CLOSED_PLANAR"),
        ("Slab", (1, 2, 3), 0, "CLOSED_PLANAR"),
        ("Marker", None, 0, "POINT"),
    ]
    uids = [str(c.ContourImageSequence[0].ReferencedSOPInstanceUID) for i in expected.ROIContourSequence for c in i.ContourSequence]
    assert [references for *_, references, _ in found] == [(uid,) for uid in uids]
    assert [slab for *_, slab in found] == [None, None, None, None, 2.5, None]
    assert not any(roi.findings for roi in fast.rois)


@pytest.mark.parametrize("undefined", [False, True])
def test_unusual_contours_are_read_and_reported_by_pydicom_path(tmp_path, undefined):
    """A NaN, a wrong point count, an unknown type and an offset vector are each read by the
    reader's pydicom path: the same findings as a dataset read in memory."""
    dataset = _structure_set()
    ring = dataset.ROIContourSequence[0].ContourSequence
    ring[0].ContourData = [float("nan")] + list(ring[0].ContourData)[1:]
    ring[1].NumberOfContourPoints = 99
    ring[2].ContourGeometricType = "CLOSED"
    ring[3].ContourOffsetVector = [1, 0, 0]
    from_file = read_rtstruct(_written(tmp_path, dataset, ExplicitVRLittleEndian, undefined))
    in_memory = read_rtstruct(_structure_set_with(dataset))
    assert [(f.severity, f.attribute, f.message) for f in from_file.roi("Ring").findings] == [
        (f.severity, f.attribute, f.message) for f in in_memory.roi("Ring").findings
    ]
    assert [f.severity for f in from_file.roi("Ring").findings] == [Severity.ERROR, Severity.WARNING, Severity.ERROR]
    shifted = from_file.roi("Ring").contours[-1]
    assert shifted.offset_vector == (1.0, 0.0, 0.0)
    np.testing.assert_allclose(shifted.points[:, 0] - 1.0, np.asarray(ring[3].ContourData, dtype=float).reshape(-1, 3)[:, 0], atol=1e-9)


def _structure_set_with(dataset):
    return pydicom.dcmread(pydicom.filebase.DicomBytesIO(_bytes(dataset)))


def _bytes(dataset):
    buffer = pydicom.filebase.DicomBytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_nodes_refuse_converted_and_odd_values(tmp_path):
    path = _written(tmp_path, _structure_set(), ExplicitVRLittleEndian, False)
    dataset = pydicom.dcmread(path)
    nodes = roi_contour_nodes(dataset)
    assert len(nodes) == 3 and len(nodes[0].items(CONTOUR_SEQUENCE)) == 4
    first = nodes[0].items(CONTOUR_SEQUENCE)[0]
    assert numbers(first.value(CONTOUR_DATA)).size == 21
    converted = Node(dataset=dataset.ROIContourSequence[0].ContourSequence[0])
    _ = dataset.ROIContourSequence[0].ContourSequence[0].ContourData  # pydicom converts the value
    with pytest.raises(Unusual):
        converted.value(CONTOUR_DATA)
    assert sequence_nodes(None) == []
    for odd in (b"1\\x\\3", b"1\\nan\\3", b"\xff"):
        with pytest.raises(Unusual):
            numbers(odd)
    assert numbers(b"").size == 0 and numbers(b" 1.5\\-2 \x00").tolist() == [1.5, -2.0]

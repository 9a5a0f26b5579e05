"""Where a Segmentation's frames lie: the grid is the reference's when one is given (checked
against the frames' size, Frame of Reference and orientation), else rebuilt from the frames'
positions over the whole range (gaps are omitted frames, never cropped); each frame is placed on
a slice or refused; tiles of a total pixel matrix are pasted, clipped at the edges."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import axial_geometry
from dicomlabelmap.dicom.frames import FunctionalGroups
from dicomlabelmap.dicom.images import ReferenceSeries
from dicomlabelmap.errors import GeometryError, InvalidDicomError
from dicomlabelmap.findings import Severity
from dicomlabelmap.seg.grid import frame_geometry, frame_grid, paste, place_frames, tiled_grid
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

AXIAL = np.array([1.0, 0, 0, 0, 1, 0])
SPACING = np.array([1.0, 1.0])  # row, column


def seg_header(z_positions, spacing_between=None, frame_of_reference="1.2.3.4.5") -> Dataset:
    """A multi-frame header with axial frames of 20x24 at the given z positions."""
    dataset = Dataset()
    dataset.FrameOfReferenceUID = frame_of_reference
    dataset.Rows, dataset.Columns, dataset.NumberOfFrames = 20, 24, len(z_positions)
    orientation, measures, shared = Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures.PixelSpacing = [1, 1]
    measures.SliceThickness = 2
    if spacing_between is not None:
        measures.SpacingBetweenSlices = spacing_between
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    shared.PixelMeasuresSequence = DicomSequence([measures])
    dataset.SharedFunctionalGroupsSequence = DicomSequence([shared])
    frames = []
    for z in z_positions:
        position, group = Dataset(), Dataset()
        position.ImagePositionPatient = [-10, -12, z]
        group.PlanePositionSequence = DicomSequence([position])
        frames.append(group)
    dataset.PerFrameFunctionalGroupsSequence = DicomSequence(frames)
    return dataset


def test_frame_geometry_reads_the_functional_groups():
    dataset = seg_header([34, 30, 36], spacing_between=2)
    positions, orientation, spacing, between = frame_geometry(FunctionalGroups(dataset), 3)
    np.testing.assert_array_equal(positions, [[-10, -12, 34], [-10, -12, 30], [-10, -12, 36]])
    np.testing.assert_array_equal(orientation, AXIAL)
    np.testing.assert_array_equal(spacing, [1, 1])
    assert between == 2.0
    assert frame_geometry(FunctionalGroups(seg_header([30], spacing_between=0)), 1)[3] is None  # zero: no spacing


def test_frame_geometry_needs_orientation_and_spacing():
    dataset = seg_header([30, 32])
    del dataset.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence
    with pytest.raises(InvalidDicomError, match="Pixel Measures Sequence / Pixel Spacing is missing"):
        frame_geometry(FunctionalGroups(dataset), 2)
    del dataset.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence
    with pytest.raises(InvalidDicomError, match=r"Plane Orientation Sequence / Image Orientation \(Patient\) is missing"):
        frame_geometry(FunctionalGroups(dataset), 2)
    dataset = seg_header([30, 32])
    del dataset.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence
    with pytest.raises(InvalidDicomError, match="frame 2 has no PlanePositionSequence with ImagePositionPatient"):
        frame_geometry(FunctionalGroups(dataset), 2)


def test_reference_grid_is_used_as_it_is():
    geometry = axial_geometry()  # 6 x 20 x 24, z 30..40
    positions = np.array([[-10.0, -12.0, 34.0]])
    for reference in (geometry, ReferenceSeries.from_geometry(geometry)):
        found, findings = frame_grid(reference, seg_header([34]), positions, AXIAL, SPACING, None, (20, 24))
        assert found is geometry and findings == []


@pytest.mark.parametrize(
    "dataset, orientation, shape, match",
    [
        (seg_header([34]), AXIAL, (20, 20), "SEG frames are 20x20, the reference slices 20x24"),
        (
            seg_header([34], frame_of_reference="9.9"),
            AXIAL,
            (20, 24),
            "the SEG is in Frame of Reference 9.9, the reference series in 1.2.3.4.5",
        ),
        (
            seg_header([34]),
            np.array([1.0, 0, 0, 0, 0, -1]),
            (20, 24),
            r"SEG Image Orientation \[1\.0, 0\.0, 0\.0, 0\.0, 0\.0, -1\.0\] differs",
        ),
    ],
    ids=["frame-size", "frame-of-reference", "orientation"],
)
def test_reference_grid_mismatch(dataset, orientation, shape, match):
    with pytest.raises(GeometryError, match=match):
        frame_grid(axial_geometry(), dataset, np.array([[-10.0, -12.0, 34.0]]), orientation, SPACING, None, shape)


def test_grid_rebuilt_from_frames_spans_omitted_ones():
    """Frames at 34, 30 and 36 with Spacing Between Slices 2: four slices from 30, one (32) omitted."""
    dataset = seg_header([34, 30, 36], spacing_between=2)
    positions = np.array([[-10.0, -12.0, z] for z in (34, 30, 36)])
    geometry, findings = frame_grid(None, dataset, positions, AXIAL, SPACING, 2.0, (20, 24))
    assert findings == []
    assert geometry.shape == (4, 20, 24) and geometry.frame_of_reference_uid == "1.2.3.4.5"
    np.testing.assert_array_equal(geometry.origin, [-10, -12, 30])
    np.testing.assert_array_equal(geometry.spacing, [1, 1, 2])
    np.testing.assert_array_equal(place_frames(geometry, positions), [2, 0, 3])
    without_spacing, _ = frame_grid(None, seg_header([34, 30, 36]), positions, AXIAL, SPACING, None, (20, 24))
    assert without_spacing.shape == (4, 20, 24)  # the smallest gap is the step


def test_contradicting_spacing_between_slices_is_reported():
    dataset = seg_header([30, 32, 34], spacing_between=3)
    positions = np.array([[-10.0, -12.0, z] for z in (30, 32, 34)])
    geometry, findings = frame_grid(None, dataset, positions, AXIAL, SPACING, 3.0, (20, 24))
    assert geometry.shape == (3, 20, 24) and geometry.spacing[2] == 2.0
    (finding,) = findings
    assert (finding.severity, finding.attribute) == (Severity.WARNING, "SpacingBetweenSlices")
    assert finding.message == (
        "Spacing Between Slices is 3 mm but the frames lie 2 mm apart, not on multiples of it; "
        "the grid uses the frames' spacing 2 mm (pass the reference series to place them exactly)"
    )


def test_place_frames_refuses_off_grid_positions():
    geometry = axial_geometry()
    np.testing.assert_array_equal(place_frames(geometry, np.array([[-10.0, -12.0, 40.0], [-10.0, -12.0, 30.001]])), [5, 0])
    cases = [
        (
            [[-10.0, -12.0, 30.0], [-10.0, -12.0, 31.0]],
            r"frame 2 at \[-10\.0, -12\.0, 31\.0\] is not on a slice of the grid \(index \[0\.0, 0\.0, 0\.5\]\)",
        ),
        ([[-9.5, -12.0, 30.0]], r"frame 1 at .* \(index \[0\.5, 0\.0, 0\.0\]\)"),  # shifted in-plane
        ([[-10.0, -12.0, 42.0]], r"frame 1 at .* \(index \[0\.0, 0\.0, 6\.0\]\)"),  # past the last slice
        ([[-10.0, -12.0, 28.0]], r"frame 1 at .* \(index \[0\.0, 0\.0, -1\.0\]\)"),
    ]
    for positions, match in cases:
        with pytest.raises(GeometryError, match=match):
            place_frames(geometry, np.array(positions))


def test_paste_clips_edge_tiles():
    target = np.zeros((5, 7), dtype=np.uint8)
    tile = np.arange(1, 10, dtype=np.uint8).reshape(3, 3)
    paste(target, tile, 3, 5)  # overhangs by one row and one column
    np.testing.assert_array_equal(target[3:, 5:], [[1, 2], [4, 5]])
    assert target.sum() == 12
    for row, column in ((5, 0), (0, 7), (-1, 0)):
        with pytest.raises(GeometryError, match=rf"a tile at row {row + 1}, column {column + 1} lies outside the 5x7 total pixel matrix"):
            paste(target, tile, row, column)


def test_tiled_grid_places_tiles_by_matrix_position():
    dataset = Dataset()
    dataset.TotalPixelMatrixRows, dataset.TotalPixelMatrixColumns = 100, 150
    dataset.ImageOrientationSlide = [0, -1, 0, -1, 0, 0]
    origin = Dataset()
    origin.XOffsetInSlideCoordinateSystem, origin.YOffsetInSlideCoordinateSystem = 20, 40
    dataset.TotalPixelMatrixOriginSequence = DicomSequence([origin])
    measures, shared = Dataset(), Dataset()
    measures.PixelSpacing = [0.5, 0.25]
    measures.SliceThickness = 0.1
    shared.PixelMeasuresSequence = DicomSequence([measures])
    dataset.SharedFunctionalGroupsSequence = DicomSequence([shared])
    frames = []
    for row, column in ((1, 1), (1, 65), (65, 129)):
        position, group = Dataset(), Dataset()
        position.RowPositionInTotalImagePixelMatrix, position.ColumnPositionInTotalImagePixelMatrix = row, column
        group.PlanePositionSlideSequence = DicomSequence([position])
        frames.append(group)
    dataset.PerFrameFunctionalGroupsSequence = DicomSequence(frames)
    geometry, placements = tiled_grid(dataset, FunctionalGroups(dataset), 3)
    assert geometry.shape == (1, 100, 150)
    np.testing.assert_array_equal(geometry.spacing, [0.25, 0.5, 0.1])
    np.testing.assert_array_equal(geometry.origin, [20, 40, 0])
    np.testing.assert_array_equal(placements, [[0, 0, 0], [0, 0, 64], [0, 64, 128]])
    dataset.TotalPixelMatrixFocalPlanes = 2
    with pytest.raises(InvalidDicomError, match="tiled SEGs with several focal planes are supported only as TILED_FULL"):
        tiled_grid(dataset, FunctionalGroups(dataset), 3)

"""SEGs without a 3-D grid, judged by the standard's conditions: a 2-D segmentation of a radiograph
or mammogram has no Frame of Reference and needs no Plane Position; a TILED_FULL slide-microscopy
SEG has its tile positions implied by the frame order. ``info``, ``validate`` and ``decode`` read
them; ``decode`` writes what highdicom reads, voxel for voxel (highdicom builds the files here)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pydicom
import pytest
from dicomlabelmap.cli.common import EXIT_ERROR, EXIT_OK
from dicomlabelmap.cli.main import main
from dicomlabelmap.dicom.frames import FunctionalGroups
from dicomlabelmap.errors import InvalidDicomError
from dicomlabelmap.files.labelfiles import read_label_file
from dicomlabelmap.seg.layout import frame_layout
from dicomlabelmap.seg.reader import read_seg
from dicomlabelmap.synthetic import demo_geometry, make_image_series, save
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

hd = pytest.importorskip("highdicom", reason="highdicom builds the peer files of these tests")
codes = pytest.importorskip("pydicom.sr.codedict").codes

LABELS_2D = np.zeros((16, 16), np.uint8)
LABELS_2D[2:9, 3:12] = 1
LABELS_2D[9:14, 6:15] = 2
LABELS_SLIDE = np.zeros((50, 40), np.uint8)
LABELS_SLIDE[5:30, 3:20] = 1
LABELS_SLIDE[31:48, 15:38] = 2


def _descriptions():
    return [
        hd.seg.SegmentDescription(n, f"segment {n}", codes.SCT.Tissue, codes.SCT.Tissue, hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        for n in (1, 2)
    ]


def _radiograph(modality="CR"):
    image = pydicom.dcmread(pydicom.data.get_testdata_file("dicomdirtests/77654033/CR1/6154"))
    assert "FrameOfReferenceUID" not in image and image.Rows == image.Columns == 16
    if modality == "MG":  # a mammogram without Frame of Reference
        image = copy.deepcopy(image)
        image.SOPClassUID = image.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
        image.SOPInstanceUID = generate_uid()
        image.Modality, image.ImageLaterality, image.ViewPosition = "MG", "L", "CC"
    return image


def _planar_seg(folder, kind, modality="CR"):
    image = _radiograph(modality)
    pixels = LABELS_2D if kind == "LABELMAP" else np.stack([LABELS_2D == 1, LABELS_2D == 2], -1).astype(np.uint8)
    seg = hd.seg.Segmentation([image], pixels[None], kind, _descriptions(), hd.UID(), 5, hd.UID(), 1, "test", "test", "1", "0")
    seg.PatientOrientation = ["L", "F"]  # General Image, Type 2C without Image Orientation (Patient): dciodvfy asks for it
    path = folder / f"{modality}_{kind}.dcm"
    seg.save_as(path)
    return path, image


def _slide_image(planes=1):
    """A synthetic VL Whole Slide Microscopy image, TILED_FULL, 50 x 40 pixels in 16 x 16 tiles."""
    image = Dataset()
    image.SOPClassUID, image.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.77.1.6", generate_uid()
    image.file_meta = pydicom.dataset.FileMetaDataset()
    image.file_meta.MediaStorageSOPClassUID, image.file_meta.MediaStorageSOPInstanceUID = image.SOPClassUID, image.SOPInstanceUID
    image.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    image.PatientName, image.PatientID, image.PatientBirthDate, image.PatientSex = "Slide^Test", "SM1", "", "O"
    image.StudyInstanceUID, image.SeriesInstanceUID = generate_uid(), generate_uid()
    image.StudyDate, image.StudyTime, image.StudyID, image.AccessionNumber, image.ReferringPhysicianName = "20260101", "120000", "1", "", ""
    image.Modality, image.SeriesNumber, image.InstanceNumber, image.Manufacturer = "SM", 1, 1, "test"
    image.FrameOfReferenceUID, image.PositionReferenceIndicator = generate_uid(), "SLIDE_CORNER"
    image.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    image.ContainerIdentifier, image.IssuerOfTheContainerIdentifierSequence = "SLIDE-1", []
    image.ContainerTypeCodeSequence = [hd.sr.CodedConcept("433466003", "SCT", "Microscope slide")]
    specimen = Dataset()
    specimen.SpecimenIdentifier, specimen.SpecimenUID = "S1", generate_uid()
    specimen.IssuerOfTheSpecimenIdentifierSequence, specimen.SpecimenPreparationSequence = [], []
    image.SpecimenDescriptionSequence = [specimen]
    image.Rows = image.Columns = 16
    image.TotalPixelMatrixRows, image.TotalPixelMatrixColumns, image.TotalPixelMatrixFocalPlanes = 50, 40, planes
    image.DimensionOrganizationType, image.ImageOrientationSlide = "TILED_FULL", [0, -1, 0, -1, 0, 0]
    origin = Dataset()
    origin.XOffsetInSlideCoordinateSystem, origin.YOffsetInSlideCoordinateSystem = 20.0, 40.0
    image.TotalPixelMatrixOriginSequence = [origin]
    measures = Dataset()
    measures.PixelSpacing, measures.SliceThickness, measures.SpacingBetweenSlices = [0.0005, 0.0005], 0.01, 0.01
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    image.SharedFunctionalGroupsSequence = [shared]
    path = Dataset()
    path.OpticalPathIdentifier = "1"
    path.IlluminationTypeCodeSequence = [hd.sr.CodedConcept("111744", "DCM", "Brightfield illumination")]
    path.IlluminationColorCodeSequence = [hd.sr.CodedConcept("414298005", "SCT", "Full Spectrum")]
    image.NumberOfOpticalPaths, image.OpticalPathSequence = 1, [path]
    image.SamplesPerPixel, image.PhotometricInterpretation, image.PlanarConfiguration = 3, "RGB", 0
    image.BitsAllocated = image.BitsStored = 8
    image.HighBit, image.PixelRepresentation = 7, 0
    image.NumberOfFrames = 12 * planes
    image.PixelData = np.full((12 * planes, 16, 16, 3), 200, np.uint8).tobytes()
    image.ImagedVolumeWidth, image.ImagedVolumeHeight, image.ImagedVolumeDepth = 1, 1, 0.01
    image.AcquisitionDateTime, image.VolumetricProperties, image.SpecimenLabelInImage = "20260101120000", "VOLUME", "NO"
    image.BurnedInAnnotation, image.FocusMethod, image.ExtendedDepthOfField = "NO", "AUTO", "NO"
    return image


def _tiled_full_seg(folder, kind):
    image = _slide_image()
    pixels = LABELS_SLIDE if kind == "LABELMAP" else np.stack([LABELS_SLIDE == 1, LABELS_SLIDE == 2], -1).astype(np.uint8)
    seg = hd.seg.Segmentation(
        [image],
        pixels[None],
        kind,
        _descriptions(),
        hd.UID(),
        5,
        hd.UID(),
        1,
        "test",
        "test",
        "1",
        "0",
        tile_pixel_array=True,
        tile_size=(16, 16),
        dimension_organization_type="TILED_FULL",
        omit_empty_frames=False,
    )
    path = folder / f"SM_{kind}.dcm"
    seg.save_as(path)
    dataset = pydicom.dcmread(path)
    assert dataset.DimensionOrganizationType == "TILED_FULL" and "PerFrameFunctionalGroupsSequence" not in dataset
    return path


@pytest.mark.parametrize(("modality", "kind"), [("CR", "BINARY"), ("CR", "LABELMAP"), ("MG", "LABELMAP")])
def test_a_2d_segmentation_is_read_as_highdicom_reads_it(tmp_path, capsys, modality, kind):
    path, image = _planar_seg(tmp_path, kind, modality)
    dataset = pydicom.dcmread(path)
    assert "FrameOfReferenceUID" not in dataset and FunctionalGroups(dataset).item(0, "PlanePositionSequence") is None
    theirs = hd.seg.segread(path).get_pixels_by_source_instance([image.SOPInstanceUID], combine_segments=True)[0]
    np.testing.assert_array_equal(theirs, LABELS_2D)
    contents = read_seg(path)
    assert contents.grid_kind == "plane" and contents.geometry.shape == (1, 16, 16)
    np.testing.assert_array_equal(contents.volumes[0].array[0], theirs)
    assert main(["info", str(path), "--json"]) == EXIT_OK
    described = json.loads(capsys.readouterr().out)
    assert described["grid"]["kind"] == "plane" and described["grid"]["frame_of_reference_uid"] is None
    assert main(["info", str(path)]) == EXIT_OK and "(2-D: no Frame of Reference)" in capsys.readouterr().out
    assert main(["validate", str(path)]) == EXIT_OK  # Plane Position is required only with a Frame of Reference
    out = capsys.readouterr().out
    assert "PlanePositionSequence" not in out and "error" not in out.lower().replace("0 error(s)", "")
    for suffix in (".nrrd", ".nii.gz", ".seg.nrrd"):
        output = tmp_path / f"decoded_{suffix.replace('.', '_')}{suffix}"
        assert main(["decode", str(path), "-o", str(output)]) == EXIT_OK
        (volume,) = read_label_file(output)
        np.testing.assert_array_equal(volume.array[0], theirs)
    assert "pixels are read as 1 mm apart" in capsys.readouterr().err  # no Pixel Spacing: said, not hidden


def test_a_2d_segmentation_cannot_go_on_a_reference_series(tmp_path, capsys):
    path, _ = _planar_seg(tmp_path, "LABELMAP")
    save(make_image_series(demo_geometry()), tmp_path / "ct", "CT")
    assert main(["decode", str(path), "-r", str(tmp_path / "ct"), "-o", str(tmp_path / "x.nrrd")]) == EXIT_ERROR
    assert "has no Frame of Reference (a 2-D segmentation): it cannot be placed on a reference series' grid" in capsys.readouterr().err


def test_a_frame_of_reference_requires_plane_positions(tmp_path, capsys):
    path, _ = _planar_seg(tmp_path, "LABELMAP")
    dataset = pydicom.dcmread(path)
    dataset.FrameOfReferenceUID = generate_uid()
    dataset.save_as(path)
    expected = "frame 1 has no Plane Position (Patient) Sequence, which a Segmentation with a Frame of Reference needs for every frame"
    for command in ("info", "decode"):
        arguments = [command, str(path)] + (["-o", str(tmp_path / "x.nrrd")] if command == "decode" else [])
        assert main(arguments) == EXIT_ERROR
        assert expected in capsys.readouterr().err
    assert main(["validate", str(path)]) == EXIT_ERROR
    assert expected in capsys.readouterr().out


def test_frames_of_several_source_images_without_a_grid_are_refused(tmp_path):
    path, _ = _planar_seg(tmp_path, "BINARY")
    dataset = pydicom.dcmread(path)
    second = dataset.PerFrameFunctionalGroupsSequence[1].DerivationImageSequence[0].SourceImageSequence[0]
    second.ReferencedSOPInstanceUID = generate_uid()
    with pytest.raises(InvalidDicomError, match="frames derive from 2 source images .* share no grid"):
        read_seg(dataset)


@pytest.mark.parametrize("kind", ["LABELMAP", "BINARY"])
def test_a_tiled_full_segmentation_is_its_total_pixel_matrix(tmp_path, capsys, kind):
    path = _tiled_full_seg(tmp_path, kind)
    theirs = hd.seg.segread(path).get_total_pixel_matrix(combine_segments=True)
    np.testing.assert_array_equal(theirs, LABELS_SLIDE)
    contents = read_seg(path)
    assert contents.grid_kind == "tiled" and contents.geometry.shape == (1, 50, 40)
    np.testing.assert_allclose(contents.geometry.spacing, [0.0005, 0.0005, 0.01])
    np.testing.assert_array_equal(contents.volumes[0].array[0], theirs)
    assert main(["validate", str(path)]) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[-1].endswith("valid (0 error(s), 0 warning(s))")
    assert main(["info", str(path)]) == EXIT_OK and "(tiled: slide coordinates, one slice per focal plane)" in capsys.readouterr().out
    output = tmp_path / "slide.nrrd"
    assert main(["decode", str(path), "-o", str(output)]) == EXIT_OK
    np.testing.assert_array_equal(read_label_file(output)[0].array[0], theirs)


def test_each_focal_plane_of_a_tiled_full_segmentation_is_a_slice(tmp_path):
    """highdicom writes one focal plane; the second is added here by the standard's frame order
    (tiles row by row, then focal planes)."""
    path = _tiled_full_seg(tmp_path, "LABELMAP")
    dataset = pydicom.dcmread(path)
    second = np.zeros((50, 40), np.uint8)
    second[10:20, 10:30] = 2
    padded = np.zeros((64, 48), np.uint8)
    padded[:50, :40] = second
    tiles = [padded[r : r + 16, c : c + 16] for r in range(0, 64, 16) for c in range(0, 48, 16)]
    dataset.PixelData = dataset.PixelData + np.stack(tiles).tobytes()
    dataset.NumberOfFrames, dataset.TotalPixelMatrixFocalPlanes = 24, 2
    contents = read_seg(dataset)
    assert contents.geometry.shape == (2, 50, 40)
    np.testing.assert_array_equal(contents.volumes[0].array[0], LABELS_SLIDE)
    np.testing.assert_array_equal(contents.volumes[0].array[1], second)
    dataset.NumberOfFrames = 23
    dataset.PixelData = dataset.PixelData[: 23 * 256]
    with pytest.raises(InvalidDicomError, match=r"Number of Frames is 23, but a TILED_FULL total pixel matrix of 50 x 40 .* has 24"):
        frame_layout(dataset, FunctionalGroups(dataset), 23, None, (16, 16))


def test_converting_a_seg_without_a_3d_grid_is_refused_with_the_reason(tmp_path, capsys):
    path, _ = _planar_seg(tmp_path, "BINARY")
    assert main(["convert", str(path), "-o", str(tmp_path / "out")]) == EXIT_ERROR
    assert "has no Frame of Reference (a 2-D segmentation); converting it to Label Map SEG is not supported" in capsys.readouterr().err
    tiled = _tiled_full_seg(tmp_path, "BINARY")
    assert main(["convert", str(tiled), "-o", str(tmp_path / "out")]) == EXIT_ERROR
    assert "has a tiled (slide) grid; converting it to Label Map SEG is not supported" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

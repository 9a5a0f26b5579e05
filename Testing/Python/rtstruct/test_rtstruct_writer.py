"""Layer 1 (and 2, LUNG1-001): label layers -> RT Structure Set -> our reader gives back exactly the
written voxels, for every hole style and contour shape; the file's content (PS3.3 A.19); the
write refused, with nothing left behind, when a read-back differs, when cancelled, or when the
input is wrong."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from conftest import shared_file
from dicomlabelmap import OperationCancelled, rtstruct_to_labels
from dicomlabelmap.dicom.images import ReferenceSeries
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.errors import DicomLabelMapError, GeometryError, OutputError
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.model.labels import LabelVolume, build_label_volumes
from dicomlabelmap.model.masks import BoxMask
from dicomlabelmap.model.scheme import SchemeError, scheme_from_dict
from dicomlabelmap.model.segment import Segment, SegmentAlgorithmType
from dicomlabelmap.rtstruct import writer as writer_module
from dicomlabelmap.rtstruct.builder import decimal_text, decimal_texts
from dicomlabelmap.rtstruct.outlines import ContourShape
from dicomlabelmap.rtstruct.selection import segment_masks, select_rois
from dicomlabelmap.rtstruct.writer import ContourWriteOptions, HoleStyle, write_rtstruct
from dicomlabelmap.synthetic import hard_geometry, hard_masks, make_image_series, save

VARIANTS = [(holes, shape) for holes in HoleStyle for shape in ContourShape]
VARIANT_IDS = [f"{holes.value}-{shape.value}" for holes, shape in VARIANTS]


@pytest.fixture(scope="module")
def hard(tmp_path_factory):
    """The hard masks (rings, islands in holes, corner contacts, single voxels, grid border,
    first and last slices) on a saved CT, as layers."""
    folder = tmp_path_factory.mktemp("hard")
    save(make_image_series(hard_geometry()), folder / "ct")
    reference = read_reference_series(folder / "ct")
    masks = hard_masks(reference.geometry.shape)
    items = [(Segment(n, name), BoxMask.from_full(mask)) for n, (name, mask) in enumerate(masks.items(), start=1)]
    return reference, build_label_volumes(reference.geometry, items), masks


def _read_back(path, reference):
    conversion = rtstruct_to_labels(path, reference)
    return {raster.roi.name: raster.full_mask() for raster in conversion.rois}, conversion


@pytest.mark.parametrize("holes, shape", VARIANTS, ids=VARIANT_IDS)
def test_every_hard_case_round_trips_exactly(hard, tmp_path, holes, shape):
    reference, volumes, masks = hard
    result = write_rtstruct(volumes, reference, tmp_path / "rs.dcm", ContourWriteOptions(holes, shape))
    found, conversion = _read_back(tmp_path / "rs.dcm", reference)
    assert set(found) == set(masks)
    for name, mask in masks.items():
        assert np.array_equal(found[name], mask), name
    assert not [f for f in conversion.findings if f.kind in ("crossing", "repeated_outline", "unfilled_contour", "cancelled_plane")]
    rows = {row.name: row for row in result.rois}
    assert {name: rows[name].voxels for name in masks} == {name: int(mask.sum()) for name, mask in masks.items()}
    assert all(row.round_trip == "identical" for row in result.rois)
    islands = rows["islands"]
    assert (islands.pieces, islands.holes) == (3 * 8, 2 * 8)  # per slice: outer + 2 islands, 2 holes
    expected_contours = islands.pieces if holes is HoleStyle.KEYHOLE else islands.pieces + islands.holes
    assert islands.contours == expected_contours
    types = {c.geometric_type.value for roi in conversion.structure_set.rois for c in roi.contours}
    assert types == {"CLOSEDPLANAR_XOR" if holes is HoleStyle.XOR else "CLOSED_PLANAR"}


def test_lung1_round_trips_exactly_in_every_style(tmp_path):
    """Real data: LUNG1-001's four ROIs (lungs with 19 holes, overlapping GTV), every variant."""
    conversion = rtstruct_to_labels(shared_file("nsclc-lung1-001/rtstruct/RS.dcm"), shared_file("nsclc-lung1-001/ct"))
    masks = {raster.roi.name: raster.full_mask() for raster in conversion.rois}
    for holes, shape in VARIANTS:
        path = tmp_path / f"{holes.value}-{shape.value}.dcm"
        result = write_rtstruct(conversion.label_volumes, conversion.reference, path, ContourWriteOptions(holes, shape))
        found, _ = _read_back(path, conversion.reference)
        assert all(np.array_equal(found[name], mask) for name, mask in masks.items()), (holes, shape)
        assert [row.holes for row in result.rois] == [0, 0, 11, 9]


def test_the_demo_round_trips(tmp_path):
    from dicomlabelmap.synthetic import write_demo_case

    ct, rtstruct = write_demo_case(tmp_path / "demo")
    conversion = rtstruct_to_labels(rtstruct, ct)
    write_rtstruct(conversion.label_volumes, conversion.reference, tmp_path / "back.dcm")
    found, _ = _read_back(tmp_path / "back.dcm", conversion.reference)
    for raster in conversion.rois:
        assert np.array_equal(found[raster.roi.name], raster.full_mask()), raster.roi.name


def test_the_file_is_a_structure_set_for_planning_systems(hard, tmp_path):
    reference, volumes, _ = hard
    renamed = Segment(1, "Lunge links ü 肺", color=(12, 34, 56), algorithm_type=SegmentAlgorithmType.AUTOMATIC)
    volumes = [LabelVolume(v.array, v.geometry, [renamed if s.number == 1 else s for s in v.segments]) for v in volumes]
    options = ContourWriteOptions(structure_set_label="AI contours", series_description="From SEG")
    result = write_rtstruct(volumes, reference, tmp_path / "rs.dcm", options)
    dataset = pydicom.dcmread(tmp_path / "rs.dcm")
    first = pydicom.dcmread(reference.slices[0].path)
    assert dataset.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"  # Implicit VR: Contour Data of any length
    assert (dataset.SOPClassUID, dataset.Modality, dataset.SpecificCharacterSet) == (
        "1.2.840.10008.5.1.4.1.1.481.3",
        "RTSTRUCT",
        "ISO_IR 192",
    )
    assert dataset.SOPInstanceUID == result.sop_instance_uid and dataset.SeriesInstanceUID == result.series_instance_uid
    assert dataset.SeriesInstanceUID != first.SeriesInstanceUID and dataset.StudyInstanceUID == first.StudyInstanceUID
    assert (dataset.PatientName, dataset.PatientID) == (first.PatientName, first.PatientID)
    assert (dataset.StructureSetLabel, dataset.SeriesDescription) == ("AI contours", "From SEG")
    assert len(dataset.StructureSetDate) == 8 and len(dataset.StructureSetTime) >= 6
    assert dataset.FrameOfReferenceUID == first.FrameOfReferenceUID
    (frame,) = dataset.ReferencedFrameOfReferenceSequence
    (study,) = frame.RTReferencedStudySequence
    (series,) = study.RTReferencedSeriesSequence
    assert frame.FrameOfReferenceUID == first.FrameOfReferenceUID and study.ReferencedSOPInstanceUID == first.StudyInstanceUID
    assert series.SeriesInstanceUID == first.SeriesInstanceUID
    assert [item.ReferencedSOPInstanceUID for item in series.ContourImageSequence] == [s.sop_instance_uid for s in reference.slices]
    roi, *_ = dataset.StructureSetROISequence
    assert (roi.ROINumber, roi.ROIName, roi.ROIGenerationAlgorithm) == (1, "Lunge links ü 肺", "AUTOMATIC")
    assert roi.ReferencedFrameOfReferenceUID == first.FrameOfReferenceUID
    contours = dataset.ROIContourSequence[0]
    assert list(contours.ROIDisplayColor) == [12, 34, 56] and contours.ReferencedROINumber == 1
    for contour in contours.ContourSequence:
        z = float(contour.ContourData[2])
        k = int(round((z - reference.geometry.origin[2]) / reference.geometry.spacing[2]))
        (image,) = contour.ContourImageSequence
        assert image.ReferencedSOPInstanceUID == reference.slices[k].sop_instance_uid
        assert int(contour.NumberOfContourPoints) * 3 == len(contour.ContourData)
    observation = dataset.RTROIObservationsSequence[0]
    assert (observation.ReferencedROINumber, observation.RTROIInterpretedType, observation.ROIInterpreter) == (1, "", "")


def test_interpreted_type_colour_and_name_from_a_scheme(hard, tmp_path):
    reference, volumes, masks = hard
    scheme = scheme_from_dict(
        {
            "labels": [
                {"value": 10, "name": "Body", "aliases": ["border"], "color": [1, 2, 3], "interpreted_type": "external"},
                {"value": 20, "name": "Rings", "pattern": "^(ring|islands)$", "interpreted_type": "PTV"},
            ],
            "unmatched": "drop",
        }
    )
    result = write_rtstruct(volumes, reference, tmp_path / "rs.dcm", scheme=scheme)
    dataset = pydicom.dcmread(tmp_path / "rs.dcm")
    assert [(r.ROINumber, r.ROIName) for r in dataset.StructureSetROISequence] == [(10, "Body"), (20, "Rings")]
    assert [o.RTROIInterpretedType for o in dataset.RTROIObservationsSequence] == ["EXTERNAL", "PTV"]
    assert list(dataset.ROIContourSequence[0].ROIDisplayColor) == [1, 2, 3]
    found, _ = _read_back(tmp_path / "rs.dcm", reference)
    assert np.array_equal(found["Rings"], masks["ring"] | masks["islands"])  # two segments on one label: their union
    assert np.array_equal(found["Body"], masks["border"])
    assert {f.kind for f in result.findings} == {"scheme_union", "scheme_unmatched"}
    assert sorted(name for _, name, _ in result.left_out) == ["checkerboard", "diagonal", "thin"]
    with pytest.raises(SchemeError, match="'diagonal'.*match no label"):
        write_rtstruct(
            volumes, reference, tmp_path / "fail.dcm", scheme=scheme_from_dict({"labels": scheme.labels and [], "unmatched": "fail"})
        )
    assert not (tmp_path / "fail.dcm").exists()


def test_a_selection_without_labels_keeps_names_and_numbers(hard, tmp_path):
    from dicomlabelmap.model.scheme import build_scheme

    reference, volumes, _ = hard
    write_rtstruct(volumes, reference, tmp_path / "rs.dcm", scheme=build_scheme(None, ["ring", "thin"], []))
    dataset = pydicom.dcmread(tmp_path / "rs.dcm")
    assert [(r.ROINumber, r.ROIName) for r in dataset.StructureSetROISequence] == [(1, "ring"), (2, "thin")]


def test_empty_segments_become_rois_without_contours_or_are_left_out(hard, tmp_path):
    reference, volumes, masks = hard
    empty = LabelVolume(np.zeros(reference.geometry.shape, np.uint8), reference.geometry, [Segment(40, "Nothing")])
    result = write_rtstruct([*volumes, empty], reference, tmp_path / "rs.dcm")
    dataset = pydicom.dcmread(tmp_path / "rs.dcm")
    last = dataset.ROIContourSequence[-1]
    assert last.ReferencedROINumber == 40 and "ContourSequence" not in last
    assert [(f.kind, f.roi_name) for f in result.findings] == [("empty_segment", "Nothing")]
    assert result.rois[-1].contours == 0 and result.rois[-1].voxels == 0
    found, _ = _read_back(tmp_path / "rs.dcm", reference)
    assert not found["Nothing"].any()
    skipped = write_rtstruct([*volumes, empty], reference, tmp_path / "skip.dcm", ContourWriteOptions(skip_empty=True))
    assert [name for _, name, _ in skipped.left_out] == ["Nothing"] and len(skipped.rois) == len(masks)
    with pytest.raises(DicomLabelMapError, match="every segment is empty"):
        write_rtstruct([empty], reference, tmp_path / "none.dcm", ContourWriteOptions(skip_empty=True))


def test_long_contours_are_written_whole(tmp_path):
    """A body outline of thousands of points: Implicit VR holds Contour Data beyond 64 KiB."""
    geometry = ImageGeometry((2, 256, 256), [0.0, 0.0, 0.0], [0.7, 0.7, 3.0], np.eye(3), "1.2.826.0.1.3680043.8.498.21")
    save(make_image_series(geometry), tmp_path / "ct")
    reference = read_reference_series(tmp_path / "ct")
    j, i = np.mgrid[0:256, 0:256]
    jagged = np.hypot(i - 128, j - 128) < 90 + 20 * ((i + 2 * j) % 3)  # a rough rim: many corners
    array = np.zeros(geometry.shape, np.uint8)
    array[1] = jagged
    result = write_rtstruct([LabelVolume(array, reference.geometry, [Segment(1, "Body")])], reference, tmp_path / "rs.dcm")
    assert result.rois[0].points > 6000
    found, _ = _read_back(tmp_path / "rs.dcm", reference)
    assert np.array_equal(found["Body"], array == 1)


def test_labels_in_another_axis_order_are_reoriented_and_other_grids_refused(hard, tmp_path):
    reference, volumes, masks = hard
    geometry = reference.geometry
    flipped_geometry = ImageGeometry.from_ijk_to_lps(geometry.shape, geometry.ijk_to_lps @ _flip_rows(geometry.shape[1]))
    flipped = [LabelVolume(v.array[:, ::-1, :].copy(), flipped_geometry, v.segments) for v in volumes]
    write_rtstruct(flipped, reference, tmp_path / "rs.dcm")
    found, _ = _read_back(tmp_path / "rs.dcm", reference)
    assert np.array_equal(found["ring"], masks["ring"])
    shifted = ImageGeometry(geometry.shape, geometry.origin + [0.5, 0, 0], geometry.spacing, geometry.direction)
    with pytest.raises(GeometryError, match=r"grid differs .* origin \[-19.5, -30.0, 10.0\] vs \[-20.0, -30.0, 10.0\]"):
        write_rtstruct([LabelVolume(volumes[0].array, shifted, volumes[0].segments)], reference, tmp_path / "bad.dcm")
    assert not (tmp_path / "bad.dcm").exists()


def _flip_rows(rows):
    matrix = np.eye(4)
    matrix[1, 1], matrix[1, 3] = -1, rows - 1
    return matrix


def test_a_reference_not_read_from_dicom_is_refused(hard, tmp_path):
    _, volumes, _ = hard
    with pytest.raises(DicomLabelMapError, match="no source images"):
        write_rtstruct(volumes, ReferenceSeries.from_geometry(volumes[0].geometry), tmp_path / "rs.dcm")


@pytest.mark.parametrize("processes", [1, 2])
def test_a_difference_on_reading_back_fails_the_write_and_leaves_nothing(hard, tmp_path, monkeypatch, processes):
    """With ``processes=2`` (the command line) a forked helper draws part of the ROIs read back
    (on Linux; the threshold lowered so that this small case forks): the same check."""
    from dicomlabelmap.rtstruct import parallel

    monkeypatch.setattr(parallel, "PARALLEL_MIN_POINTS", 0)
    reference, volumes, _ = hard
    options = ContourWriteOptions(processes=processes)
    write_rtstruct(volumes, reference, tmp_path / "good.dcm", options)
    (tmp_path / "good.dcm").unlink()
    original = writer_module._patient_contours

    def shifted(loops, style, reference):
        contours = original(loops, style, reference)
        return [(k, points + [reference.geometry.spacing[0], 0, 0], kind) for k, points, kind in contours]

    monkeypatch.setattr(writer_module, "_patient_contours", shifted)
    with pytest.raises(OutputError, match=r"ROI 1 'ring' reads back with \d+ voxel\(s\) changed on slice\(s\) 1-6; nothing was written"):
        write_rtstruct(volumes, reference, tmp_path / "rs.dcm", options)
    assert list(tmp_path.iterdir()) == []


def test_cancelling_writes_nothing(hard, tmp_path):
    reference, volumes, _ = hard

    def cancel(fraction, message):
        if "reading back" in message.lower() or fraction > 0.7:
            raise OperationCancelled("cancelled")

    with pytest.raises(OperationCancelled):
        write_rtstruct(volumes, reference, tmp_path / "rs.dcm", progress=cancel)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_needs_overwrite(hard, tmp_path):
    reference, volumes, _ = hard
    (tmp_path / "rs.dcm").write_bytes(b"old")
    with pytest.raises(OutputError, match="exists"):
        write_rtstruct(volumes, reference, tmp_path / "rs.dcm")
    assert (tmp_path / "rs.dcm").read_bytes() == b"old"
    write_rtstruct(volumes, reference, tmp_path / "rs.dcm", overwrite=True)
    assert pydicom.dcmread(tmp_path / "rs.dcm").Modality == "RTSTRUCT"


def test_segment_numbers_repeated_across_layers_are_renumbered(hard, tmp_path):
    reference, volumes, masks = hard
    geometry = reference.geometry
    one = LabelVolume(masks["ring"].astype(np.uint8), geometry, [Segment(1, "first")])
    two = LabelVolume(masks["thin"].astype(np.uint8), geometry, [Segment(1, "second")])
    selection = select_rois([one, two])
    assert [(plan.number, plan.segment.label) for plan in selection.rois] == [(1, "first"), (2, "second")]
    assert [f.kind for f in selection.findings] == ["renumbered_segment"]


def test_segment_masks_are_boxed_per_segment(hard):
    reference, volumes, masks = hard
    found = segment_masks(volumes[0])
    for segment in volumes[0].segments:
        assert np.array_equal(found[segment.number].full(), masks[segment.label])


@pytest.mark.parametrize(
    "value, text",
    [(0.0, "0"), (-0.0, "0"), (12.5, "12.5"), (-249.51171875, "-249.511719"), (1e-7, "0"), (123456789.123456, "123456789.123456")],
)
def test_decimal_strings_fit_sixteen_characters(value, text):
    assert decimal_text(value) == text and len(text) <= 16
    assert decimal_texts(np.array([value, value])).tolist() == [text, text]


def test_word_options_are_checked():
    assert ContourWriteOptions.from_words("xor", "voxel-edge").holes is HoleStyle.XOR
    assert "every reader tested" in HoleStyle.KEYHOLE.description and "CP 2037" in HoleStyle.XOR.description
    assert "exactly the voxels' area" in ContourShape.VOXEL_EDGE.description
    with pytest.raises(DicomLabelMapError, match="unknown hole style 'holes'"):
        ContourWriteOptions.from_words("holes")
    with pytest.raises(DicomLabelMapError, match="unknown contour shape 'round'"):
        ContourWriteOptions.from_words("keyhole", "round")


def test_oblique_and_multiframe_references(tmp_path):
    """An oblique enhanced multi-frame CT: contours placed by geometry, each naming its frame."""
    from rotations import rotation

    geometry = ImageGeometry((5, 24, 20), [3.0, -7.0, 11.0], [0.8, 1.1, 2.0], rotation((1, 2, 0.5), 25), "1.2.826.0.1.3680043.8.498.22")
    save(make_image_series(geometry, multiframe=True), tmp_path / "ct")
    reference = read_reference_series(tmp_path / "ct")
    array = np.zeros(reference.geometry.shape, np.uint8)
    array[0:5, 4:14, 3:12] = 1
    array[2, 7:10, 6:9] = 0
    write_rtstruct([LabelVolume(array, reference.geometry, [Segment(1, "Box")])], reference, tmp_path / "rs.dcm")
    found, _ = _read_back(tmp_path / "rs.dcm", reference)
    assert np.array_equal(found["Box"], array == 1)
    dataset = pydicom.dcmread(tmp_path / "rs.dcm")
    frames = {int(c.ContourImageSequence[0].ReferencedFrameNumber) for c in dataset.ROIContourSequence[0].ContourSequence}
    assert frames == {source.frame_number for source in reference.slices}


def test_values_without_a_segment_and_overlong_texts_are_refused_or_reported(hard, tmp_path):
    reference, volumes, masks = hard
    array = np.where(masks["thin"], 2, masks["ring"]).astype(np.uint8)
    with pytest.raises(DicomLabelMapError, match=r"label value\(s\) 2 have no segment description"):
        write_rtstruct([LabelVolume(array, reference.geometry, [Segment(1, "ring")])], reference, tmp_path / "rs.dcm")
    with pytest.raises(DicomLabelMapError, match="Structure Set Label 'seventeen letters' is longer than 16 characters"):
        ContourWriteOptions(structure_set_label="seventeen letters")
    long_name = "ü" * 70
    result = write_rtstruct(
        [LabelVolume(masks["ring"].astype(np.uint8), reference.geometry, [Segment(1, long_name)])], reference, tmp_path / "rs.dcm"
    )
    assert [(f.attribute, f.roi_name) for f in result.findings] == [("ROIName", long_name)]
    assert pydicom.dcmread(tmp_path / "rs.dcm").StructureSetROISequence[0].ROIName == "ü" * 64
    assert not list(tmp_path.glob(".*"))

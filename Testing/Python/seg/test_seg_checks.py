"""Layer 1: Segmentations whose header contradicts their data. Each lie that a real reader
trips over is found by ``validate`` (an ERROR naming the attribute), never silently misread by
``read_seg`` (an error or a warning naming the attribute), and never written by us: the writer's
verification runs the same checks before a file is called verified."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from dicomlabelmap.dicom.codecs import TransferSyntax
from dicomlabelmap.errors import InvalidDicomError, OutputError
from dicomlabelmap.findings import Severity
from dicomlabelmap.seg.checks import consistency_findings, jpeg_ls_parameters
from dicomlabelmap.seg.reader import read_seg
from dicomlabelmap.seg.validate import validate_seg
from dicomlabelmap.seg.writer import SegWriteOptions, write_label_map_segs
from test_seg import make_reference, make_volume


def _write(tmp_path, syntax=TransferSyntax.EXPLICIT, palette=False, sixteen_bit=False, volume=None):
    reference = make_reference(tmp_path)
    volume = volume or make_volume(reference, sixteen_bit)
    (path,) = write_label_map_segs([volume], reference, tmp_path, SegWriteOptions(transfer_syntax=syntax, palette_color=palette))
    return path, volume, reference


def _errors(path):
    return [f for f in validate_seg(path, run_dciodvfy=False) if f.severity is Severity.ERROR]


def test_our_files_pass_every_check(tmp_path):
    for syntax in (TransferSyntax.EXPLICIT, TransferSyntax.JPEG_LS, TransferSyntax.JPEG_2000):
        folder = tmp_path / syntax.value
        folder.mkdir()
        path, _, _ = _write(folder, syntax, palette=True)
        assert consistency_findings(pydicom.dcmread(path)) == []


def test_jpeg_ls_precision_below_bits_stored_is_found_and_never_written(tmp_path, monkeypatch):
    """CharLS's encode(array) takes P from the frame's largest value (what we wrote before);
    DCMTK refuses such frames. validate finds it; the writer refuses to publish it."""
    jpeg_ls = pytest.importorskip("jpeg_ls", reason="pyjpegls is not installed (the codecs extra)")
    path, volume, reference = _write(tmp_path, TransferSyntax.JPEG_LS)
    from dicomlabelmap.dicom.codecs import jpegls

    monkeypatch.setattr(jpegls, "encode", lambda frame: bytes(jpeg_ls.encode(np.ascontiguousarray(frame))))
    folder = tmp_path / "bad"
    folder.mkdir()
    with pytest.raises(OutputError, match="JPEG-LS sample precision P is .* but Bits Stored is 8"):
        write_label_map_segs([volume], reference, folder, SegWriteOptions(transfer_syntax=TransferSyntax.JPEG_LS))
    assert list(folder.iterdir()) == []
    # The same file built by hand (as the old writer did) is refused by validate.
    dataset = pydicom.dcmread(path)
    from pydicom.encaps import encapsulate

    dataset.PixelData = encapsulate([bytes(jpeg_ls.encode(np.ascontiguousarray(frame))) for frame in volume.array])
    broken = tmp_path / "p-small.dcm"
    dataset.save_as(broken)
    frame = next(iter(pydicom.encaps.generate_frames(dataset.PixelData, number_of_frames=int(dataset.NumberOfFrames))))
    assert jpeg_ls_parameters(frame)[0] < 8
    assert any(f.attribute == "BitsStored" and "JPEG-LS sample precision" in f.message for f in _errors(broken))


@pytest.mark.parametrize("sixteen_bit", [False, True], ids=["8bit", "16bit"])
def test_palette_tables_have_8_bit_entries_and_a_full_scale_entry(tmp_path, sixteen_bit):
    reference = make_reference(tmp_path)
    volume = make_volume(reference, sixteen_bit)
    for segment in volume.segments:
        segment.color = (10, 20, 30)  # every colour dark
    path, _, _ = _write(tmp_path, TransferSyntax.RLE, palette=True, volume=volume)
    dataset = pydicom.dcmread(path)
    for color in ("Red", "Green", "Blue"):
        entries, first, bits = (int(v) for v in dataset[f"{color}PaletteColorLookupTableDescriptor"].value)
        table = np.frombuffer(dataset[f"{color}PaletteColorLookupTableData"].value, np.uint8)[:entries]
        assert (first, bits) == (0, 8) and table.max() == 255  # the unused entry past the last segment
        assert entries == max(s.number for s in volume.segments) + 2
    assert _errors(path) == []
    contents = read_seg(path, reference)
    assert {s.number: s.color for s in contents.segments} == {s.number: (10, 20, 30) for s in volume.segments}


@pytest.mark.parametrize(
    ("mutation", "attribute", "match"),
    [
        ("lut16", "RedPaletteColorLookupTableDescriptor", "16-bit in a 8-bit label map"),
        ("dark", "RedPaletteColorLookupTableData", "below half its 8-bit range"),
        ("padding", "PixelPaddingValue", "Pixel Padding Value 1 is the number of segment 'Liver'"),
        ("frames", "NumberOfFrames", "Number of Frames is 4"),
        ("segment300", "SegmentNumber", r"segment number\(s\) \[300\] cannot occur .* Bits Stored 8"),
        ("spacing", "SpacingBetweenSlices", "Spacing Between Slices is 1.25 mm but the frames"),
    ],
)
def test_validate_names_each_lie(tmp_path, mutation, attribute, match):
    path, volume, _ = _write(tmp_path, palette=mutation in ("lut16", "dark"))
    dataset = pydicom.dcmread(path)
    if mutation == "lut16":
        for color in ("Red", "Green", "Blue"):
            entries = int(dataset[f"{color}PaletteColorLookupTableDescriptor"].value[0])
            table = np.frombuffer(dataset[f"{color}PaletteColorLookupTableData"].value, np.uint8)[:entries].astype("<u2") * 257
            dataset[f"{color}PaletteColorLookupTableDescriptor"].value = [entries, 0, 16]
            dataset[f"{color}PaletteColorLookupTableData"].value = table.tobytes()
    elif mutation == "dark":
        for color in ("Red", "Green", "Blue"):
            data = np.frombuffer(dataset[f"{color}PaletteColorLookupTableData"].value, np.uint8) // 4
            dataset[f"{color}PaletteColorLookupTableData"].value = data.tobytes()
    elif mutation == "padding":
        dataset.PixelPaddingValue = 1
    elif mutation == "frames":
        dataset.NumberOfFrames = 4
    elif mutation == "segment300":
        dataset.SegmentSequence[-1].SegmentNumber = 300
    elif mutation == "spacing":
        dataset.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SpacingBetweenSlices = 1.25
    broken = tmp_path / f"{mutation}.dcm"
    dataset.save_as(broken)
    found = [f for f in _errors(broken) if f.attribute == attribute]
    assert found and any(__import__("re").search(match, f.message) for f in found), _errors(broken)


def test_reading_a_padding_value_that_names_a_real_segment_keeps_the_segment(tmp_path):
    path, volume, reference = _write(tmp_path)
    dataset = pydicom.dcmread(path)
    dataset.PixelPaddingValue = 1  # the liver's number; segment 0 is coded Background
    dataset.save_as(path)
    contents = read_seg(path, reference)
    np.testing.assert_array_equal(contents.volumes[0].array, volume.array)
    assert any(f.attribute == "PixelPaddingValue" and "'Liver', which is not coded as Background" in f.message for f in contents.findings)


def test_reading_fewer_frames_than_present_is_an_error(tmp_path):
    path, _, reference = _write(tmp_path)
    dataset = pydicom.dcmread(path)
    dataset.NumberOfFrames = 4
    dataset.save_as(path)
    with pytest.raises(InvalidDicomError, match="Number of Frames is 4 but the Per-frame Functional Groups Sequence has 6 items"):
        read_seg(path, reference)
    del dataset.PerFrameFunctionalGroupsSequence[4:]
    dataset.save_as(path)
    with pytest.raises(InvalidDicomError, match="Number of Frames is 4 but Pixel Data holds 6 frames"):
        read_seg(path, reference)


def test_reading_a_segment_number_beyond_bits_stored_warns(tmp_path):
    path, _, reference = _write(tmp_path)
    dataset = pydicom.dcmread(path)
    dataset.SegmentSequence[-1].SegmentNumber = 300
    dataset.save_as(path)
    contents = read_seg(path, reference)
    assert any(f.attribute == "SegmentNumber" and "[300] cannot occur in a 8-bit label map" in f.message for f in contents.findings)


def test_spacing_between_slices_half_the_real_spacing_is_not_trusted(tmp_path):
    """Every frame written (one per source image) 2.5 mm apart, header says 1.25: without the
    reference series the grid takes the frames' own spacing (was: twice the slices, striped)."""
    path, volume, reference = _write(tmp_path)
    dataset = pydicom.dcmread(path)
    dataset.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SpacingBetweenSlices = 1.25
    dataset.save_as(path)
    contents = read_seg(path)
    assert contents.geometry.shape == reference.geometry.shape
    np.testing.assert_allclose(contents.geometry.spacing, reference.geometry.spacing)
    np.testing.assert_array_equal(contents.volumes[0].array, volume.array)
    assert any(f.attribute == "SpacingBetweenSlices" for f in contents.findings)


def test_omitted_empty_frames_still_use_spacing_between_slices(tmp_path):
    """The other side of the rule: frames left out (allowed) keep the header's spacing."""
    reference = make_reference(tmp_path)
    volume = make_volume(reference, empty_slices=(0, 2, 3))
    (path,) = write_label_map_segs([volume], reference, tmp_path, SegWriteOptions(omit_empty_frames=True))
    contents = read_seg(path)
    np.testing.assert_allclose(contents.geometry.spacing, reference.geometry.spacing)
    assert not [f for f in contents.findings if f.attribute == "SpacingBetweenSlices"]

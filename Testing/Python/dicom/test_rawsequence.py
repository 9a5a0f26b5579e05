"""Per-frame functional groups split from undecoded bytes (rawsequence) against pydicom."""

from __future__ import annotations

import io
import random

import numpy as np
import pydicom
import pytest
from conftest import shared_file
from dicomlabelmap.dicom.frames import FunctionalGroups
from dicomlabelmap.dicom.rawsequence import RawFormatError, RawItems
from dicomlabelmap.seg.reader import read_seg
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian


def _groups_dataset(count: int = 6) -> Dataset:
    """Per-frame groups mixing defined and undefined lengths for items and nested sequences."""
    items = []
    for index in range(count):
        group = Dataset()
        position = Dataset()
        position.ImagePositionPatient = [0.5, -1.25, float(index) * 2.5]
        group.PlanePositionSequence = [position]
        identification = Dataset()
        identification.ReferencedSegmentNumber = index % 3 + 1
        group.SegmentIdentificationSequence = [identification]
        derivation = Dataset()
        source = Dataset()
        source.ReferencedSOPInstanceUID = f"1.2.3.{index}"
        source.ReferencedFrameNumber = index + 1
        derivation.SourceImageSequence = [source]
        group.DerivationImageSequence = [derivation]
        if index % 2:
            group.is_undefined_length_sequence_item = True
            group["DerivationImageSequence"].is_undefined_length = True
            derivation.is_undefined_length_sequence_item = True
        items.append(group)
    dataset = Dataset()
    dataset.PerFrameFunctionalGroupsSequence = items
    return dataset


def _round_trip(dataset: Dataset) -> Dataset:
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=False)
    buffer.seek(0)
    return pydicom.dcmread(buffer, force=True)


def _raw_value(dataset: Dataset) -> bytes:
    element = dataset.get_item("PerFrameFunctionalGroupsSequence")
    assert isinstance(element.value, bytes), "pydicom decoded the sequence; the test needs it raw"
    return element.value


def test_items_equal_pydicoms_reading():
    read = _round_trip(_groups_dataset())
    raw = RawItems(_raw_value(read))
    expected = read.PerFrameFunctionalGroupsSequence  # decoded by pydicom now
    assert len(raw) == len(expected) == 6
    for index, item in enumerate(expected):
        assert raw.dataset(index) == item
        for keyword in ("PlanePositionSequence", "SegmentIdentificationSequence", "DerivationImageSequence"):
            assert raw.element_value(index, int(pydicom.datadict.tag_for_keyword(keyword))) is not None
        assert raw.element_value(index, 0x00200032) is None  # not a top-level element of the item


def test_functional_groups_values_match_items():
    read = _round_trip(_groups_dataset())
    groups = FunctionalGroups(read)
    positions = groups.values(6, "PlanePositionSequence", "ImagePositionPatient")
    numbers = groups.values(6, "SegmentIdentificationSequence", "ReferencedSegmentNumber")
    assert positions == [[0.5, -1.25, i * 2.5] for i in range(6)]
    assert numbers == [[float(i % 3 + 1)] for i in range(6)]
    assert groups.item(3, "DerivationImageSequence").SourceImageSequence[0].ReferencedFrameNumber == 4
    assert groups.values(5, "PlanePositionSequence", "ImagePositionPatient") is None  # count disagrees


def test_every_truncation_and_corruption_is_refused_cleanly():
    """Cut at every byte, or with random bytes changed: RawItems either reads or raises
    RawFormatError, nothing else; a cut that is accepted lies on an item boundary."""
    value = _raw_value(_round_trip(_groups_dataset()))
    boundaries = {0, len(value)}
    whole = RawItems(value)
    boundaries |= {stop for (_, stop), _ in whole.items}
    for cut in range(len(value)):
        try:
            RawItems(value[:cut])
        except RawFormatError:
            continue
        # Undefined-length items end with an 8-byte delimiter after the span's stop.
        assert cut in boundaries or cut - 8 in boundaries, cut
    generator = random.Random(7)
    for _ in range(2000):
        corrupted = bytearray(value)
        for _ in range(generator.randint(1, 4)):
            corrupted[generator.randrange(len(corrupted))] = generator.randrange(256)
        try:
            RawItems(bytes(corrupted))
        except RawFormatError:
            pass


def test_deep_nesting_is_refused():
    item_header = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    nested = b"\x08\x00\x15\x92SQ\x00\x00\xff\xff\xff\xff"
    value = item_header + nested * 100
    with pytest.raises(RawFormatError):
        RawItems(value)


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name",
    [
        "dcmqi/sparse-labelmap-ppv5.dcm",
        "dcmqi/partial_overlaps.dcm",
        "highdicom/seg_image_ct_binary_overlap.dcm",
        "highdicom/seg_image_ct_binary_fractional.dcm",
    ],
)
def test_reading_from_raw_bytes_equals_pydicom(name, monkeypatch):
    """Whole SEGs read through the raw split give exactly what pydicom's own decoding gives."""
    import dicomlabelmap.dicom.frames as frames

    path = shared_file(name)
    fast = read_seg(path)

    def refuse(value: bytes) -> RawItems:
        raise RawFormatError("forced")

    monkeypatch.setattr(frames, "RawItems", refuse)
    monkeypatch.setattr(frames.FunctionalGroups, "values", lambda *arguments: None)
    slow = read_seg(path)
    assert len(fast.volumes) == len(slow.volumes)
    for a, b in zip(fast.volumes, slow.volumes, strict=True):
        np.testing.assert_array_equal(a.array, b.array)
        assert a.geometry.is_close(b.geometry, 0)
        assert a.segments == b.segments

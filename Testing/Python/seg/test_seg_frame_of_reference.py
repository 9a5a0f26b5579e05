"""Nothing invented silently: a reference series without a (valid) Frame of Reference UID gives a
Label Map SEG only with ``new_frame_of_reference`` (``--new-frame-of-reference``), and then the
warning names the new UID, which every instance of the series shares; without it the SEG is
refused with the reason and nothing is written."""

from __future__ import annotations

import warnings

import pydicom
import pytest
from conftest import axial_geometry
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.errors import DicomLabelMapError
from dicomlabelmap.findings import Severity
from dicomlabelmap.seg.reader import read_seg
from dicomlabelmap.seg.validate import validate_seg
from dicomlabelmap.seg.writer import SegWriteOptions, check_reference, write_label_map_segs
from dicomlabelmap.synthetic import make_image_series, save
from test_seg import make_volume


def _ct(tmp_path, frame_of_reference):
    images = make_image_series(axial_geometry(shape=(6, 34, 40)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an invalid UID on purpose
        for image in images:
            if frame_of_reference is None:
                del image.FrameOfReferenceUID
            else:
                image.FrameOfReferenceUID = frame_of_reference
        save(images, tmp_path / "ct")
    return read_reference_series(tmp_path / "ct")


@pytest.mark.parametrize(
    ("frame_of_reference", "said"),
    [
        ("", "Frame of Reference UID is missing or empty"),
        (None, "Frame of Reference UID is missing or empty"),
        ("1.2.abc", r"Frame of Reference UID '1\.2\.abc' is not a UID"),
    ],
)
def test_without_the_option_the_seg_is_refused_with_the_reason(tmp_path, frame_of_reference, said):
    reference = _ct(tmp_path, frame_of_reference)
    (tmp_path / "seg").mkdir()
    with pytest.raises(DicomLabelMapError, match=rf"cannot write a Label Map SEG: the reference series' {said}.*--new-frame-of-reference"):
        write_label_map_segs([make_volume(reference)], reference, tmp_path / "seg")
    assert list((tmp_path / "seg").iterdir()) == [] and reference.findings == []


@pytest.mark.parametrize("frame_of_reference", ["", "1.2.abc"])
def test_with_the_option_a_new_frame_of_reference_is_written_and_named(tmp_path, frame_of_reference):
    reference = _ct(tmp_path, frame_of_reference)
    (tmp_path / "seg").mkdir()
    volume = make_volume(reference)
    layers = [volume, volume]  # two instances of one series
    paths = write_label_map_segs(layers, reference, tmp_path / "seg", SegWriteOptions(new_frame_of_reference=True))
    uids = {str(pydicom.dcmread(path, stop_before_pixels=True).FrameOfReferenceUID) for path in paths}
    (uid,) = uids  # the instances share it
    assert uid and uid != frame_of_reference and pydicom.uid.UID(uid).is_valid
    (warning,) = [f for f in reference.findings if f.attribute == "FrameOfReferenceUID"]
    assert (
        warning.severity is Severity.WARNING and f"newly generated Frame of Reference {uid} (--new-frame-of-reference)" in warning.message
    )
    assert "will not overlay it on the series" in warning.message
    for path in paths:
        assert [f for f in validate_seg(path) if f.severity is Severity.ERROR] == []
        assert (read_seg(path).volumes[0].array == volume.array).all()


def test_a_series_with_its_frame_of_reference_needs_no_option(tmp_path):
    reference = _ct(tmp_path, "1.2.826.0.1.3680043.8.498.77")
    assert check_reference(reference) == ("1.2.826.0.1.3680043.8.498.77", [])
    assert check_reference(reference, SegWriteOptions(new_frame_of_reference=True)) == ("1.2.826.0.1.3680043.8.498.77", [])

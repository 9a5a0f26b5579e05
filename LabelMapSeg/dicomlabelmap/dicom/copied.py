"""The attributes derived objects (a Label Map SEG) copy from their source images, each checked
once against its Value Representation (PS3.5 6.2), its multiplicity and its enumerated values,
so that what we write never breaks a rule the source broke.

The rule for a value that breaks them follows the attribute's type in the module it belongs to
(PS3.3 C.7.1.1 Patient, C.7.2.1 General Study, C.7.2.2 Patient Study, C.7.1.3 Clinical Trial
Subject, C.7.2.3 Clinical Trial Study, C.7.4.1 Frame of Reference):

* Type 3 (optional): left out, with a warning naming the file and the attribute;
* Type 2 (required, may be empty): written empty, with a warning;
* Type 1 (required with a value): nothing can stand in for it, so writing a derived object is
  refused, naming the attribute (:attr:`CopiedAttributes.refusals`); reading the series for
  other purposes goes on. The Clinical Trial modules are optional as a whole: a broken Type 1
  value there leaves the whole module out, with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import MAX_VALUE_LEN, VALIDATORS

from ..findings import Finding, Severity
from .read import quiet_pydicom


class AttributeType(str, Enum):
    """Attribute types of PS3.5 7.4 that decide what happens to an invalid copied value."""

    TYPE_1 = "1"
    TYPE_2 = "2"
    TYPE_3 = "3"


@dataclass(frozen=True)
class CopiedRule:
    type: AttributeType
    #: Enumerated values (PS3.3), when the attribute has them.
    enumerated: tuple[str, ...] = ()
    #: Values allowed (VM); 0 means any number.
    multiplicity: int = 1
    #: The optional module the attribute belongs to, left out as a whole when a Type 1 value of
    #: it is broken.
    optional_module: str | None = None


_T1, _T2, _T3 = AttributeType.TYPE_1, AttributeType.TYPE_2, AttributeType.TYPE_3
_TRIAL_SUBJECT = "Clinical Trial Subject"
_TRIAL_STUDY = "Clinical Trial Study"

#: What derived objects copy from the source, and the rule for each (1C attributes are checked
#: as Type 1 when they are present; DeidentificationMethod as Type 3: the writer states the
#: method itself when the source gives none).
COPIED_RULES: dict[str, CopiedRule] = {
    "PatientName": CopiedRule(_T2),
    "PatientID": CopiedRule(_T2),
    "IssuerOfPatientID": CopiedRule(_T3),
    "PatientBirthDate": CopiedRule(_T2),
    "PatientSex": CopiedRule(_T2, ("M", "F", "O")),
    "OtherPatientIDsSequence": CopiedRule(_T3),
    "PatientAge": CopiedRule(_T3),
    "PatientSize": CopiedRule(_T3),
    "PatientWeight": CopiedRule(_T3),
    "PatientIdentityRemoved": CopiedRule(_T3, ("YES", "NO")),
    "DeidentificationMethod": CopiedRule(_T3, multiplicity=0),
    "DeidentificationMethodCodeSequence": CopiedRule(_T3),
    "StudyInstanceUID": CopiedRule(_T1),
    "StudyDate": CopiedRule(_T2),
    "StudyTime": CopiedRule(_T2),
    "ReferringPhysicianName": CopiedRule(_T2),
    "StudyID": CopiedRule(_T2),
    "AccessionNumber": CopiedRule(_T2),
    "StudyDescription": CopiedRule(_T3),
    "ClinicalTrialSponsorName": CopiedRule(_T1, optional_module=_TRIAL_SUBJECT),
    "ClinicalTrialProtocolID": CopiedRule(_T1, optional_module=_TRIAL_SUBJECT),
    "ClinicalTrialProtocolName": CopiedRule(_T2, optional_module=_TRIAL_SUBJECT),
    "ClinicalTrialSiteID": CopiedRule(_T2, optional_module=_TRIAL_SUBJECT),
    "ClinicalTrialSiteName": CopiedRule(_T2, optional_module=_TRIAL_SUBJECT),
    "ClinicalTrialSubjectID": CopiedRule(_T1, optional_module=_TRIAL_SUBJECT),
    "ClinicalTrialSubjectReadingID": CopiedRule(_T1, optional_module=_TRIAL_SUBJECT),
    "ClinicalTrialTimePointID": CopiedRule(_T2, optional_module=_TRIAL_STUDY),
    "FrameOfReferenceUID": CopiedRule(_T1),
    "PositionReferenceIndicator": CopiedRule(_T2),
    "SpecificCharacterSet": CopiedRule(_T3, multiplicity=0),
}

#: The attributes of each optional module, left out together.
_MODULES: dict[str, tuple[str, ...]] = {
    module: tuple(keyword for keyword, rule in COPIED_RULES.items() if rule.optional_module == module)
    for module in (_TRIAL_SUBJECT, _TRIAL_STUDY)
}

#: What each Value Representation holds, in words (PS3.5 Table 6.2-1).
_VR_WORDS = {
    "AS": "an age (nnnD, nnnW, nnnM or nnnY)",
    "CS": "a code string (upper-case letters, digits, space and underscore)",
    "DA": "a date (YYYYMMDD)",
    "DS": "a decimal number",
    "DT": "a date and time (YYYYMMDDHHMMSS.FFFFFF)",
    "IS": "an integer",
    "TM": "a time (HHMMSS.FFFFFF)",
    "UI": "a UID (digits separated by dots, no leading zeros)",
    "PN": "a person name (at most five components of 64 characters)",
}


@dataclass
class CopiedAttributes:
    """The attributes to copy, cleaned, and what was found."""

    dataset: Dataset
    #: One warning per value left out or emptied, naming the file and the attribute.
    findings: list[Finding] = field(default_factory=list)
    #: Type 1 attributes whose value is broken: ``keyword -> why``. Writing a derived object is
    #: refused while any stands.
    refusals: dict[str, str] = field(default_factory=dict)


def copy_checked(source: Dataset, file_name: str, keywords: Iterable[str] = COPIED_RULES) -> CopiedAttributes:
    """The attributes of ``source`` derived objects copy, each value that breaks its rules
    left out, emptied or refused (see the module description)."""
    result = CopiedAttributes(Dataset())
    left_out_modules: set[str] = set()
    with quiet_pydicom():  # pydicom's own warnings name no attribute; ours below do
        for keyword in keywords:
            if keyword not in source:
                continue
            element = source[keyword]
            rule = COPIED_RULES.get(keyword, CopiedRule(_T3))
            problem = value_problem(element, rule)
            if problem is None:
                result.dataset.add(element)
                continue
            quoted, why = problem
            where = f"{quoted or 'the value'} in {file_name} {why}"
            if rule.type is _T1 and rule.optional_module is not None:
                left_out_modules.add(rule.optional_module)
                message = f"{where}; DICOM written from this series leaves out the {rule.optional_module} module"
                result.findings.append(Finding(Severity.WARNING, message, attribute=keyword))
            elif rule.type is _T1:
                result.refusals[keyword] = f"{keyword} {quoted + ' ' if quoted else ''}in {file_name} {why}"
                result.dataset.add(element)
            elif rule.type is _T2:
                result.dataset.add(DataElement(element.tag, element.VR, None))
                result.findings.append(
                    Finding(Severity.WARNING, f"{where}; DICOM written from this series leaves it empty", attribute=keyword)
                )
            else:
                result.findings.append(
                    Finding(Severity.WARNING, f"{where}; DICOM written from this series leaves it out", attribute=keyword)
                )
    for module in left_out_modules:
        for keyword in _MODULES[module]:
            if keyword in result.dataset:
                del result.dataset[keyword]
    return result


def value_problem(element: DataElement, rule: CopiedRule = CopiedRule(_T3)) -> tuple[str, str] | None:
    """Why the element's value cannot be written as it is: ``(the value quoted, why)``, e.g.
    ``("'Helicopter'", "is not one of M, F, O")``, ``("", "is empty")``; ``None`` when it can.
    An empty value is a problem only for Type 1."""
    if element.VR == "SQ":
        return None
    values = _texts(element.value)
    if not values or (rule.type is _T1 and all(not text.strip() for text in values)):
        return ("", "is empty") if rule.type is _T1 else None
    shown = "\\".join(values)
    shown = f"'{shown[:40]}...'" if len(shown) > 40 else f"'{shown}'"
    if rule.multiplicity and len(values) > rule.multiplicity:
        return shown, f"holds {len(values)} values, {rule.multiplicity} allowed"
    for text in values:
        if rule.enumerated and text not in rule.enumerated:
            return shown, f"is not one of {', '.join(rule.enumerated)}"
        problem = _text_problem(element.VR, text)
        if problem is not None:
            return shown, problem
    return None


def _texts(value: object) -> list[str]:
    """The value as the texts that are written (one per value; DS and IS as their own text)."""
    if value is None or value == "":
        return []
    items = list(value) if isinstance(value, (MultiValue, list, tuple)) else [value]
    return [item.decode("latin-1") if isinstance(item, bytes) else str(item) for item in items]


def _text_problem(vr: str, text: str) -> str | None:
    limit = MAX_VALUE_LEN.get(vr)
    if limit is not None and len(text) > limit:
        return f"is {len(text)} characters long, more than the {limit} allowed for {_vr_name(vr)}"
    validator = VALIDATORS.get(vr)
    if validator is None or vr in ("LO", "SH", "LT", "ST", "UT", "UC"):
        if "\\" in text and vr in ("LO", "SH"):
            return "holds a backslash, which separates values"
        return None
    valid, _ = validator(vr, text)
    if valid:
        return None
    return f"is not {_VR_WORDS.get(vr, 'valid for its value representation ' + vr)}"


def _vr_name(vr: str) -> str:
    return {
        "LO": "a long string (LO)",
        "SH": "a short string (SH)",
        "CS": "a code string (CS)",
        "DS": "a decimal string (DS)",
        "IS": "an integer string (IS)",
        "UI": "a UID (UI)",
        "AE": "an application entity (AE)",
    }.get(vr, vr)


def invalid_uid(uid: str) -> str | None:
    """Why ``uid`` cannot be written as a UID (PS3.5 9.1), or ``None``."""
    if not uid:
        return "is empty"
    if len(uid) > 64:
        return f"is {len(uid)} characters long, more than the 64 allowed for a UID"
    if not re.fullmatch(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*", uid):
        return "is not a UID (digits separated by dots, no leading zeros)"
    return None

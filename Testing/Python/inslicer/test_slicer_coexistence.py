"""Our DICOM plugins beside Slicer's own, as the DICOM browser and the export dialog meet them:
Slicer 5.12's scalar volume and DICOM SEG plugins and SlicerRT's RT plugin (unmodified, from
../shared/slicer-5.12) examine the same files as ours, and Slicer's own selection code
(``DICOMUtils.getLoadablesFromFileLists`` + ``selectHighestConfidenceLoadables``: per series the
highest confidence is pre-selected, all of them on a tie) says which loadable wins. SlicerRT's
examine calls its C++ module logic, which slicer-core lacks: a double of that logic
(slicer_doubles.DicomRtImportExportLogic, confidence 1.0 as in SlicerRT) stands in for it.

Proves: Label Map SEG goes to LabelMapSeg (0.96 over Slicer core's 0.95), BINARY SEG stays with
Slicer core's SEG plugin, RT Structure Sets go to LabelMapSeg (1.05 over SlicerRT's 1.0) unless
the user's setting prefers SlicerRT for files without CLOSEDPLANAR_XOR; the CT stays with the
scalar volume plugin; loading the whole study through DICOMUtils.loadSeriesByUID gives the CT and
our segmentations on its grid; and the export dialog puts Label Map SEG first for segmentations,
then our exact RT Structure Set, then Slicer core's SEG and SlicerRT's RT exporters.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_file
from slicer_sources import browser_choice, export_dialog_choice, load_series, slicer_with_plugins

SCALAR = "DICOMScalarVolumePluginClass"
CORE_SEG = "DICOMSegmentationPluginClass"
SLICER_RT = "DicomRtImportExportPluginClass"
OUR_SEG = "DICOMLabelMapSegPluginClass"
OUR_RT = "DICOMRtStructLabelMapPluginClass"


@pytest.fixture
def slicer(tmp_path):
    return slicer_with_plugins(tmp_path)


@pytest.fixture
def study(slicer, tmp_path):
    """The demo study in the database, one series each: CT, RT Structure Set with
    CLOSEDPLANAR_XOR, the same without it, Label Map SEG (one instance per layer), BINARY SEG
    written by highdicom."""
    import pydicom
    from dicomlabelmap.dicom.scan import read_reference_series
    from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
    from dicomlabelmap.seg.writer import SegWriteOptions, write_label_map_segs
    from dicomlabelmap.synthetic import write_demo_case
    from DICOMLib import DICOMUtils
    from test_batch import _binary_seg

    ct_folder, rtstruct = write_demo_case(tmp_path / "demo")
    reference = read_reference_series(ct_folder)
    conversion = rtstruct_to_labels(rtstruct, reference)
    plain = pydicom.dcmread(rtstruct)
    for roi in plain.ROIContourSequence:
        for contour in roi.get("ContourSequence", []):
            if contour.ContourGeometricType == "CLOSEDPLANAR_XOR":
                contour.ContourGeometricType = "CLOSED_PLANAR"
    plain.SOPInstanceUID, plain.SeriesInstanceUID = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    plain.save_as(tmp_path / "demo" / "RS_plain.dcm")
    (tmp_path / "demo" / "labelmap").mkdir()
    label_map = write_label_map_segs(conversion.label_volumes, reference, tmp_path / "demo" / "labelmap", SegWriteOptions.from_words("rle"))
    _binary_seg(ct_folder, conversion.label_volumes[0], tmp_path / "demo" / "SEG_binary.dcm")
    assert DICOMUtils.importDicom(str(tmp_path / "demo"))
    database = slicer.dicomDatabase

    def series_of(path):
        return database.fileValue(str(path), "0020,000E")

    files = {
        "ct": reference.series_instance_uid,
        "xor": series_of(rtstruct),
        "plain": series_of(tmp_path / "demo" / "RS_plain.dcm"),
        "labelmap": series_of(label_map[0]),
        "binary": series_of(tmp_path / "demo" / "SEG_binary.dcm"),
    }
    assert len(set(files.values())) == len(files)
    return {kind: database.filesForSeries(uid) for kind, uid in files.items()}, files, reference


def _winners(slicer, files, kinds):
    """Per kind of series: the plugin classes whose loadables the browser pre-selects."""
    chosen = browser_choice(slicer, [files[kind] for kind in kinds])
    series = {slicer.dicomDatabase.fileValue(files[kind][0], "0020,000E"): kind for kind in kinds}
    return {series[uid]: sorted({name for name, _ in entries}) for uid, entries in chosen.items()}


def _offers(slicer, files):
    """Every plugin's loadables for one series: {plugin class: [confidence, ...]}."""
    from DICOMLib import DICOMUtils

    by_plugin, _ = DICOMUtils.getLoadablesFromFileLists([files])
    return {type(p).__name__: sorted(loadable.confidence for loadable in loadables) for p, loadables in by_plugin.items() if loadables}


def test_every_series_of_the_study_goes_to_the_plugin_that_reads_it_right(slicer, study):
    files, _, _ = study
    winners = _winners(slicer, files, list(files))
    assert winners == {"ct": [SCALAR], "xor": [OUR_RT], "plain": [OUR_RT], "labelmap": [OUR_SEG], "binary": [CORE_SEG]}


def test_what_each_plugin_offers(slicer, study):
    """The confidences behind the choice, plugin by plugin (Slicer's numbers are theirs)."""
    files, _, _ = study
    layers = len(files["labelmap"])
    assert layers > 1, "the demo case has overlapping ROIs: one instance per layer"
    # Label Map SEG: ours one loadable for the series; Slicer core's one per instance (0.95);
    # Slicer's scalar volume plugin also offers it as an image (default 0.5).
    assert _offers(slicer, files["labelmap"]) == {OUR_SEG: [0.96], CORE_SEG: [0.95] * layers, SCALAR: [0.5]}
    assert _offers(slicer, files["binary"]) == {CORE_SEG: [0.95]}
    assert _offers(slicer, files["xor"]) == {OUR_RT: [1.05], SLICER_RT: [1.0]}
    assert _offers(slicer, files["ct"]) == {SCALAR: [0.5]}


@pytest.mark.parametrize("use_for_all", [True, False], ids=["setting-on", "setting-off"])
def test_rt_structure_sets_follow_xor_and_the_setting(slicer, study, use_for_all):
    import qt

    files, _, _ = study
    qt.QSettings().setValue("LabelMapSeg/UseForRtStructureSets", use_for_all)
    winners = _winners(slicer, files, ["xor", "plain"])
    assert winners["xor"] == [OUR_RT]  # SlicerRT ignores the geometric type: XOR files are never left to it
    assert winners["plain"] == ([OUR_RT] if use_for_all else [SLICER_RT])


def test_loading_the_study_as_the_dicom_module_does(slicer, study):
    """``DICOMUtils.loadSeriesByUID``: the CT by Slicer's scalar volume plugin (ITK), the RT
    Structure Set and the Label Map SEG by ours, both on the CT's grid."""
    from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
    from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node, reference_geometry

    files, series, reference = study
    nodes = load_series(slicer, [series["ct"], series["xor"], series["labelmap"]])
    volumes = [n for n in nodes if n.IsA("vtkMRMLScalarVolumeNode")]
    segmentations = [n for n in nodes if n.IsA("vtkMRMLSegmentationNode")]
    assert len(volumes) == 1 and len(segmentations) == 2
    expected = rtstruct_to_labels(files["xor"][0], reference).label_volumes
    for node in segmentations:
        assert reference_geometry(node).is_close(reference.geometry, 1e-6)
        got = label_volumes_from_segmentation_node(node, volumes[0])
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_array_equal(a.array, b.array)


def test_export_dialog_puts_label_map_seg_first_for_segmentations(slicer, study):
    """The browser loads in plugin order: here the structure set before its CT, so the
    segmentation's geometry names no volume node; the exporter finds the CT by the instances the
    series references (subject hierarchy), as Slicer core's SEG exporter does."""
    files, series, reference = study
    nodes = load_series(slicer, [series["ct"], series["xor"]])
    (ct,) = [n for n in nodes if n.IsA("vtkMRMLScalarVolumeNode")]
    (segmentation,) = [n for n in nodes if n.IsA("vtkMRMLSegmentationNode")]
    assert segmentation.GetNodeReference(segmentation.GetReferenceImageGeometryReferenceRole()) is None
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    offered = export_dialog_choice(slicer, sh.GetItemByDataNode(segmentation))
    assert offered[:2] == [("DICOMLabelMapSegPlugin", 1.05), ("DICOMRtStructExportPlugin", 1.01)]
    assert sorted(offered[2:]) == [("DICOMSegmentationPlugin", 1.0), ("DicomRtImportExportPlugin", 1.0)]
    # The CT is Slicer's to export (scalar volume 0.5, SlicerRT's RT study 0.3); ours offer nothing.
    assert export_dialog_choice(slicer, sh.GetItemByDataNode(ct)) == [("DICOMScalarVolumePlugin", 0.5), ("DicomRtImportExportPlugin", 0.3)]


@pytest.mark.realdata
def test_lung1_rt_structure_set_goes_to_labelmapseg(slicer, tmp_path):
    """LUNG1-001's Varian structure set (no XOR) and its CT, imported into the database."""
    from DICOMLib import DICOMUtils

    root = shared_file("nsclc-lung1-001")
    assert DICOMUtils.importDicom(str(root))
    database = slicer.dicomDatabase
    rtstruct = str(next((root / "rtstruct").rglob("*.dcm")))
    kinds = {"rtstruct": database.filesForSeries(database.fileValue(rtstruct, "0020,000E"))}
    kinds["ct"] = database.filesForSeries(database.seriesForFile(str(next((root / "ct").iterdir()))))
    assert _winners(slicer, kinds, ["rtstruct", "ct"]) == {"rtstruct": [OUR_RT], "ct": [SCALAR]}
    assert _offers(slicer, kinds["rtstruct"]) == {OUR_RT: [1.05], SLICER_RT: [1.0]}

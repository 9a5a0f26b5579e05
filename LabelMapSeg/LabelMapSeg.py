"""LabelMapSeg: RT Structure Sets (CLOSEDPLANAR_XOR included) and DICOM Label Map Segmentations
(Supplement 243) to and from Slicer segmentations, exactly on the reference volume's grid.

The Widget only wires the GUI; ``LabelMapSegLogic`` is the Python API (also for the console).
numpy, pydicom and the core (``dicomlabelmap``) are imported inside the functions that use them,
so that Slicer's start-up does not pay for them.
"""

import logging
import os
from typing import Annotated

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

#: Transfer syntaxes offered for export (command-line names of the core); RLE first: every
#: reader (Slicer core/dcmqi, highdicom, OHIF) decodes it and nothing extra is installed.
TRANSFER_SYNTAXES = ("rle", "explicit", "deflated", "jpegls", "jpeg2000", "deflated-frame")
PHOTOMETRIC_INTERPRETATIONS = ("MONOCHROME2", "PALETTE COLOR")
#: "layers": one instance per segmentation layer; "single": refuse when there is more than one.
OVERLAP_HANDLING = ("layers", "single")
#: Settings key: use LabelMapSeg (not SlicerRT) for every RT Structure Set, not only XOR ones.
USE_FOR_RTSTRUCT_SETTING = "LabelMapSeg/UseForRtStructureSets"
LABEL_SCHEME_SETTING = "LabelMapSeg/DicomRtStructLabelScheme"


#
# LabelMapSeg
#


class LabelMapSeg(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("LabelMapSeg")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = ["Segmentations", "DICOM"]
        self.parent.contributors = ["LabelMapSeg developers"]
        self.parent.helpText = _(
            "Import DICOM RT Structure Sets (holes, keyholes and CLOSEDPLANAR_XOR right) onto the reference volume's "
            "grid, export segmentations as DICOM Label Map Segmentations (Supplement 243) and load them back losslessly, "
            "and convert classic BINARY/FRACTIONAL DICOM SEG to Label Map SEG. "
            'See <a href="https://github.com/LabelMapSeg/LabelMapSeg#readme">the documentation</a>.'
        )
        self.parent.acknowledgementText = _("Built on pydicom and numpy; checked against highdicom, dcmqi and dicom3tools.")


#
# Parameter node
#


def splitSelection(text):
    """ROI selection entries typed in the module: separated by ";" (a regular expression may
    hold commas)."""
    return [entry.strip() for entry in (text or "").split(";") if entry.strip()]


def labelScheme(scheme=None, include=(), exclude=()):
    """The core's label scheme from a JSON path or a scheme, plus include/exclude entries
    (``None`` when nothing is chosen: every ROI, numbered in ROI order)."""
    from dicomlabelmap.scheme import LabelScheme, load_scheme

    include, exclude = list(include or ()), list(exclude or ())
    if isinstance(scheme, LabelScheme):
        return scheme.with_selection(include, exclude)
    if scheme:
        return load_scheme(scheme).with_selection(include, exclude)
    if include or exclude:
        return LabelScheme.selection(include, exclude)
    return None


@parameterNodeWrapper
class LabelMapSegParameterNode:
    """What the module's GUI remembers in the scene."""

    rtStructPath: str = ""
    rtStructReferenceVolume: vtkMRMLScalarVolumeNode
    markSmallContours: bool = True
    pointsAsMarkups: bool = True
    rtStructSchemePath: str = ""
    rtStructInclude: str = ""
    rtStructExclude: str = ""
    exportSegmentation: vtkMRMLSegmentationNode
    exportReferenceVolume: vtkMRMLScalarVolumeNode
    exportDirectory: str = ""
    transferSyntax: Annotated[str, Choice(list(TRANSFER_SYNTAXES))] = "rle"
    photometricInterpretation: Annotated[str, Choice(list(PHOTOMETRIC_INTERPRETATIONS))] = "MONOCHROME2"
    overlapHandling: Annotated[str, Choice(list(OVERLAP_HANDLING))] = "layers"
    seriesDescription: str = "Label map segmentation"
    convertInputPath: str = ""
    convertOutputDirectory: str = ""
    labelmapSegmentation: vtkMRMLSegmentationNode
    labelmapReferenceVolume: vtkMRMLScalarVolumeNode


#
# LabelMapSegWidget
#


class LabelMapSegWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._cancelRequested = False

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/LabelMapSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = LabelMapSegLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.importRtStructButton.connect("clicked(bool)", self.onImportRtStruct)
        self.ui.exportSegButton.connect("clicked(bool)", self.onExportLabelMapSeg)
        self.ui.convertButton.connect("clicked(bool)", self.onConvertSeg)
        self.ui.exportLabelmapButton.connect("clicked(bool)", self.onExportLabelmap)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.cancelButton.enabled = False
        self.ui.useForRtStructCheckBox.checked = slicer.util.settingsValue(USE_FOR_RTSTRUCT_SETTING, True, converter=slicer.util.toBool)
        self.ui.useForRtStructCheckBox.connect("toggled(bool)", self.onUseForRtStructToggled)
        self.ui.schemeForDicomCheckBox.checked = bool(slicer.util.settingsValue(LABEL_SCHEME_SETTING, ""))
        self.ui.schemeForDicomCheckBox.connect("toggled(bool)", self.onSchemeForDicomToggled)

        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
            self._updateButtons()

    def _updateButtons(self, caller=None, event=None) -> None:
        p = self._parameterNode
        if p is None:
            return
        self.ui.importRtStructButton.enabled = bool(p.rtStructPath)
        self.ui.schemeForDicomCheckBox.enabled = bool(p.rtStructSchemePath) or self.ui.schemeForDicomCheckBox.checked
        if self.ui.schemeForDicomCheckBox.checked:  # the browser follows the scheme chosen here
            import qt

            qt.QSettings().setValue(LABEL_SCHEME_SETTING, p.rtStructSchemePath)
        self.ui.exportSegButton.enabled = bool(p.exportSegmentation and p.exportReferenceVolume and p.exportDirectory)
        self.ui.convertButton.enabled = bool(p.convertInputPath and p.convertOutputDirectory)
        self.ui.exportLabelmapButton.enabled = bool(p.labelmapSegmentation and p.labelmapReferenceVolume)

    # -- progress --------------------------------------------------------------------------
    def _progress(self, fraction, message):
        """Core progress callback: shows progress, lets the GUI breathe, cancels on request."""
        from dicomlabelmap.errors import OperationCancelled

        self.ui.progressBar.value = int(round(100 * fraction))
        self.ui.statusLabel.text = message
        slicer.app.processEvents()
        if self._cancelRequested:
            raise OperationCancelled(_("Cancelled by the user"))

    def _startOperation(self):
        self._cancelRequested = False
        self.ui.cancelButton.enabled = True
        self.ui.progressBar.value = 0

    def _endOperation(self):
        self.ui.cancelButton.enabled = False

    def onCancel(self) -> None:
        self._cancelRequested = True

    def onUseForRtStructToggled(self, checked) -> None:
        import qt

        qt.QSettings().setValue(USE_FOR_RTSTRUCT_SETTING, bool(checked))

    def onSchemeForDicomToggled(self, checked) -> None:
        """DICOM-browser imports use the scheme chosen here (the setting holds its path)."""
        import qt

        path = self._parameterNode.rtStructSchemePath if (checked and self._parameterNode) else ""
        qt.QSettings().setValue(LABEL_SCHEME_SETTING, path)

    # -- actions ---------------------------------------------------------------------------
    def onImportRtStruct(self) -> None:
        p = self._parameterNode
        self._startOperation()
        try:
            with slicer.util.tryWithErrorDisplay(_("RT Structure Set import failed."), waitCursor=True):
                segmentationNode = self.logic.importRtStruct(
                    p.rtStructPath,
                    p.rtStructReferenceVolume,
                    markSmallContours=p.markSmallContours,
                    pointsAsMarkups=p.pointsAsMarkups,
                    progressCallback=self._progress,
                    scheme=p.rtStructSchemePath or None,
                    include=splitSelection(p.rtStructInclude),
                    exclude=splitSelection(p.rtStructExclude),
                )
                self._showReport(self.logic.lastImportReport)
                self.ui.statusLabel.text = _("Imported {count} ROI(s) into '{name}'").format(
                    count=len(self.logic.lastImportReport.get("rois", [])), name=segmentationNode.GetName()
                )
        finally:
            self._endOperation()

    def _showReport(self, report) -> None:
        import qt
        from LabelMapSegLib.scene import REPORT_COLUMNS

        rows = report.get("rois", [])
        table = self.ui.reportTable
        table.clear()
        table.setColumnCount(len(REPORT_COLUMNS))
        table.setHorizontalHeaderLabels([title for _key, title in REPORT_COLUMNS])
        table.setRowCount(len(rows))
        for rowIndex, row in enumerate(rows):
            for columnIndex, (key, _title) in enumerate(REPORT_COLUMNS):
                value = row.get(key)
                table.setItem(rowIndex, columnIndex, qt.QTableWidgetItem("" if value is None else str(value)))

    def onExportLabelMapSeg(self) -> None:
        p = self._parameterNode
        self._startOperation()
        try:
            with slicer.util.tryWithErrorDisplay(_("Label Map SEG export failed."), waitCursor=True):
                self.logic.exportLabelMapSeg(
                    p.exportSegmentation,
                    p.exportReferenceVolume,
                    p.exportDirectory,
                    transferSyntax=p.transferSyntax,
                    paletteColor=p.photometricInterpretation == "PALETTE COLOR",
                    overlapHandling=p.overlapHandling,
                    seriesDescription=p.seriesDescription,
                    progressCallback=self._progress,
                )
                self.ui.exportResultLabel.text = self.logic.lastExportSummary
        finally:
            self._endOperation()

    def onConvertSeg(self) -> None:
        p = self._parameterNode
        self._startOperation()
        try:
            with slicer.util.tryWithErrorDisplay(_("SEG conversion failed."), waitCursor=True):
                results = self.logic.convertSegFiles(
                    p.convertInputPath, p.convertOutputDirectory, transferSyntax=p.transferSyntax, progressCallback=self._progress
                )
                self.ui.convertResultLabel.text = "\n".join(results)
        finally:
            self._endOperation()

    def onExportLabelmap(self) -> None:
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Labelmap export failed."), waitCursor=True):
            nodes = self.logic.exportLabelmapVolumes(p.labelmapSegmentation, p.labelmapReferenceVolume)
            self.ui.statusLabel.text = _("Created {names}").format(names=", ".join(n.GetName() for n in nodes))


#
# LabelMapSegLogic
#


class LabelMapSegLogic(ScriptedLoadableModuleLogic):
    """The Python API of LabelMapSeg (also for Slicer's Python console).

    Example::

        logic = slicer.util.getModuleLogic("LabelMapSeg")
        seg = logic.importRtStruct("/data/RS.dcm", ctVolumeNode)
        logic.exportLabelMapSeg(seg, ctVolumeNode, "/data/out", transferSyntax="jpegls")
        again = logic.loadLabelMapSeg(["/data/out/LabelMapSEG_001.dcm"], ctVolumeNode)
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        #: The last RT Structure Set import report (plain data: ROIs, findings, reference).
        self.lastImportReport = {}
        #: One readable line per file written by the last Label Map SEG export.
        self.lastExportSummary = ""
        #: The files the last export wrote.
        self.lastExportFiles = []

    def getParameterNode(self):
        return LabelMapSegParameterNode(super().getParameterNode())

    # -- references ----------------------------------------------------------------------
    def referenceSeries(self, volumeNode, referenceDirectory=None, requireDicom=False):
        """The core's ReferenceSeries for a volume node: read from the DICOM files the volume was
        loaded from (through ``slicer.dicomDatabase``) or from ``referenceDirectory``; a volume
        not from DICOM gives a grid-only reference unless ``requireDicom``. The series read
        must be on the volume's grid exactly."""
        from dicomlabelmap.errors import GeometryError, ReferenceSeriesError
        from dicomlabelmap.series import ReferenceSeries, read_reference_series
        from LabelMapSegLib.scene import files_for_instances, instance_uids
        from LabelMapSegLib.segmentations import geometry_from_volume_node

        geometry = geometry_from_volume_node(volumeNode)
        uids = instance_uids(volumeNode)
        files = files_for_instances(getattr(slicer, "dicomDatabase", None), uids)
        if files:
            series = read_reference_series(files)
        elif referenceDirectory:
            series = read_reference_series(referenceDirectory)
        elif requireDicom:
            raise ReferenceSeriesError(
                f"volume '{volumeNode.GetName()}' was not loaded from DICOM (or its files are not in the DICOM database): "
                "a Label Map SEG needs the DICOM images it was drawn on. Load the images through the DICOM module, "
                "or give the folder of the series."
            )
        else:
            return ReferenceSeries.from_geometry(geometry, volumeNode.GetName())
        if not series.geometry.is_close(geometry, 1e-3):
            raise GeometryError(
                f"volume '{volumeNode.GetName()}' is not on the grid of its DICOM series {series.series_instance_uid} "
                "(was it resampled or cropped?)"
            )
        return series

    # -- RT Structure Set ------------------------------------------------------------------
    def importRtStruct(
        self,
        rtStructPath,
        referenceVolumeNode=None,
        referenceFiles=None,
        markSmallContours=True,
        pointsAsMarkups=True,
        progressCallback=None,
        name=None,
        scheme=None,
        include=(),
        exclude=(),
    ):
        """Import an RT Structure Set as a segmentation node on the reference volume's grid.

        ``scheme`` (a label scheme JSON path or a ``dicomlabelmap.scheme.LabelScheme``) and
        ``include``/``exclude`` (ROI or label names, or regular expressions) import only the
        selected ROIs, with the scheme's label values, names, colours and codes, exactly as
        ``dicomlabelmap rtstruct --roi-map/--include/--exclude`` does.

        The reference is ``referenceVolumeNode`` (its DICOM files when it came from DICOM,
        else its grid), or the series found among ``referenceFiles`` (files or a folder).
        Each ROI becomes one segment (label value = position in the Structure Set ROI
        Sequence); the import report is kept in ``lastImportReport``, as the node attribute
        ``LabelMapSeg.ImportReport`` and as a table node. POINT contours become a markups
        point list when ``pointsAsMarkups``. Returns the segmentation node.
        """
        from dicomlabelmap.conversion import rtstruct_to_labels
        from dicomlabelmap.errors import DicomLabelMapError
        from dicomlabelmap.rasterize import RasterOptions
        from LabelMapSegLib.scene import REPORT_ATTRIBUTE, removed_on_failure, report_table_node
        from LabelMapSegLib.segmentations import add_label_volumes_to_segmentation_node, set_reference_geometry

        if referenceVolumeNode is not None:
            reference = self.referenceSeries(referenceVolumeNode)
        elif referenceFiles:
            reference = referenceFiles
        else:
            raise DicomLabelMapError("importRtStruct needs a reference volume node or the reference series' files")
        options = RasterOptions(mark_unfilled_contours=markSmallContours)
        conversion = rtstruct_to_labels(
            rtStructPath, reference, options=options, progress=progressCallback, scheme=labelScheme(scheme, include, exclude)
        )
        if not conversion.rois and conversion.assignments:
            raise DicomLabelMapError(f"the label scheme selects none of the {len(conversion.assignments)} ROIs of {rtStructPath}")
        report = conversion.to_dict()
        scene = slicer.mrmlScene
        with removed_on_failure(scene) as created:
            nodeName = name or conversion.structure_set.label or os.path.basename(str(rtStructPath))
            segmentationNode = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", nodeName)
            created.append(segmentationNode)
            segmentationNode.CreateDefaultDisplayNodes()
            set_reference_geometry(segmentationNode, conversion.reference.geometry, referenceVolumeNode)
            add_label_volumes_to_segmentation_node(conversion.label_volumes, segmentationNode)
            segmentationNode.SetAttribute(REPORT_ATTRIBUTE, _json(report))
            created.append(report_table_node(scene, report, f"{nodeName} import report"))
            if pointsAsMarkups:
                created.extend(self._pointMarkups(conversion, nodeName))
        self.lastImportReport = report
        for raster in conversion.failed_rois:
            logging.warning(f"LabelMapSeg: ROI {raster.roi.number} '{raster.roi.name}' was not converted (see the import report)")
        for finding in conversion.findings:
            logging.info(f"LabelMapSeg: {finding}")
        return segmentationNode

    @staticmethod
    def _pointMarkups(conversion, nodeName):
        import numpy as np
        from dicomlabelmap.rtstruct import ContourGeometricType

        nodes = []
        for roi in conversion.structure_set.rois:
            points = roi.points_of_type(ContourGeometricType.POINT)
            if not points:
                continue
            markups = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", f"{nodeName} {roi.name}")
            for lps in np.concatenate(points).reshape(-1, 3):
                markups.AddControlPoint(vtk.vtkVector3d(-lps[0], -lps[1], lps[2]), roi.name)
            if roi.color is not None and markups.GetDisplayNode() is not None:
                markups.GetDisplayNode().SetSelectedColor(*(c / 255 for c in roi.color))
            nodes.append(markups)
        return nodes

    # -- Label Map SEG out -----------------------------------------------------------------
    def exportLabelMapSeg(
        self,
        segmentationNode,
        referenceVolumeNode,
        outputDirectory,
        transferSyntax="rle",
        paletteColor=False,
        overlapHandling="layers",
        seriesDescription=None,
        omitEmptyFrames=False,
        referenceDirectory=None,
        overwrite=False,
        validate=True,
        progressCallback=None,
    ):
        """Write the segmentation as Label Map SEG instances (one per layer) into
        ``outputDirectory``, on the reference volume's DICOM series. Every file is read back
        and compared before it is published. Returns the paths written."""
        from dicomlabelmap.codecs import TransferSyntax
        from dicomlabelmap.errors import DicomLabelMapError
        from dicomlabelmap.findings import Severity
        from dicomlabelmap.seg_validate import validate_seg
        from dicomlabelmap.seg_writer import SegWriteOptions, write_label_map_segs
        from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node

        if segmentationNode is None or referenceVolumeNode is None:
            raise DicomLabelMapError("select a segmentation and its reference volume")
        if overlapHandling not in OVERLAP_HANDLING:
            raise DicomLabelMapError(f"overlap handling '{overlapHandling}' is not one of {', '.join(OVERLAP_HANDLING)}")
        syntax = TransferSyntax(transferSyntax)
        reference = self.referenceSeries(referenceVolumeNode, referenceDirectory, requireDicom=True)
        volumes = label_volumes_from_segmentation_node(segmentationNode, referenceVolumeNode)
        if not volumes:
            raise DicomLabelMapError(f"segmentation '{segmentationNode.GetName()}' has no segments")
        if overlapHandling == "single" and len(volumes) > 1:
            raise DicomLabelMapError(
                f"segmentation '{segmentationNode.GetName()}' has {len(volumes)} layers (overlapping segments); "
                "a single instance cannot hold them. Choose one instance per layer, or remove the overlaps."
            )
        options = SegWriteOptions(
            transfer_syntax=syntax,
            palette_color=paletteColor,
            omit_empty_frames=omitEmptyFrames,
            series_description=seriesDescription or segmentationNode.GetName(),
        )
        paths = write_label_map_segs(volumes, reference, outputDirectory, options, overwrite=overwrite, progress=progressCallback)
        lines = []
        for path, volume in zip(paths, volumes, strict=True):
            line = f"{path.name}: {len(volume.segments)} segment(s), {path.stat().st_size / 1e6:.2f} MB, {syntax.value}, verified"
            if validate:
                errors = [f for f in validate_seg(path, run_dciodvfy=False) if f.severity is Severity.ERROR]
                line += f", {len(errors)} validation error(s)" if errors else ", valid"
            lines.append(line)
        self.lastExportFiles = [str(p) for p in paths]
        self.lastExportSummary = "\n".join(lines)
        return self.lastExportFiles

    # -- Label Map SEG in ------------------------------------------------------------------
    def loadLabelMapSeg(self, paths, referenceVolumeNode=None, name=None):
        """Load Label Map SEG instances of one series (or any DICOM SEG) as one segmentation
        node, one layer per instance, on the reference volume's grid when given (else on the
        grid rebuilt from the SEG's own frames). Returns the segmentation node."""
        from dicomlabelmap.seg_series import read_seg_series
        from LabelMapSegLib.scene import removed_on_failure
        from LabelMapSegLib.segmentations import add_label_volumes_to_segmentation_node, geometry_from_volume_node, set_reference_geometry

        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        grid = geometry_from_volume_node(referenceVolumeNode) if referenceVolumeNode is not None else None
        # One series on one grid: without a reference, the grid spans every instance's frames.
        contents = read_seg_series(list(paths), grid).contents
        volumes = [volume for content in contents for volume in content.volumes]
        scene = slicer.mrmlScene
        with removed_on_failure(scene) as created:
            description = contents[0].dataset.get("SeriesDescription", "") if contents[0].dataset is not None else ""
            segmentationNode = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name or str(description) or "Label map segmentation")
            created.append(segmentationNode)
            segmentationNode.CreateDefaultDisplayNodes()
            set_reference_geometry(segmentationNode, volumes[0].geometry, referenceVolumeNode)
            add_label_volumes_to_segmentation_node(volumes, segmentationNode)
        for content in contents:
            for finding in content.findings:
                logging.warning(f"LabelMapSeg: {content.path}: {finding}")
        return segmentationNode

    # -- classic SEG -> Label Map SEG ------------------------------------------------------
    def convertSegFiles(self, inputPath, outputDirectory, transferSyntax="rle", overwrite=False, progressCallback=None):
        """Convert a BINARY/FRACTIONAL SEG file, or every SEG in a folder, to Label Map SEG.
        Each input gets its own subfolder of ``outputDirectory``. Returns one line per input."""
        from pathlib import Path

        from dicomlabelmap.codecs import TransferSyntax
        from dicomlabelmap.errors import DicomLabelMapError
        from dicomlabelmap.progress import scaled
        from dicomlabelmap.seg_convert import convert_to_label_map_seg
        from dicomlabelmap.seg_writer import SegWriteOptions

        source = Path(inputPath)
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        candidates = [p for p in files if _isSegmentationFile(p)]
        if not candidates:
            raise DicomLabelMapError(f"{source}: no DICOM Segmentation found")
        options = SegWriteOptions(transfer_syntax=TransferSyntax(transferSyntax))
        results = []
        for index, path in enumerate(candidates):
            target = Path(outputDirectory) / path.stem
            target.mkdir(parents=True, exist_ok=True)
            progress = scaled(progressCallback, index / len(candidates), (index + 1) / len(candidates))
            try:
                contents, written = convert_to_label_map_seg(path, target, options=options, overwrite=overwrite, progress=progress)
            except DicomLabelMapError as error:
                results.append(f"{path.name}: FAILED: {error}")
                continue
            results.append(f"{path.name} ({contents.segmentation_type}) -> {len(written)} file(s) in {target}")
        return results

    # -- labelmap volumes --------------------------------------------------------------------
    def exportLabelmapVolumes(self, segmentationNode, referenceVolumeNode, name=None):
        """One labelmap volume node per segmentation layer, on the reference volume's full grid
        (same shape and IJK-to-RAS: never cropped), label values = segment label values."""
        from LabelMapSegLib.scene import removed_on_failure
        from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node, labelmap_node_from_label_volume

        volumes = label_volumes_from_segmentation_node(segmentationNode, referenceVolumeNode)
        base = name or f"{segmentationNode.GetName()} labelmap"
        nodes = []
        with removed_on_failure(slicer.mrmlScene) as created:
            for index, volume in enumerate(volumes):
                nodeName = base if len(volumes) == 1 else f"{base} layer {index + 1}"
                node = labelmap_node_from_label_volume(volume, slicer.mrmlScene, nodeName)
                created.append(node)
                nodes.append(node)
        return nodes


def _json(data):
    import json

    return json.dumps(data)


def _isSegmentationFile(path):
    """True when ``path`` is a DICOM file of a Segmentation SOP Class (header only)."""
    import pydicom
    from dicomlabelmap.uids import LABEL_MAP_SEGMENTATION_STORAGE, SEGMENTATION_STORAGE

    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except Exception:  # noqa: BLE001 - not DICOM
        return False
    return str(dataset.get("SOPClassUID", "")) in (SEGMENTATION_STORAGE, LABEL_MAP_SEGMENTATION_STORAGE)


#
# LabelMapSegTest
#


class LabelMapSegTest(ScriptedLoadableModuleTest):
    """Self-tests for the real Slicer application (Slicer's test runner, or the module's
    Reload and Test button). They build a synthetic CT + RT Structure Set with the core,
    import it through Slicer's DICOM database, and check the round trips voxel for voxel."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_RtStructImportKeepsHolesAndGrid()
        self.setUp()
        self.test_LabelMapSegRoundTrip()
        self.setUp()
        self.test_LabelmapExportHasReferenceGeometry()
        self.setUp()
        self.test_RtStructImportWithLabelScheme()
        self.setUp()
        self.test_PluginsAreRegistered()

    def _loadDemoCase(self):
        """Write the core's demo CT + RTSTRUCT to a temporary folder, import it into a
        temporary DICOM database and load the CT. Returns (CT node, RTSTRUCT path)."""
        import tempfile

        from dicomlabelmap.synthetic import write_demo_case
        from DICOMLib import DICOMUtils

        folder = tempfile.mkdtemp(prefix="LabelMapSegTest")
        ctFolder, rtStructPath = write_demo_case(folder)
        self._database = DICOMUtils.TemporaryDICOMDatabase()
        self._database.__enter__()
        self.addCleanup(self._database.__exit__, None, None, None)
        DICOMUtils.importDicom(str(ctFolder))
        seriesUID = slicer.dicomDatabase.seriesForStudy(slicer.dicomDatabase.studiesForPatient(slicer.dicomDatabase.patients()[0])[0])[0]
        ctNode = slicer.util.getNode(DICOMUtils.loadSeriesByUID([seriesUID])[0])
        return ctNode, str(rtStructPath)

    def test_RtStructImportKeepsHolesAndGrid(self):
        self.delayDisplay("RT Structure Set import (nested, keyhole, XOR)")
        import numpy as np
        from dicomlabelmap.conversion import rtstruct_to_labels

        ctNode, rtStructPath = self._loadDemoCase()
        logic = LabelMapSegLogic()
        segmentationNode = logic.importRtStruct(rtStructPath, ctNode)
        expected = rtstruct_to_labels(rtStructPath, logic.referenceSeries(ctNode))
        for volume in expected.label_volumes:
            for segment in volume.segments:
                segmentId = segmentationNode.GetSegmentation().GetSegmentIdBySegmentName(segment.label)
                array = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, ctNode)
                np.testing.assert_array_equal(array > 0, volume.array == segment.number)
        self.assertTrue(segmentationNode.GetAttribute("LabelMapSeg.ImportReport"))
        self.delayDisplay("Test passed")

    def test_RtStructImportWithLabelScheme(self):
        self.delayDisplay("RT Structure Set import with a label scheme and a selection")
        import json
        import tempfile

        from dicomlabelmap.conversion import rtstruct_to_labels

        ctNode, rtStructPath = self._loadDemoCase()
        logic = LabelMapSegLogic()
        names = [roi.name for roi in rtstruct_to_labels(rtStructPath, logic.referenceSeries(ctNode)).structure_set.rois]
        schemePath = os.path.join(tempfile.mkdtemp(prefix="LabelMapSegScheme"), "scheme.json")
        with open(schemePath, "w", encoding="utf-8") as file:
            json.dump({"labels": [{"value": 40, "name": "first", "aliases": [names[0]]}, {"value": 42, "name": "third", "aliases": [names[2]]}]}, file)
        segmentationNode = logic.importRtStruct(rtStructPath, ctNode, scheme=schemePath, exclude=["third"])
        segmentation = segmentationNode.GetSegmentation()
        self.assertEqual(segmentation.GetNumberOfSegments(), 1)
        segment = segmentation.GetSegment(segmentation.GetNthSegmentID(0))
        self.assertEqual((segment.GetName(), segment.GetLabelValue()), ("first", 40))
        self.assertEqual(logic.lastImportReport["labels_missing"], ["third"])
        self.delayDisplay("Test passed")

    def test_LabelMapSegRoundTrip(self):
        self.delayDisplay("Label Map SEG export and load back")
        import tempfile

        import numpy as np
        from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node

        ctNode, rtStructPath = self._loadDemoCase()
        logic = LabelMapSegLogic()
        segmentationNode = logic.importRtStruct(rtStructPath, ctNode)
        for syntax in ("rle", "jpegls", "deflated"):
            outputFolder = tempfile.mkdtemp(prefix="LabelMapSegExport")
            paths = logic.exportLabelMapSeg(segmentationNode, ctNode, outputFolder, transferSyntax=syntax)
            loaded = logic.loadLabelMapSeg(paths, ctNode)
            before = label_volumes_from_segmentation_node(segmentationNode, ctNode)
            after = label_volumes_from_segmentation_node(loaded, ctNode)
            self.assertEqual(len(before), len(after))
            for a, b in zip(before, after, strict=True):
                np.testing.assert_array_equal(a.array, b.array)
                self.assertEqual([(s.number, s.label, s.color) for s in a.segments], [(s.number, s.label, s.color) for s in b.segments])
        self.delayDisplay("Test passed")

    def test_LabelmapExportHasReferenceGeometry(self):
        self.delayDisplay("Labelmap export on the full CT grid")
        ctNode, rtStructPath = self._loadDemoCase()
        logic = LabelMapSegLogic()
        segmentationNode = logic.importRtStruct(rtStructPath, ctNode)
        for labelmapNode in logic.exportLabelmapVolumes(segmentationNode, ctNode):
            self.assertEqual(labelmapNode.GetImageData().GetDimensions(), ctNode.GetImageData().GetDimensions())
            a, b = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
            labelmapNode.GetIJKToRASMatrix(a)
            ctNode.GetIJKToRASMatrix(b)
            for row in range(4):
                for column in range(4):
                    self.assertAlmostEqual(a.GetElement(row, column), b.GetElement(row, column), places=6)
        self.delayDisplay("Test passed")

    def test_PluginsAreRegistered(self):
        self.assertIn("DICOMLabelMapSegPlugin", slicer.modules.dicomPlugins)
        self.assertIn("DICOMRtStructLabelMapPlugin", slicer.modules.dicomPlugins)

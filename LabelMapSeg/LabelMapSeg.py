"""LabelMapSeg: RT Structure Sets (CLOSEDPLANAR_XOR included) and DICOM Label Map Segmentations
(Supplement 243) to and from Slicer segmentations, exactly on the reference volume's grid.

The Widget only wires the GUI; ``LabelMapSegLogic`` (in ``LabelMapSegLib/logic.py``) is the Python
API (also for the console). numpy, pydicom and the core (``dicomlabelmap``) are imported inside
the functions that use them, so that Slicer's start-up does not pay for them. The settings keys
of DICOM-browser imports are defined once, in ``LabelMapSegLib/settings.py``.
"""

import os

import slicer
import vtk
from LabelMapSegLib.logic import LabelMapSegLogic, LabelMapSegParameterNode, splitSelection
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

__all__ = ["LabelMapSeg", "LabelMapSegLogic", "LabelMapSegParameterNode", "LabelMapSegTest", "LabelMapSegWidget"]


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
        self.ui.exportRtStructButton.connect("clicked(bool)", self.onExportRtStruct)
        self.ui.convertButton.connect("clicked(bool)", self.onConvertSeg)
        self.ui.exportLabelmapButton.connect("clicked(bool)", self.onExportLabelmap)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self.ui.cancelButton.enabled = False
        from LabelMapSegLib.settings import LABEL_SCHEME_SETTING, USE_FOR_RTSTRUCT_SETTING

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
            self._describeChoices()
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
            self._updateButtons()

    def _describeChoices(self) -> None:
        """A tooltip per combo box item (connectGui fills the items with each choice's label)."""
        import qt
        from LabelMapSegLib.choices import HoleStyleChoice, OverlapChoice, PhotometricChoice, TransferSyntaxChoice

        for comboBox, choices in (
            (self.ui.transferSyntaxComboBox, TransferSyntaxChoice),
            (self.ui.photometricComboBox, PhotometricChoice),
            (self.ui.overlapComboBox, OverlapChoice),
            (self.ui.holeStyleComboBox, HoleStyleChoice),
        ):
            for index, choice in enumerate(choices):
                comboBox.setItemData(index, choice.tooltip(), qt.Qt.ToolTipRole)

    def _updateButtons(self, caller=None, event=None) -> None:
        p = self._parameterNode
        if p is None:
            return
        self.ui.importRtStructButton.enabled = bool(p.rtStructPath)
        self.ui.schemeForDicomCheckBox.enabled = bool(p.rtStructSchemePath) or self.ui.schemeForDicomCheckBox.checked
        if self.ui.schemeForDicomCheckBox.checked:  # the browser follows the scheme chosen here
            import qt
            from LabelMapSegLib.settings import LABEL_SCHEME_SETTING

            qt.QSettings().setValue(LABEL_SCHEME_SETTING, p.rtStructSchemePath)
        self.ui.exportSegButton.enabled = bool(p.exportSegmentation and p.exportReferenceVolume and p.exportDirectory)
        self.ui.exportRtStructButton.enabled = bool(p.rtExportSegmentation and p.rtExportReferenceVolume and p.rtExportDirectory)
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
        from LabelMapSegLib.settings import USE_FOR_RTSTRUCT_SETTING

        qt.QSettings().setValue(USE_FOR_RTSTRUCT_SETTING, bool(checked))

    def onSchemeForDicomToggled(self, checked) -> None:
        """DICOM-browser imports use the scheme chosen here (the setting holds its path)."""
        import qt
        from LabelMapSegLib.settings import LABEL_SCHEME_SETTING

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
                    transferSyntax=p.transferSyntax.value,
                    paletteColor=p.photometricInterpretation.value == "PALETTE COLOR",
                    overlapHandling=p.overlapHandling.value,
                    seriesDescription=p.seriesDescription,
                    progressCallback=self._progress,
                )
                self.ui.exportResultLabel.text = self.logic.lastExportSummary
        finally:
            self._endOperation()

    def onExportRtStruct(self) -> None:
        p = self._parameterNode
        self._startOperation()
        try:
            with slicer.util.tryWithErrorDisplay(_("RT Structure Set export failed."), waitCursor=True):
                self.logic.exportRtStruct(
                    p.rtExportSegmentation,
                    p.rtExportReferenceVolume,
                    p.rtExportDirectory,
                    holeStyle=p.holeStyle.value,
                    seriesDescription=p.rtExportSeriesDescription or None,
                    progressCallback=self._progress,
                )
                self.ui.rtExportResultLabel.text = self.logic.lastExportSummary
        finally:
            self._endOperation()

    def onConvertSeg(self) -> None:
        p = self._parameterNode
        self._startOperation()
        try:
            with slicer.util.tryWithErrorDisplay(_("SEG conversion failed."), waitCursor=True):
                results = self.logic.convertSegFiles(
                    p.convertInputPath, p.convertOutputDirectory, transferSyntax=p.transferSyntax.value, progressCallback=self._progress
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
        self.test_RtStructExportReadsBackExactly()
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
        from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels

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

        from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels

        ctNode, rtStructPath = self._loadDemoCase()
        logic = LabelMapSegLogic()
        names = [roi.name for roi in rtstruct_to_labels(rtStructPath, logic.referenceSeries(ctNode)).structure_set.rois]
        schemePath = os.path.join(tempfile.mkdtemp(prefix="LabelMapSegScheme"), "scheme.json")
        with open(schemePath, "w", encoding="utf-8") as file:
            json.dump(
                {"labels": [{"value": 40, "name": "first", "aliases": [names[0]]}, {"value": 42, "name": "third", "aliases": [names[2]]}]},
                file,
            )
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

    def test_RtStructExportReadsBackExactly(self):
        self.delayDisplay("RT Structure Set export: every hole style reads back as the same voxels")
        import tempfile

        import numpy as np
        from DICOMLib import DICOMUtils
        from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node

        ctNode, rtStructPath = self._loadDemoCase()
        logic = LabelMapSegLogic()
        segmentationNode = logic.importRtStruct(rtStructPath, ctNode)

        def masks(node):
            volumes = label_volumes_from_segmentation_node(node, ctNode)
            return {segment.label: volume.array == segment.number for volume in volumes for segment in volume.segments}

        expected = masks(segmentationNode)
        for holeStyle in ("keyhole", "nested", "xor"):
            outputFolder = tempfile.mkdtemp(prefix="LabelMapSegRtExport")
            path = logic.exportRtStruct(segmentationNode, ctNode, outputFolder, holeStyle=holeStyle)
            self.assertEqual({roi["round_trip"] for roi in logic.lastRtStructReport["rois"]}, {"identical"})
            # Back through the DICOM browser: the database and the plugin the browser picks.
            DICOMUtils.importDicom(outputFolder)
            seriesUID = slicer.dicomDatabase.seriesForFile(path)
            loaded = [slicer.mrmlScene.GetNodeByID(i) for i in DICOMUtils.loadSeriesByUID([seriesUID])]
            segmentations = [node for node in loaded if node.IsA("vtkMRMLSegmentationNode")]
            self.assertEqual(len(segmentations), 1)
            found = masks(segmentations[0])
            self.assertEqual(sorted(found), sorted(expected))
            for name, mask in expected.items():
                np.testing.assert_array_equal(found[name], mask)
        self.delayDisplay("Test passed")

    def test_PluginsAreRegistered(self):
        self.assertIn("DICOMLabelMapSegPlugin", slicer.modules.dicomPlugins)
        self.assertIn("DICOMRtStructLabelMapPlugin", slicer.modules.dicomPlugins)
        self.assertIn("DICOMRtStructExportPlugin", slicer.modules.dicomPlugins)

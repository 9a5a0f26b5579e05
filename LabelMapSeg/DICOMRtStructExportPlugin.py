"""DICOM plugin: segmentation nodes -> RT Structure Sets whose contours read back as exactly the
segmentation's voxels ("RT Structure Set (LabelMapSeg, exact)"), beside SlicerRT's exporter.

Contours pass strictly between inside and outside voxel centres, holes are written as the export
dialog's tag ``LabelMapSeg HoleStyle`` says (keyhole, nested or xor), and the file is read back
and compared voxel for voxel before it is added to the DICOM database. The segmentation's
reference volume must come from DICOM: an RT Structure Set names the images its contours lie on.
Offered at 1.01: above SlicerRT's RT exporter (1.0), below LabelMapSeg's Label Map SEG exporter
(1.05), which stays the export dialog's first choice for segmentations. numpy, pydicom and the
core are imported inside the methods.
"""

import logging

import slicer
from DICOMLib import DICOMPlugin

EXPORT_CONFIDENCE = 1.01
#: Export tags this plugin adds to the export dialog (editable there).
HOLE_STYLE_TAG = "LabelMapSeg HoleStyle"
CONTOUR_SHAPE_TAG = "LabelMapSeg ContourShape"


class DICOMRtStructExportPluginClass(DICOMPlugin):
    """RT Structure Set export through LabelMapSeg's verified contour writer (no import: the
    RT Structure Set import plugin is DICOMRtStructLabelMapPlugin)."""

    def __init__(self):
        super().__init__()
        self.loadType = "RT Structure Set (LabelMapSeg, exact)"

    def examineForExport(self, subjectHierarchyItemID):
        """Segmentation nodes; the exportable says when the reference volume is not from DICOM
        (export then fails with that message)."""
        from LabelMapSegLib.scene import dicom_reference_volume_node

        shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
        dataNode = shNode.GetItemDataNode(subjectHierarchyItemID)
        if dataNode is None or not dataNode.IsA("vtkMRMLSegmentationNode"):
            return []
        exportable = slicer.qSlicerDICOMExportable()
        exportable.name = self.loadType
        exportable.subjectHierarchyItemID = subjectHierarchyItemID
        exportable.pluginClass = self.__module__
        if dicom_reference_volume_node(dataNode, slicer.dicomDatabase) is not None:
            exportable.confidence = EXPORT_CONFIDENCE
            exportable.tooltip = (
                "RT Structure Set whose contours read back as exactly the segmentation's voxels (checked after writing); "
                f"holes written as the tag '{HOLE_STYLE_TAG}' says: keyhole, nested or xor"
            )
        else:
            exportable.confidence = 0.1
            exportable.tooltip = (
                "Not available: the segmentation's reference volume was not loaded from DICOM "
                "(an RT Structure Set names the images its contours lie on)"
            )
        exportable.setTag("Modality", "RTSTRUCT")
        exportable.setTag("SeriesDescription", dataNode.GetName())
        exportable.setTag("SeriesNumber", "301")
        exportable.setTag(HOLE_STYLE_TAG, "keyhole")
        exportable.setTag(CONTOUR_SHAPE_TAG, "midpoint")
        return [exportable]

    def export(self, exportables):
        """Write each exportable's segmentation; returns "" on success, else the error message."""
        from LabelMapSegLib.logic import LabelMapSegLogic
        from LabelMapSegLib.scene import reference_volume_node

        shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
        for exportable in exportables:
            segmentationNode = shNode.GetItemDataNode(exportable.subjectHierarchyItemID)
            reference = reference_volume_node(segmentationNode)
            if reference is None:
                return f"Segmentation '{segmentationNode.GetName()}' has no reference volume (set its source geometry from the CT)."
            try:
                path = LabelMapSegLogic().exportRtStruct(
                    segmentationNode,
                    reference,
                    exportable.directory,
                    holeStyle=exportable.tag(HOLE_STYLE_TAG) or "keyhole",
                    contourShape=exportable.tag(CONTOUR_SHAPE_TAG) or "midpoint",
                    seriesDescription=exportable.tag("SeriesDescription") or None,
                )
            except Exception as error:  # noqa: BLE001 - the export dialog shows the message
                logging.error(f"LabelMapSeg: RT Structure Set export of '{segmentationNode.GetName()}' failed: {error}")
                return str(error)
            slicer.dicomDatabase.insert(path)
        return ""


class DICOMRtStructExportPlugin:
    """Hidden module that registers the plugin with the DICOM module."""

    def __init__(self, parent):
        parent.title = "DICOM RT Structure Set LabelMapSeg Export Plugin"
        parent.categories = ["Developer Tools.DICOM Plugins"]
        parent.contributors = ["LabelMapSeg developers"]
        parent.helpText = "Exports segmentations as RT Structure Sets that read back as the same voxels. Used by the DICOM module."
        parent.acknowledgementText = "Part of the LabelMapSeg extension."
        parent.dependencies = ["DICOM", "Segmentations"]
        parent.hidden = True
        if not hasattr(slicer.modules, "dicomPlugins"):  # this module may be discovered before DICOM
            slicer.modules.dicomPlugins = {}
        slicer.modules.dicomPlugins["DICOMRtStructExportPlugin"] = DICOMRtStructExportPluginClass
        self.parent = parent

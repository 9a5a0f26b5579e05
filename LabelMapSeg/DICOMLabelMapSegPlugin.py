"""DICOM plugin: Label Map Segmentation Storage (Supplement 243) import and export.

Offers Label Map SEG instances above Slicer core's DICOM SEG plugin (0.95), loads them on the
reference volume's grid through LabelMapSeg's own decoder (no dcmqi, no cropping), and exports
segmentation nodes as Label Map SEG with the transfer syntax chosen in the export dialog's tags.
numpy, pydicom and the core are imported inside the methods.
"""

import logging

import slicer
from DICOMLib import DICOMLoadable, DICOMPlugin

LABEL_MAP_SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.7"
#: Above Slicer core's DICOMSegmentationPlugin (0.95): Slicer loads only the best loadables.
IMPORT_CONFIDENCE = 0.96
#: Export tags this plugin adds to the export dialog (editable there).
TRANSFER_SYNTAX_TAG = "LabelMapSeg TransferSyntax"
PHOTOMETRIC_TAG = "LabelMapSeg PhotometricInterpretation"


class DICOMLabelMapSegPluginClass(DICOMPlugin):
    """Label Map SEG import (one segmentation node per series, one layer per instance) and
    export (one instance per segmentation layer), through LabelMapSeg's Logic."""

    def __init__(self):
        super().__init__()
        self.loadType = "Label Map Segmentation"
        self.tags["referencedSeriesInstanceUID"] = "0008,1115"  # only its presence is used

    # -- import ------------------------------------------------------------------------------
    def examineFiles(self, files):
        database = slicer.dicomDatabase
        segFiles = [f for f in files if database.fileValue(f, self.tags["sopClassUID"]) == LABEL_MAP_SEGMENTATION_STORAGE]
        if not segFiles:
            return []
        loadable = DICOMLoadable()
        loadable.files = segFiles
        description = database.fileValue(segFiles[0], self.tags["seriesDescription"]) or "Label map segmentation"
        loadable.name = description
        loadable.tooltip = f"{description} - Label Map Segmentation, {len(segFiles)} instance(s), read by LabelMapSeg"
        loadable.selected = True
        loadable.confidence = IMPORT_CONFIDENCE
        loadable.warning = ""
        loadable.referencedInstanceUIDs = []
        try:
            self._addReferences(loadable)
        except Exception as error:  # noqa: BLE001 - examine must never raise into the DICOM browser
            loadable.warning = f"Could not read the referenced series: {error}"
        return [loadable]

    def _addReferences(self, loadable):
        """Fill referencedInstanceUIDs from the Referenced Series Sequence (so the DICOM browser
        loads the reference series too) and warn when that series is not in the database."""
        import pydicom

        dataset = pydicom.dcmread(loadable.files[0], stop_before_pixels=True)
        seriesUids = [str(item.SeriesInstanceUID) for item in dataset.get("ReferencedSeriesSequence", []) if "SeriesInstanceUID" in item]
        loadable.referencedSeriesUID = seriesUids[0] if seriesUids else ""
        uids = []
        for item in dataset.get("ReferencedSeriesSequence", []):
            uids += [str(i.ReferencedSOPInstanceUID) for i in item.get("ReferencedInstanceSequence", []) if "ReferencedSOPInstanceUID" in i]
        for seriesUid in seriesUids:
            for path in slicer.dicomDatabase.filesForSeries(seriesUid):
                uids.append(slicer.dicomDatabase.fileValue(path, self.tags["instanceUID"]))
        loadable.referencedInstanceUIDs = sorted(set(u for u in uids if u))
        missing = [uid for uid in loadable.referencedInstanceUIDs if not slicer.dicomDatabase.fileForInstance(uid)]
        if not seriesUids:
            loadable.warning = "The SEG names no Referenced Series; it will be placed on the grid of its own frames."
        elif missing:
            loadable.warning = (
                f"{len(missing)} referenced image(s) are not in the DICOM database; "
                "without the reference series the SEG is placed on the grid of its own frames."
            )

    def load(self, loadable):
        """A segmentation node on the reference volume's grid; False (and the nodes removed)
        on failure, with the reason in the log and in ``loadable.warning``."""
        from LabelMapSegLib.logic import LabelMapSegLogic
        from LabelMapSegLib.scene import volume_node_for_instances

        try:
            referenceNode = volume_node_for_instances(slicer.mrmlScene, set(getattr(loadable, "referencedInstanceUIDs", [])))
            segmentationNode = LabelMapSegLogic().loadLabelMapSeg(list(loadable.files), referenceNode, name=loadable.name)
            self.addSeriesInSubjectHierarchy(loadable, segmentationNode)
        except Exception as error:  # noqa: BLE001 - never raise into the DICOM browser's loop
            logging.error(f"LabelMapSeg: loading '{loadable.name}' failed: {error}")
            loadable.warning = str(error)
            return False
        return True

    # -- export ------------------------------------------------------------------------------
    def examineForExport(self, subjectHierarchyItemID):
        """Segmentation nodes; the exportable says when the reference volume is not from DICOM
        (export then fails with that message)."""
        shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
        dataNode = shNode.GetItemDataNode(subjectHierarchyItemID)
        if dataNode is None or not dataNode.IsA("vtkMRMLSegmentationNode"):
            return []
        from LabelMapSegLib.scene import dicom_reference_volume_node

        exportable = slicer.qSlicerDICOMExportable()
        exportable.name = self.loadType
        exportable.subjectHierarchyItemID = subjectHierarchyItemID
        exportable.pluginClass = self.__module__
        if dicom_reference_volume_node(dataNode, slicer.dicomDatabase) is not None:
            exportable.confidence = 1.05
            exportable.tooltip = "Label Map Segmentation (Supplement 243): one instance per layer, verified after writing"
        else:
            exportable.confidence = 0.1
            exportable.tooltip = "Not available: the segmentation's reference volume was not loaded from DICOM"
        exportable.setTag("Modality", "SEG")
        exportable.setTag("SeriesDescription", dataNode.GetName())
        exportable.setTag("SeriesNumber", "300")
        exportable.setTag(TRANSFER_SYNTAX_TAG, "rle")
        exportable.setTag(PHOTOMETRIC_TAG, "MONOCHROME2")
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
                paths = LabelMapSegLogic().exportLabelMapSeg(
                    segmentationNode,
                    reference,
                    exportable.directory,
                    transferSyntax=exportable.tag(TRANSFER_SYNTAX_TAG) or "rle",
                    paletteColor=exportable.tag(PHOTOMETRIC_TAG) == "PALETTE COLOR",
                    seriesDescription=exportable.tag("SeriesDescription") or None,
                )
            except Exception as error:  # noqa: BLE001 - the export dialog shows the message
                logging.error(f"LabelMapSeg: export of '{segmentationNode.GetName()}' failed: {error}")
                return str(error)
            for path in paths:
                slicer.dicomDatabase.insert(path)
        return ""


class DICOMLabelMapSegPlugin:
    """Hidden module that registers the plugin with the DICOM module."""

    def __init__(self, parent):
        parent.title = "DICOM Label Map Segmentation Plugin"
        parent.categories = ["Developer Tools.DICOM Plugins"]
        parent.contributors = ["LabelMapSeg developers"]
        parent.helpText = "Loads and exports DICOM Label Map Segmentations (Supplement 243). Used by the DICOM module."
        parent.acknowledgementText = "Part of the LabelMapSeg extension."
        parent.dependencies = ["DICOM", "Segmentations"]
        parent.hidden = True
        if not hasattr(slicer.modules, "dicomPlugins"):  # this module may be discovered before DICOM
            slicer.modules.dicomPlugins = {}
        slicer.modules.dicomPlugins["DICOMLabelMapSegPlugin"] = DICOMLabelMapSegPluginClass
        self.parent = parent

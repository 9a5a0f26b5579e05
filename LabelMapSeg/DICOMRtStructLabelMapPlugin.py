"""DICOM plugin: RT Structure Sets -> segmentations on the reference volume's grid, with the
standard's rules for holes (nested CLOSED_PLANAR, keyholes, CLOSEDPLANAR_XOR).

Confidence 1.05 (chosen over SlicerRT's 1.0) when the file holds CLOSEDPLANAR_XOR contours,
whose type SlicerRT ignores (it reads them as plain contours), or when the setting "Use LabelMapSeg for RT structure sets" is on
(the default); otherwise 0.9, so that SlicerRT is chosen. numpy, pydicom and the core are
imported inside the methods.
"""

import logging
import mmap

import slicer
from DICOMLib import DICOMLoadable, DICOMPlugin
from LabelMapSegLib.settings import dicomLabelScheme, useLabelMapSegForAll

RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
PREFERRED_CONFIDENCE = 1.05
DEFERRING_CONFIDENCE = 0.9


def containsXorContours(path):
    """True when the file holds the Contour Geometric Type CLOSEDPLANAR_XOR (a byte search:
    examining must stay fast for large structure sets)."""
    try:
        with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(b"CLOSEDPLANAR_XOR") >= 0
    except (OSError, ValueError):
        return False


class DICOMRtStructLabelMapPluginClass(DICOMPlugin):
    """RT Structure Set import through LabelMapSeg's rasterizer."""

    def __init__(self):
        super().__init__()
        self.loadType = "RT Structure Set (LabelMapSeg)"

    def examineFiles(self, files):
        database = slicer.dicomDatabase
        loadables = []
        for path in files:
            if database.fileValue(path, self.tags["sopClassUID"]) != RT_STRUCTURE_SET_STORAGE:
                continue
            xor = containsXorContours(path)
            preferred = xor or useLabelMapSegForAll()
            loadable = DICOMLoadable()
            loadable.files = [path]
            description = database.fileValue(path, self.tags["seriesDescription"]) or "RT Structure Set"
            loadable.name = description
            loadable.confidence = PREFERRED_CONFIDENCE if preferred else DEFERRING_CONFIDENCE
            reason = (
                "it holds CLOSEDPLANAR_XOR contours"
                if xor
                else ("the setting 'Use LabelMapSeg for RT structure sets' is on" if preferred else "SlicerRT is preferred by the settings")
            )
            loadable.tooltip = (
                f"{description} - RT Structure Set as a segmentation on the reference volume's grid. Rules: nested "
                "CLOSED_PLANAR contours are holes (even-odd), keyholes are cut, CLOSEDPLANAR_XOR is combined by "
                f"exclusive or. LabelMapSeg is {'chosen' if preferred else 'not chosen'} because {reason}."
            )
            loadable.selected = True
            loadable.warning = ""
            loadable.referencedInstanceUIDs = []
            try:
                self._addReferences(loadable)
            except Exception as error:  # noqa: BLE001 - examine must never raise into the DICOM browser
                loadable.warning = f"Could not read the RT Structure Set's references: {error}"
            loadables.append(loadable)
        return loadables

    def _addReferences(self, loadable):
        """The images the contours name, and every image of the referenced series."""
        import pydicom

        dataset = pydicom.dcmread(loadable.files[0], stop_before_pixels=True, specific_tags=["ReferencedFrameOfReferenceSequence"])
        seriesUids, uids = [], set()
        for frame in dataset.get("ReferencedFrameOfReferenceSequence", []):
            for study in frame.get("RTReferencedStudySequence", []):
                for series in study.get("RTReferencedSeriesSequence", []):
                    if "SeriesInstanceUID" in series:
                        seriesUids.append(str(series.SeriesInstanceUID))
                    uids.update(
                        str(i.ReferencedSOPInstanceUID) for i in series.get("ContourImageSequence", []) if "ReferencedSOPInstanceUID" in i
                    )
        for seriesUid in seriesUids:
            for path in slicer.dicomDatabase.filesForSeries(seriesUid):
                uids.add(slicer.dicomDatabase.fileValue(path, self.tags["instanceUID"]))
        loadable.referencedSeriesUID = seriesUids[0] if seriesUids else ""
        loadable.referencedInstanceUIDs = sorted(u for u in uids if u)
        if not seriesUids:
            loadable.warning = "The RT Structure Set names no referenced series; the series in its Frame of Reference is searched."
        elif not slicer.dicomDatabase.filesForSeries(seriesUids[0]):
            loadable.warning = f"The referenced series {seriesUids[0]} is not in the DICOM database: import it first."

    def _referenceFiles(self, loadable):
        """Candidate reference images: the referenced series, else every series of the study."""
        database = slicer.dicomDatabase
        seriesUid = getattr(loadable, "referencedSeriesUID", "")
        files = list(database.filesForSeries(seriesUid)) if seriesUid else []
        if files:
            return files
        studyUid = database.fileValue(loadable.files[0], "0020,000D")
        for series in database.seriesForStudy(studyUid) if studyUid else []:
            files += list(database.filesForSeries(series))
        return files

    def load(self, loadable):
        """A segmentation node (binary labelmap source representation) on the reference
        volume's grid; False (nodes removed, reason logged and in ``loadable.warning``) on failure."""
        from LabelMapSegLib.logic import LabelMapSegLogic
        from LabelMapSegLib.scene import volume_node_for_instances

        try:
            logic = LabelMapSegLogic()
            referenceNode = volume_node_for_instances(slicer.mrmlScene, set(getattr(loadable, "referencedInstanceUIDs", [])))
            scheme = dicomLabelScheme()
            if referenceNode is not None:
                segmentationNode = logic.importRtStruct(loadable.files[0], referenceNode, name=loadable.name, scheme=scheme)
            else:
                segmentationNode = logic.importRtStruct(
                    loadable.files[0], referenceFiles=self._referenceFiles(loadable), name=loadable.name, scheme=scheme
                )
            self.addSeriesInSubjectHierarchy(loadable, segmentationNode)
            rows = logic.lastImportReport.get("rois", [])
            failed = [row["name"] for row in rows if not row.get("converted") and row.get("status") not in ("unmatched", "excluded")]
            leftOut = [row["name"] for row in rows if row.get("status") in ("unmatched", "excluded")]
            notes = []
            if failed:
                notes.append(f"ROIs not converted: {', '.join(failed)}")
            if leftOut:
                notes.append(f"ROIs left out by the label scheme {scheme}: {', '.join(leftOut)}")
            if notes:
                loadable.warning = "; ".join(notes) + " (see the import report table)"
        except Exception as error:  # noqa: BLE001 - never raise into the DICOM browser's loop
            logging.error(f"LabelMapSeg: loading '{loadable.name}' failed: {error}")
            loadable.warning = str(error)
            return False
        return True


class DICOMRtStructLabelMapPlugin:
    """Hidden module that registers the plugin with the DICOM module."""

    def __init__(self, parent):
        parent.title = "DICOM RT Structure Set LabelMapSeg Plugin"
        parent.categories = ["Developer Tools.DICOM Plugins"]
        parent.contributors = ["LabelMapSeg developers"]
        parent.helpText = "Loads RT Structure Sets (CLOSEDPLANAR_XOR included) as segmentations. Used by the DICOM module."
        parent.acknowledgementText = "Part of the LabelMapSeg extension."
        parent.dependencies = ["DICOM", "Segmentations"]
        parent.hidden = True
        if not hasattr(slicer.modules, "dicomPlugins"):  # this module may be discovered before DICOM
            slicer.modules.dicomPlugins = {}
        slicer.modules.dicomPlugins["DICOMRtStructLabelMapPlugin"] = DICOMRtStructLabelMapPluginClass
        self.parent = parent

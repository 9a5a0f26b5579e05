"""LabelMapSeg's Logic: the Python API of the module (also for Slicer's Python console), and the
parameter node the GUI keeps in the scene.

Slicer imports this module at start-up through ``LabelMapSeg.py``: numpy, pydicom and the core
(``dicomlabelmap``) are imported inside the functions that use them.
"""

import logging
import os

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic

from LabelMapSegLib.choices import OVERLAP_HANDLING, HoleStyleChoice, OverlapChoice, PhotometricChoice, TransferSyntaxChoice

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
    from dicomlabelmap.model.scheme import build_scheme

    return build_scheme(scheme, include, exclude)


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
    # Stored as the command line's words (LabelMapSegLib.choices); shown by their labels.
    transferSyntax: TransferSyntaxChoice = TransferSyntaxChoice["rle"]
    photometricInterpretation: PhotometricChoice = PhotometricChoice["MONOCHROME2"]
    overlapHandling: OverlapChoice = OverlapChoice["layers"]
    seriesDescription: str = "Label map segmentation"
    rtExportSegmentation: vtkMRMLSegmentationNode
    rtExportReferenceVolume: vtkMRMLScalarVolumeNode
    rtExportDirectory: str = ""
    holeStyle: HoleStyleChoice = HoleStyleChoice["keyhole"]
    rtExportSeriesDescription: str = ""
    convertInputPath: str = ""
    convertOutputDirectory: str = ""
    labelmapSegmentation: vtkMRMLSegmentationNode
    labelmapReferenceVolume: vtkMRMLScalarVolumeNode


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
        #: The last RT Structure Set export report (plain data: per ROI contours, points, holes,
        #: pieces, round trip; left-out segments; findings).
        self.lastRtStructReport = {}

    def getParameterNode(self):
        return LabelMapSegParameterNode(super().getParameterNode())

    # -- references ----------------------------------------------------------------------
    def referenceSeries(self, volumeNode, referenceDirectory=None, requireDicom=False):
        """The core's ReferenceSeries for a volume node: read from the DICOM files the volume was
        loaded from (through ``slicer.dicomDatabase``) or from ``referenceDirectory``; a volume
        not from DICOM gives a grid-only reference unless ``requireDicom``. The series read
        must be on the volume's grid exactly."""
        from dicomlabelmap.dicom.images import ReferenceSeries
        from dicomlabelmap.dicom.scan import read_reference_series
        from dicomlabelmap.errors import GeometryError, ReferenceSeriesError

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

        ``scheme`` (a label scheme JSON path or a ``dicomlabelmap.model.scheme.LabelScheme``) and
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
        from dicomlabelmap.errors import DicomLabelMapError
        from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
        from dicomlabelmap.rtstruct.rasterize import RasterOptions

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
        nothingSelected = conversion.nothing_selected()
        if nothingSelected is not None:
            raise DicomLabelMapError(f"{rtStructPath}: {nothingSelected}")
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
        from dicomlabelmap.rtstruct.reader import ContourGeometricType

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
        from dicomlabelmap.errors import DicomLabelMapError
        from dicomlabelmap.findings import Severity
        from dicomlabelmap.seg.validate import validate_seg
        from dicomlabelmap.seg.writer import SegWriteOptions, write_label_map_segs

        from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node

        if segmentationNode is None or referenceVolumeNode is None:
            raise DicomLabelMapError("select a segmentation and its reference volume")
        if overlapHandling not in OVERLAP_HANDLING:
            raise DicomLabelMapError(f"overlap handling '{overlapHandling}' is not one of {', '.join(OVERLAP_HANDLING)}")
        reference = self.referenceSeries(referenceVolumeNode, referenceDirectory, requireDicom=True)
        volumes = label_volumes_from_segmentation_node(segmentationNode, referenceVolumeNode)
        if not volumes:
            raise DicomLabelMapError(f"segmentation '{segmentationNode.GetName()}' has no segments")
        if overlapHandling == "single" and len(volumes) > 1:
            raise DicomLabelMapError(
                f"segmentation '{segmentationNode.GetName()}' has {len(volumes)} layers (overlapping segments); "
                "a single instance cannot hold them. Choose one instance per layer, or remove the overlaps."
            )
        options = SegWriteOptions.from_words(
            transferSyntax,
            palette_color=paletteColor,
            omit_empty_frames=omitEmptyFrames,
            series_description=seriesDescription or segmentationNode.GetName(),
        )
        paths = write_label_map_segs(volumes, reference, outputDirectory, options, overwrite=overwrite, progress=progressCallback)
        lines = []
        for path, volume in zip(paths, volumes, strict=True):
            size = path.stat().st_size / 1e6
            line = f"{path.name}: {len(volume.segments)} segment(s), {size:.2f} MB, {options.transfer_syntax.value}, verified"
            if validate:
                errors = [f for f in validate_seg(path, run_dciodvfy=False) if f.severity is Severity.ERROR]
                line += f", {len(errors)} validation error(s)" if errors else ", valid"
            lines.append(line)
        self.lastExportFiles = [str(p) for p in paths]
        self.lastExportSummary = "\n".join(lines)
        return self.lastExportFiles

    # -- RT Structure Set out --------------------------------------------------------------
    def exportRtStruct(
        self,
        segmentationNode,
        referenceVolumeNode,
        outputDirectory,
        holeStyle="keyhole",
        contourShape="midpoint",
        seriesDescription=None,
        skipEmpty=False,
        referenceDirectory=None,
        fileName=None,
        overwrite=False,
        progressCallback=None,
    ):
        """Write the segmentation as an RT Structure Set (one ROI per segment) on the reference
        volume's DICOM series, into ``outputDirectory`` (file ``RS_<segmentation name>.dcm``, or
        ``fileName``; an existing file is never replaced unless ``overwrite``).

        Contours pass strictly between inside and outside voxel centres; holes are written as
        ``holeStyle`` (``keyhole``, ``nested`` or ``xor``: LabelMapSegLib.choices says which
        readers read which). The file is read back with LabelMapSeg's reader and every ROI
        compared voxel for voxel with its segment before it is published: any difference fails
        the export and nothing is written. Returns the path; ``lastRtStructReport`` holds the
        per-ROI report (contours, points, holes, pieces, round trip) and ``lastExportSummary``
        one readable line per ROI.
        """
        from pathlib import Path

        from dicomlabelmap.errors import DicomLabelMapError
        from dicomlabelmap.rtstruct.writer import ContourWriteOptions, write_rtstruct

        from LabelMapSegLib.segmentations import label_volumes_from_segmentation_node

        if segmentationNode is None or referenceVolumeNode is None:
            raise DicomLabelMapError("select a segmentation and its reference volume")
        name = segmentationNode.GetName()
        # The node's name is the structure set's: whole in Structure Set Name (LO, 64 characters),
        # its start in Structure Set Label (SH, 16), which planning systems list.
        options = ContourWriteOptions.from_words(
            holeStyle,
            contourShape,
            skip_empty=skipEmpty,
            structure_set_label=name[:16],
            structure_set_name=name[:64],
            series_description=seriesDescription or name[:64],
        )
        folder = Path(outputDirectory or "")
        if not str(outputDirectory or "") or not folder.is_dir():
            raise DicomLabelMapError(f"output folder '{folder}' does not exist")
        reference = self.referenceSeries(referenceVolumeNode, referenceDirectory, requireDicom=True)
        volumes = label_volumes_from_segmentation_node(segmentationNode, referenceVolumeNode)
        if not volumes:
            raise DicomLabelMapError(f"segmentation '{name}' has no segments")
        path = folder / fileName if fileName else _freePath(folder, f"RS_{_fileStem(name)}", ".dcm")
        result = write_rtstruct(volumes, reference, path, options, overwrite=overwrite, progress=progressCallback)
        self.lastRtStructReport = result.to_dict()
        self.lastExportFiles = [str(result.path)]
        self.lastExportSummary = rtStructSummary(self.lastRtStructReport)
        for finding in result.findings:
            logging.warning(f"LabelMapSeg: {result.path.name}: {finding}")
        return str(result.path)

    # -- Label Map SEG in ------------------------------------------------------------------
    def loadLabelMapSeg(self, paths, referenceVolumeNode=None, name=None):
        """Load Label Map SEG instances of one series (or any DICOM SEG) as one segmentation
        node, one layer per instance, on the reference volume's grid when given (else on the
        grid rebuilt from the SEG's own frames). Returns the segmentation node."""
        from dicomlabelmap.seg.series import read_seg_series

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

        from dicomlabelmap.errors import DicomLabelMapError
        from dicomlabelmap.progress import scaled
        from dicomlabelmap.seg.convert import convert_to_label_map_seg
        from dicomlabelmap.seg.writer import SegWriteOptions

        source = Path(inputPath)
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        candidates = [p for p in files if _isSegmentationFile(p)]
        if not candidates:
            raise DicomLabelMapError(f"{source}: no DICOM Segmentation found")
        options = SegWriteOptions.from_words(transferSyntax)
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


def rtStructSummary(report):
    """Readable lines of an RT Structure Set export report (``ContourWriteResult.to_dict()``)."""
    rois = report.get("rois", [])
    lines = [f"{os.path.basename(report['output'])}: {len(rois)} ROI(s), holes as {report['holes']}, read back and compared"]
    for roi in rois:
        lines.append(
            f"{roi['name']}: {roi['contours']} contour(s), {roi['points']} point(s), {roi['holes']} hole(s), "
            f"{roi['pieces']} piece(s), round trip: {roi['round_trip']}"
        )
    lines += [f"left out: {item['name']} ({item['reason']})" for item in report.get("left_out", [])]
    for finding in report.get("findings", []):
        where = f"{finding['roi_name']}: " if finding.get("roi_name") else ""
        lines.append(f"{finding['severity']}: {where}{finding['message']}")
    return "\n".join(lines)


def _fileStem(text):
    """A file name stem from a node name: letters and digits of any script, '-', '_' and '.'."""
    import re

    stem = re.sub(r"_+", "_", re.sub(r"[^\w.-]+", "_", text)).strip("._-")[:64]
    return stem or "segmentation"


def _freePath(folder, stem, suffix):
    """``folder/stem+suffix``, or with ``_2``, ``_3``... when taken: an export never replaces another file."""
    path, number = folder / f"{stem}{suffix}", 1
    while path.exists():
        number += 1
        path = folder / f"{stem}_{number}{suffix}"
    return path


def _json(data):
    import json

    return json.dumps(data)


def _isSegmentationFile(path):
    """True when ``path`` is a DICOM file of a Segmentation SOP Class (header only)."""
    import pydicom
    from dicomlabelmap.dicom.uids import LABEL_MAP_SEGMENTATION_STORAGE, SEGMENTATION_STORAGE

    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except Exception:  # noqa: BLE001 - not DICOM
        return False
    return str(dataset.get("SOPClassUID", "")) in (SEGMENTATION_STORAGE, LABEL_MAP_SEGMENTATION_STORAGE)

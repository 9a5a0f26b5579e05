"""Scene bookkeeping shared by the module logic and the DICOM plugins: DICOM volumes found by
their instance UIDs, created nodes removed again when an operation fails, and the RT Structure
Set import report as a table node. No DICOM parsing here (the core does that)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import slicer

#: Attribute Slicer's DICOM plugins set on loaded volumes: the SOP Instance UIDs, space separated.
INSTANCE_UIDS_ATTRIBUTE = "DICOM.instanceUIDs"
#: Attribute on a segmentation node holding the import report as JSON.
REPORT_ATTRIBUTE = "LabelMapSeg.ImportReport"

REPORT_COLUMNS = (
    ("roi_number", "ROI"),
    ("name", "Name"),
    ("label", "Label"),
    ("status", "Status"),
    ("converted", "Converted"),
    ("segment_number", "Label value"),
    ("layer", "Layer"),
    ("contours", "Contours"),
    ("nested", "Nested"),
    ("xor", "XOR"),
    ("keyhole", "Keyholes"),
    ("points", "Points"),
    ("voxels", "Voxels"),
    ("volume_ml", "Volume (ml)"),
    ("warnings", "Warnings"),
    ("errors", "Errors"),
)


def instance_uids(node: Any) -> list[str]:
    """The DICOM SOP Instance UIDs a node was loaded from (empty when not from DICOM)."""
    value = node.GetAttribute(INSTANCE_UIDS_ATTRIBUTE) if node is not None else None
    return value.split() if value else []


def files_for_instances(database: Any, uids: list[str]) -> list[str]:
    """The database files of ``uids``; empty when any instance is not in the database."""
    files = [database.fileForInstance(uid) for uid in uids] if database is not None else []
    return files if files and all(files) else []


def volume_node_for_instances(scene: Any, uids: set[str]) -> Any:
    """A scalar volume node in ``scene`` loaded from (a superset of) ``uids``, or ``None``."""
    if not uids:
        return None
    best, best_count = None, 0
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")):
        node = scene.GetNthNodeByClass(index, "vtkMRMLScalarVolumeNode")
        if node.IsA("vtkMRMLLabelMapVolumeNode"):
            continue
        count = len(uids & set(instance_uids(node)))
        if count > best_count:
            best, best_count = node, count
    return best if best_count == len(uids) else None


#: Subject hierarchy attribute DICOM plugins set on a loaded series: the instances it references.
REFERENCED_INSTANCES_ATTRIBUTE = "DICOM.ReferencedInstanceUIDs"


def reference_volume_node(segmentation_node: Any) -> Any:
    """The volume a segmentation lies on: the node its reference geometry was set from, else the
    scalar volume loaded from the instances its subject hierarchy item references (a structure
    set or SEG loaded from the DICOM browser before its CT: the browser loads series in plugin
    order), or ``None``."""
    if segmentation_node is None:
        return None
    node = segmentation_node.GetNodeReference(segmentation_node.GetReferenceImageGeometryReferenceRole())
    if node is not None:
        return node
    scene = segmentation_node.GetScene()
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene) if scene is not None else None
    item = sh.GetItemByDataNode(segmentation_node) if sh is not None else 0
    uids = set(sh.GetItemAttribute(item, REFERENCED_INSTANCES_ATTRIBUTE).split()) if item else set()
    return volume_node_for_instances(scene, uids) if uids else None


def dicom_reference_volume_node(segmentation_node: Any, database: Any) -> Any:
    """The segmentation's reference volume when it was loaded from DICOM files that ``database``
    holds (what a DICOM export needs), else ``None``."""
    node = reference_volume_node(segmentation_node)
    return node if node is not None and files_for_instances(database, instance_uids(node)) else None


@contextmanager
def removed_on_failure(scene: Any) -> Iterator[list[Any]]:
    """Collect the nodes an operation creates (append them to the yielded list); if the
    operation raises, remove them all from ``scene`` and re-raise."""
    created: list[Any] = []
    try:
        yield created
    except BaseException:
        for node in reversed(created):
            if node is not None and scene.IsNodePresent(node):
                display = node.GetDisplayNode() if hasattr(node, "GetDisplayNode") else None
                scene.RemoveNode(node)
                if display is not None and scene.IsNodePresent(display):
                    scene.RemoveNode(display)
        raise


def report_table_node(scene: Any, report: dict[str, Any], name: str) -> Any:
    """A table node with one row per ROI of an RT Structure Set import report."""
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    for _key, title in REPORT_COLUMNS:
        table.AddColumn().SetName(title)
    for row in report.get("rois", []):
        index = table.AddEmptyRow()
        for column_index, (key, _title) in enumerate(REPORT_COLUMNS):
            value = row.get(key)
            table.SetCellText(index, column_index, "" if value is None else str(value))
    table.SetAttribute(REPORT_ATTRIBUTE, json.dumps(report))
    return table

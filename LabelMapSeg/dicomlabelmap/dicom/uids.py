"""DICOM UIDs the core compares against (pydicom 3.0 does not name all of them)."""

from __future__ import annotations

RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
LABEL_MAP_SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.7"

#: SOP classes that may carry Rows/Columns or frame geometry but are never a reference image.
NON_IMAGE_SOP_CLASSES: dict[str, str] = {
    RT_STRUCTURE_SET_STORAGE: "RT Structure Set",
    SEGMENTATION_STORAGE: "Segmentation",
    LABEL_MAP_SEGMENTATION_STORAGE: "Label Map Segmentation",
    "1.2.840.10008.5.1.4.1.1.481.2": "RT Dose",
    "1.2.840.10008.5.1.4.1.1.481.5": "RT Plan",
    "1.2.840.10008.5.1.4.1.1.88.11": "Basic Text SR",
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR",
    "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive 3D SR",
}

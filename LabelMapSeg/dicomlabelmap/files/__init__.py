"""Files outside DICOM: label files (.seg.nrrd, .nrrd, .nii.gz), label tables, split masks, COCO, previews and the report table."""

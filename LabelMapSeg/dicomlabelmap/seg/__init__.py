"""DICOM Segmentation: reading every type (LABELMAP, BINARY, FRACTIONAL), writing Label Map SEG,
checks, validation, series, conversion, metadata files.
"""

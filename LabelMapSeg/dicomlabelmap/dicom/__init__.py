"""DICOM reading and encoding shared by every family: the reference image series, one safe dcmread,
functional groups, size limits, UIDs, raw sequence walking and writing, ICC profile, and the
transfer syntax registry (codecs).
"""

"""Slicer application settings of LabelMapSeg, defined once: the module's boxes write them, the
DICOM-browser plugins read them."""

#: Use LabelMapSeg (not SlicerRT) for every RT Structure Set, not only XOR ones (the module's box).
USE_FOR_RTSTRUCT_SETTING = "LabelMapSeg/UseForRtStructureSets"
#: A label scheme JSON applied to RT Structure Sets loaded from the DICOM browser ("" for none);
#: set in the module (its "Use for DICOM-browser imports too" box).
LABEL_SCHEME_SETTING = "LabelMapSeg/DicomRtStructLabelScheme"


def useLabelMapSegForAll():
    """Whether LabelMapSeg imports every RT Structure Set (default), not only XOR ones."""
    import slicer

    return slicer.util.settingsValue(USE_FOR_RTSTRUCT_SETTING, True, converter=slicer.util.toBool)


def dicomLabelScheme():
    """The label scheme path for DICOM-browser imports, or None."""
    import slicer

    return slicer.util.settingsValue(LABEL_SCHEME_SETTING, "") or None

"""The module's closed sets of export choices, each with the words a person reads.

A choice is stored (parameter node, Python API, command line) as the command line's word; the
module's combo boxes show its label and its tooltip. The labels and tooltips state what README's
reader matrix measures (``Testing/Python/interop/test_reader_matrix.py``: which readers open which
file with their default settings, and the sizes for 61 labels on a 512x512x224 CT).

Each set is an ``enum.Enum`` whose member names and values are the words: Slicer's parameter node
wrapper stores an Enum by its member name and its combo box connector shows ``label()``.
"""

import enum

from slicer.i18n import tr as _

#: (word, label, tooltip) per transfer syntax, in the order the module offers them.
TRANSFER_SYNTAX_CHOICES = (
    (
        "rle",
        _("RLE (read by Slicer, OHIF, highdicom and DCMTK)"),
        _(
            "RLE Lossless, the default. Read voxel for voxel by Slicer's DICOM SEG reader (dcmqi), OHIF, "
            "highdicom and DCMTK (dcmdrle) with their default settings. 1.95 MB for 61 labels on a 512x512x224 CT."
        ),
    ),
    (
        "explicit",
        _("Uncompressed (largest; read by every reader)"),
        _("Explicit VR Little Endian without compression: read by dcmqi, OHIF, highdicom and DCMTK. 58.9 MB for the same 61 labels."),
    ),
    (
        "deflated",
        _("Deflated (smallest that Slicer, OHIF, highdicom and DCMTK all read)"),
        _(
            "Deflated Explicit VR Little Endian: the whole file compressed with zlib. Read by dcmqi, OHIF, highdicom and DCMTK. "
            "0.72 MB for the same 61 labels. dciodvfy checks it only once expanded (dcmconv +te)."
        ),
    ),
    (
        "jpegls",
        _("JPEG-LS (small; not read by Slicer's dcmqi or OHIF)"),
        _(
            "JPEG-LS Lossless: 0.98 MB for the same 61 labels. Read by LabelMapSeg, highdicom and DCMTK (dcmdjpls); "
            "refused by dcmqi (Slicer core's SEG reader) and OHIF."
        ),
    ),
    (
        "jpeg2000",
        _("JPEG 2000 (larger than RLE; not read by Slicer's dcmqi or OHIF)"),
        _(
            "JPEG 2000 Lossless: 3.62 MB for the same 61 labels. Read by LabelMapSeg (needs pylibjpeg-openjpeg in Slicer) and "
            "highdicom; refused by dcmqi and OHIF; free DCMTK has no JPEG 2000 decoder."
        ),
    ),
    (
        "deflated-frame",
        _("Deflate per frame (only LabelMapSeg reads it)"),
        _(
            "Deflated Image Frame Compression (DICOM 2025a): 0.84 MB for the same 61 labels, but no other tool reads it yet "
            "(not highdicom, dcmqi, DCMTK or OHIF). Only for exchange between LabelMapSeg installations."
        ),
    ),
)

#: (word, label, tooltip) per photometric interpretation.
PHOTOMETRIC_CHOICES = (
    (
        "MONOCHROME2",
        _("segment numbers as grey levels (MONOCHROME2)"),
        _(
            "Pixel values are the segment numbers; each segment's colour is kept in its description "
            "(Recommended Display CIELab Value). What every reader expects."
        ),
    ),
    (
        "PALETTE COLOR",
        _("store segment colours in the file (palette)"),
        _(
            "PALETTE COLOR: a colour table (8-bit entries) gives each segment number its colour, so viewers that ignore "
            "the segment descriptions still show the colours. Read by the same readers as MONOCHROME2."
        ),
    ),
)

#: (word, label, tooltip) per way of handling overlapping segments.
OVERLAP_CHOICES = (
    (
        "layers",
        _("overlapping segments: one file per layer"),
        _(
            "Segments that overlap are in separate layers of the segmentation; each layer becomes one Label Map SEG "
            "instance of the same series. Nothing is dropped."
        ),
    ),
    (
        "single",
        _("refuse overlapping segments (one file)"),
        _(
            "Write a single instance; a segmentation whose segments overlap (more than one layer) is refused "
            "with a message, nothing written."
        ),
    ),
)

#: (word, label, tooltip) per way of writing holes in an RT Structure Set (PS3.3 C.8.8.6.3).
HOLE_STYLE_CHOICES = (
    (
        "keyhole",
        _("keyholes: one contour per piece (default)"),
        _(
            "Each connected piece is one CLOSED_PLANAR contour, its holes joined to it by zero-width channels. Read right "
            "by readers that unite the contours of a slice (plastimatch's default) and by those that combine them by "
            "exclusive or."
        ),
    ),
    (
        "nested",
        _("nested contours, as Varian and RayStation export"),
        _(
            "Every boundary is its own CLOSED_PLANAR contour, holes inside their outer contour. Read right by readers "
            "that combine the contours of a slice by exclusive or (LabelMapSeg does); readers that unite them fill the holes."
        ),
    ),
    (
        "xor",
        _("CLOSEDPLANAR_XOR (CP 2037; plastimatch skips it)"),
        _(
            "Every boundary is a CLOSEDPLANAR_XOR contour, combined by exclusive or by definition (DICOM CP 2037). "
            "Readers that do not know the type misread it: plastimatch leaves those contours out, dcmrtstruct2nii "
            "returns empty masks, SlicerRT ignores the type (it builds a surface from every contour)."
        ),
    ),
)


class ExportChoice(enum.Enum):
    """Base of the choice sets: ``label()`` is shown, ``tooltip()`` explains, ``value`` (= name) is the word."""

    def label(self):
        return type(self).texts[self.value][0]

    def tooltip(self):
        return type(self).texts[self.value][1]


def _choiceSet(name, rows):
    choiceSet = ExportChoice(name, [(word, word) for word, _label, _tooltip in rows])
    choiceSet.texts = {word: (label, tooltip) for word, label, tooltip in rows}
    return choiceSet


TransferSyntaxChoice = _choiceSet("TransferSyntaxChoice", TRANSFER_SYNTAX_CHOICES)
PhotometricChoice = _choiceSet("PhotometricChoice", PHOTOMETRIC_CHOICES)
OverlapChoice = _choiceSet("OverlapChoice", OVERLAP_CHOICES)
HoleStyleChoice = _choiceSet("HoleStyleChoice", HOLE_STYLE_CHOICES)

#: The words alone (what the Python API and the command line accept).
TRANSFER_SYNTAXES = tuple(choice.value for choice in TransferSyntaxChoice)
PHOTOMETRIC_INTERPRETATIONS = tuple(choice.value for choice in PhotometricChoice)
OVERLAP_HANDLING = tuple(choice.value for choice in OverlapChoice)
HOLE_STYLES = tuple(choice.value for choice in HoleStyleChoice)

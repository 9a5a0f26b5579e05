"""The settings one batch run shares (:class:`BatchSettings`, typed once from the command line
or built in Python) and the closed sets of values they use: what an input is
(:class:`InputKind`) and what is written for it (:class:`OutputFormat`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..errors import DicomLabelMapError

if TYPE_CHECKING:
    from ..model.scheme import LabelScheme
    from ..rtstruct.rasterize import RasterOptions
    from ..rtstruct.writer import ContourWriteOptions
    from ..seg.writer import SegWriteOptions


class InputKind(str, Enum):
    """What a batch input is."""

    RTSTRUCT = "rtstruct"
    SEG = "seg"
    #: A label file listed in a CSV beside its reference series (batch of a ``.csv``).
    LABEL_FILE = "label-file"

    def __str__(self) -> str:
        return self.value


class _HasKind(Protocol):
    kind: InputKind


_Item = TypeVar("_Item", bound=_HasKind)


class OutputFormat(str, Enum):
    """What a batch writes for an RT Structure Set (SEGs always become Label Map SEG, plus the
    label file when ``LABEL_FILE`` is asked)."""

    LABELMAP_SEG = "labelmap-seg"
    #: ``labels.seg.nrrd`` (the same as ``LABEL_FILE`` with the suffix ``.seg.nrrd``).
    SEG_NRRD = "seg.nrrd"
    #: ``labels<label_suffix>`` with its label tables.
    LABEL_FILE = "label-file"
    #: ``coco.json``: per-slice COCO run-length masks (needs pycocotools).
    COCO_RLE = "coco-rle"
    #: ``RS.dcm``: an RT Structure Set of a SEG or a listed label file, read back and compared
    #: (:func:`~dicomlabelmap.rtstruct.writer.write_rtstruct`); RT Structure Set inputs get none.
    RTSTRUCT = "rtstruct"

    def __str__(self) -> str:
        return self.value


#: File types a batch label file, mask or image may have.
LABEL_SUFFIXES = (".seg.nrrd", ".nrrd", ".nii.gz")
MASK_SUFFIXES = (".nii.gz", ".nrrd", ".nii", ".seg.nrrd")
IMAGE_SUFFIXES = (".nii.gz", ".nrrd", ".nii")


@dataclass(frozen=True)
class BatchSettings:
    """What every job of a run shares: outputs, Label Map SEG write options, the label scheme.

    One settings object per run; a :class:`Job` carries only its input, reference and output.
    What is written into each input's folder (``labels`` below stands for the label file name):
    ``LabelMapSEG_NNN.dcm`` (``LABELMAP_SEG``), ``labels.seg.nrrd`` (``SEG_NRRD``),
    ``labels<label_suffix>`` and its tables (``LABEL_FILE``; ``labels_layer2...`` with
    ``split_layers``), ``masks/`` (one mask per label and ``labels.json``, ``split_rois``),
    ``coco.json`` (``COCO_RLE``), ``preview.png`` (``preview``), ``image<image_suffix>``
    (the reference series, ``image_suffix``), and ``result.json`` last.
    """

    seg_options: SegWriteOptions
    formats: tuple[OutputFormat, ...] = (OutputFormat.LABELMAP_SEG,)
    #: Accept reference series with missing slices (grid kept, positions empty).
    allow_missing_slices: bool = False
    #: The label scheme for RT Structure Sets (same labels for every patient).
    scheme: LabelScheme | None = None
    #: File type of ``LABEL_FILE`` (``.seg.nrrd``, ``.nrrd``, ``.nii.gz``).
    label_suffix: str = ".seg.nrrd"
    #: Overlapping labels into one file per layer (``.nrrd``/``.nii.gz`` hold one layer).
    split_layers: bool = False
    #: One binary mask per label in ``masks/``, of type ``mask_suffix``.
    split_rois: bool = False
    mask_suffix: str = ".nii.gz"
    #: A PNG preview per RT Structure Set (needs matplotlib).
    preview: bool = False
    #: Write the reference series as ``image<image_suffix>`` (``None``: no image).
    image_suffix: str | None = None
    #: gzip level of NRRD outputs.
    compression_level: int = 1
    #: The kinds of input converted (a data set takes RT Structure Sets only).
    inputs: tuple[InputKind, ...] = (InputKind.RTSTRUCT, InputKind.SEG, InputKind.LABEL_FILE)
    #: How ``RTSTRUCT`` outputs are written (hole style, contour shape); ``None``: the defaults.
    contour_options: ContourWriteOptions | None = None
    #: How contours are drawn (``None``: the defaults), e.g. ``skip_bad_contours``.
    raster_options: RasterOptions | None = None

    @property
    def writes_label_map_seg_for_segs(self) -> bool:
        """SEG inputs become Label Map SEG (as always), unless only RT Structure Sets are asked
        (``--format rtstruct`` without ``labelmap-seg``)."""
        return OutputFormat.LABELMAP_SEG in self.formats or OutputFormat.RTSTRUCT not in self.formats

    def __post_init__(self) -> None:
        for value, allowed, what in (
            (self.label_suffix, LABEL_SUFFIXES, "label file"),
            (self.mask_suffix, MASK_SUFFIXES, "mask"),
            (self.image_suffix or IMAGE_SUFFIXES[0], IMAGE_SUFFIXES, "image"),
        ):
            if value not in allowed:
                raise DicomLabelMapError(f"batch {what} type '{value}': use one of {', '.join(allowed)}")

    def select(self, jobs: Sequence[_Item], not_converted: dict[str, int]) -> list[_Item]:
        """The jobs of the kinds this run converts; the others are counted in ``not_converted``."""
        for kind in InputKind:
            left = sum(job.kind is kind for job in jobs) if kind not in self.inputs else 0
            if left:
                not_converted[f"{kind.value} inputs (not converted in this run)"] = left
        return [job for job in jobs if job.kind in self.inputs]

    def label_file_suffixes(self) -> list[str]:
        """The label files each RT Structure Set gets (``labels<suffix>``), each once."""
        suffixes = [".seg.nrrd"] if OutputFormat.SEG_NRRD in self.formats else []
        if OutputFormat.LABEL_FILE in self.formats and self.label_suffix not in suffixes:
            suffixes.append(self.label_suffix)
        return suffixes

    def scheme_key(self, kind: InputKind) -> Any:
        """What identifies the scheme an input of ``kind`` is converted with (a changed scheme
        makes a re-run convert again; SEGs take no scheme)."""
        if self.scheme is None or kind is not InputKind.RTSTRUCT:
            return None
        return json.loads(json.dumps(self.scheme.to_dict() | {"labels": [asdict(label) for label in self.scheme.labels]}))

    def raster_key(self, kind: InputKind) -> Any:
        """What identifies the raster options an input of ``kind`` is converted with (``None``
        for the defaults, so results written before the options existed still count)."""
        if self.raster_options is None or kind is not InputKind.RTSTRUCT:
            return None
        from ..rtstruct.rasterize import RasterOptions

        changed = {key: value for key, value in asdict(self.raster_options).items() if value != getattr(RasterOptions(), key)}
        return changed or None

    def outputs_key(self) -> dict[str, Any]:
        """What identifies the outputs asked for: a re-run asking for other outputs (an image,
        masks, another file type) converts again instead of skipping the input."""
        return {
            "formats": sorted(f.value for f in self.formats),
            "label_files": self.label_file_suffixes(),
            "split_layers": self.split_layers,
            "masks": self.mask_suffix if self.split_rois else None,
            "preview": self.preview,
            "image": self.image_suffix,
            **({"rtstruct": self._contour_key()} if OutputFormat.RTSTRUCT in self.formats else {}),
        }

    def _contour_key(self) -> list[str]:
        options = self.contour_options
        return [options.holes.value, options.shape.value] if options is not None else ["keyhole", "midpoint"]

    def same_run(self, earlier: dict[str, Any], kind: InputKind) -> bool:
        """Whether an earlier run's ``result.json`` was made with these settings (then the input
        is skipped)."""
        return bool(
            earlier.get("scheme") == self.scheme_key(kind)
            and earlier.get("raster_options") == self.raster_key(kind)
            and earlier.get("settings") == self.outputs_key()
        )

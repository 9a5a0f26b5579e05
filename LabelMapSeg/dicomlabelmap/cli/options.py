"""Options several subcommands share, declared once, and their conversion into the core's typed
options (:class:`~dicomlabelmap.seg.writer.SegWriteOptions`, the label scheme)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..dicom.codecs import TransferSyntax

if TYPE_CHECKING:
    from ..model.scheme import LabelScheme
    from ..seg.writer import SegWriteOptions


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default once: not when its help already says it, and not when there is
    nothing to show (a flag, an option without a default value)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "(default" in text or action.default in (None, False, argparse.SUPPRESS) or action.default == []:
            return text
        return super()._get_help_string(action)


def subcommand(commands: Any, name: str, **options: Any) -> argparse.ArgumentParser:
    """A subcommand whose help shows every option's default (once)."""
    options.setdefault("description", options.get("help"))
    return commands.add_parser(name, formatter_class=HelpFormatter, **options)  # type: ignore[no-any-return]


def add_reference_option(parser: argparse.ArgumentParser, required: bool = False, default_note: str = "") -> None:
    """``-r/--reference``: one path per option, repeatable, so it never swallows the input."""
    parser.add_argument(
        "-r",
        "--reference",
        type=Path,
        action="append",
        required=required,
        metavar="PATH",
        help="folder or file holding the reference image series (repeat the option for several)"
        + (f"; {default_note}" if default_note else ""),
    )


def add_missing_slices_option(parser: argparse.ArgumentParser, what: str = "a reference series") -> None:
    parser.add_argument(
        "--allow-missing-slices",
        action="store_true",
        help=f"accept {what} with missing slices: keep its regular grid, leave those positions without an image (reported)",
    )


def add_compression_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--compression-level",
        type=int,
        choices=range(10),
        default=1,
        metavar="0-9",
        help="gzip level of .seg.nrrd/.nrrd output: 1 is fast (as Slicer writes), 9 smallest, 0 uncompressed",
    )


def add_seg_options(parser: argparse.ArgumentParser, what: str = "", overwrite: bool = True) -> None:
    """How Label Map SEGs are written (``encode``, ``convert``, ``rtstruct``, ``batch``), and
    ``--overwrite`` unless the subcommand declares its own."""
    parser.add_argument(
        "-t",
        "--transfer-syntax",
        choices=[syntax.value for syntax in TransferSyntax.writable_syntaxes()],
        default="rle",
        help=f"{what}pixel encoding (default rle: read by Slicer/dcmqi, highdicom and OHIF)",
    )
    parser.add_argument(
        "--omit-empty-frames", action="store_true", help=f"{what}leave out frames without labels (readers must then fill them)"
    )
    parser.add_argument(
        "--palette-color",
        action="store_true",
        help=f"{what}PALETTE COLOR with a colour table and sRGB ICC profile instead of MONOCHROME2 + CIELab",
    )
    parser.add_argument("--series-description", help=f"{what}Series Description of the new series (default: 'Label map segmentation')")
    parser.add_argument(
        "--new-frame-of-reference",
        action="store_true",
        help=f"{what}when the reference series has no (valid) Frame of Reference UID, write a newly generated one (a warning "
        "names it; viewers will not match it with the series) instead of refusing",
    )
    if overwrite:
        parser.add_argument("--overwrite", action="store_true", help="replace existing output files")


def add_scheme_options(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument(
        "--roi-map",
        type=Path,
        required=required,
        metavar="SCHEME.json",
        help="label scheme: fixed label values, names, colours and codes by ROI name (aliases, patterns), overlap policy, "
        "what to do with unmatched ROIs",
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="NAME_OR_PATTERN",
        help="convert only ROIs whose name (or scheme label) equals this ignoring case, spaces, _ and -, matches it as a "
        "shell-style glob ignoring case (lung*), or fully matches it as a regular expression (repeatable)",
    )
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="NAME_OR_PATTERN", help="leave out ROIs matched the same way (repeatable)"
    )


def scheme(arguments: argparse.Namespace) -> LabelScheme | None:
    """The label scheme of ``--roi-map``/``--include``/``--exclude`` (``None`` without them)."""
    from ..model.scheme import build_scheme

    return build_scheme(arguments.roi_map, arguments.include, arguments.exclude)


def seg_options(arguments: argparse.Namespace, metadata: dict[str, Any] | None = None) -> SegWriteOptions:
    """Write options from the command line; ``metadata`` (series header values of a metadata
    file) fills what the command line leaves unset."""
    from ..seg.writer import SegWriteOptions

    check_seg_encoding(arguments)
    header = dict(metadata or {})
    if arguments.series_description is not None:
        header["series_description"] = arguments.series_description
    return SegWriteOptions.from_words(
        arguments.transfer_syntax,
        omit_empty_frames=arguments.omit_empty_frames,
        palette_color=arguments.palette_color,
        new_frame_of_reference=arguments.new_frame_of_reference,
        **header,
    )


def add_image_option(parser: argparse.ArgumentParser) -> None:
    """``--image PATH``: the reference series as an image file beside the label files."""
    parser.add_argument(
        "--image",
        type=Path,
        metavar="PATH",
        help="also write the reference image series (Modality LUT applied: CT in HU) to this .nii.gz, .nii or .nrrd file, on "
        "exactly the label files' grid",
    )


def decode_image(reference: Any) -> Any:
    """The reference series' image (:class:`~dicomlabelmap.dicom.pixels.SeriesImage`), decoded
    before anything is written: a file that cannot be decoded fails the command with nothing
    written."""
    from ..dicom.pixels import read_series_image
    from .common import progress_bar

    with progress_bar() as progress:
        return read_series_image(reference, progress=progress)


def write_image(image: Any, path: Path, overwrite: bool, compression_level: int = 1) -> dict[str, Any]:
    """Write a decoded image to ``path`` (verified); returns what the report says about it.
    Findings (missing slices filled) are printed on stderr."""
    import sys

    from ..files.imagefiles import write_image_file

    written = write_image_file(path, image, overwrite, compression_level)
    for finding in image.findings:
        print(f"  {finding}", file=sys.stderr)
    return {
        "path": str(written),
        "dtype": image.array.dtype.name,
        "filled_slices": image.filled_slices,
        "fill_value": image.fill_value,
    }


def add_contour_options(parser: argparse.ArgumentParser, what: str = "") -> None:
    """How RT Structure Sets are written from label maps (``contours``, ``batch --format rtstruct``)."""
    parser.add_argument(
        "--holes",
        choices=("keyhole", "nested", "xor"),
        default="keyhole",
        help=f"{what}keyhole: one polygon per piece, holes joined by zero-width channels (read exactly by every reader tested); "
        "nested: separate CLOSED_PLANAR hole contours (filled by readers that unite contours, such as plastimatch); "
        "xor: CLOSEDPLANAR_XOR contours (CP 2037; skipped by readers that do not know the type)",
    )
    parser.add_argument(
        "--shape",
        choices=("midpoint", "voxel-edge"),
        default="midpoint",
        help=f"{what}midpoint: through the midpoints between inside and outside voxel centres (smooth diagonals, fewer points); "
        "voxel-edge: along voxel boundaries (staircase, encloses the voxels' exact area)",
    )


def check_seg_encoding(arguments: argparse.Namespace) -> None:
    """Before any work: the codec package ``-t`` needs is installed (JPEG-LS, JPEG 2000)."""
    from ..dicom.codecs import check_encoder

    check_encoder(TransferSyntax.from_word(arguments.transfer_syntax))

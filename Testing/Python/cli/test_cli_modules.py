"""The command line's modules one by one: each subcommand's parser (beside its ``run``) reads a
typical command line into the right values; user words become typed options once
(``seg_options``, ``scheme``, ``batch.settings``, ``raster_options``); output folders created for
a failed command are removed again, and only the empty ones it created; inputs and outputs that
cannot work are refused before any work, with messages that name the option."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicomlabelmap.batch.jobs import BatchSettings, OutputFormat
from dicomlabelmap.cli import batch, common, convert, decode, demo, encode, info, rtstruct, series, validate
from dicomlabelmap.cli.common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    check_input_file,
    output_folder,
    progress_bar,
    remove_created_folders,
    sizes,
)
from dicomlabelmap.cli.main import SUBCOMMANDS, build_parser, main
from dicomlabelmap.cli.options import add_compression_option, add_reference_option, scheme, seg_options, subcommand
from dicomlabelmap.cli.rtstruct import check_label_output, exit_code, raster_options
from dicomlabelmap.dicom.codecs import TransferSyntax
from dicomlabelmap.errors import DicomLabelMapError, InvalidDicomError, OutputError
from dicomlabelmap.files.labelfiles import read_label_file
from dicomlabelmap.model.scheme import LabelScheme, SchemeError, Unmatched
from dicomlabelmap.rtstruct.rasterize import RasterOptions
from dicomlabelmap.seg.writer import SegWriteOptions, write_label_map_segs
from dicomlabelmap.synthetic import write_demo_case


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args([str(a) for a in argv])


@pytest.fixture(autouse=True)
def own_created_folders(monkeypatch):
    """Each test sees only the output folders it created."""
    monkeypatch.setattr(common, "_CREATED_FOLDERS", [])


# -- parsers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, module, expected",
    [
        (
            ["rtstruct", "RS.dcm", "-r", "ct", "-r", "more", "-o", "out.seg.nrrd"]
            + ["--include", "Body", "--slice-tolerance", "0.7", "--no-mark-small"],
            rtstruct,
            {"rtstruct": Path("RS.dcm"), "reference": [Path("ct"), Path("more")], "output": Path("out.seg.nrrd"), "format": "label-file",
             "include": ["Body"], "exclude": [], "slice_tolerance": 0.7, "no_mark_small": True, "transfer_syntax": "rle",
             "compression_level": 1, "mask_suffix": ".nii.gz", "split_rois": False, "overwrite": False, "preview": None},
        ),
        (["series", "a", "b", "--json"], series, {"paths": [Path("a"), Path("b")], "json": True}),
        (
            ["encode", "labels.nii.gz", "-r", "ct", "-o", "out", "-t", "jpegls", "--metadata", "meta.json", "--palette-color"],
            encode,
            {"labels": Path("labels.nii.gz"), "reference": [Path("ct")], "output": Path("out"), "transfer_syntax": "jpegls",
             "metadata": Path("meta.json"), "palette_color": True, "omit_empty_frames": False, "series_description": None},
        ),
        (
            ["decode", "s1.dcm", "s2.dcm", "-o", "l.seg.nrrd"]
            + ["--fractional-threshold", "0.25", "--split-layers", "--compression-level", "9"],
            decode,
            {"seg": [Path("s1.dcm"), Path("s2.dcm")], "reference": None, "output": Path("l.seg.nrrd"), "fractional_threshold": 0.25,
             "split_layers": True, "compression_level": 9, "series_uid": None, "overwrite": False},
        ),
        (
            ["convert", "seg.dcm", "-o", "out", "-t", "deflated-frame", "--omit-empty-frames"],
            convert,
            {"seg": Path("seg.dcm"), "reference": None, "output": Path("out"), "transfer_syntax": "deflated-frame",
             "omit_empty_frames": True, "fractional_threshold": 0.5},
        ),
        (["info", "segs", "--series-uid", "1.2.3"], info, {"seg": [Path("segs")], "series_uid": "1.2.3", "json": False}),
        (["validate", "a.dcm", "b.dcm", "--json"], validate, {"seg": [Path("a.dcm"), Path("b.dcm")], "series_uid": None, "json": True}),
        (["demo", "out", "--json"], demo, {"output_dir": Path("out"), "json": True}),
        (
            ["batch", "in", "out", "--format", "both", "-j", "2", "--palette-color", "--exclude", "Couch"],
            batch,
            {"input_dir": Path("in"), "output_dir": Path("out"), "format": ["both"], "jobs": 2, "scheduler": None,
             "memory_per_task": "4GiB", "overwrite": False, "palette_color": True, "exclude": ["Couch"], "roi_map": None},
        ),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else None,
)  # fmt: skip
def test_each_subcommand_parses_into_its_module(argv, module, expected):
    arguments = parse(*argv)
    assert arguments.command == argv[0]
    assert arguments.handler is module.run
    assert {key: getattr(arguments, key) for key in expected} == expected
    assert arguments.verbose == 0  # -v counts: 1 our steps, 2 every library


def test_subcommands_in_help_order():
    assert [module.__name__.rsplit(".", 1)[1] for module in SUBCOMMANDS] == [
        "rtstruct", "contours", "series", "encode", "decode", "convert", "info", "validate", "demo", "batch", "dataset",
    ]  # fmt: skip
    choices = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert list(choices) == [
        "rtstruct",
        "contours",
        "series",
        "encode",
        "decode",
        "convert",
        "info",
        "validate",
        "demo",
        "batch",
        "dataset",
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["encode", "l.nii.gz", "-o", "out"], "the following arguments are required: -r/--reference"),
        (
            ["convert", "s.dcm", "-o", "o", "-t", "explicit-big-endian"],
            "argument -t/--transfer-syntax: invalid choice: 'explicit-big-endian'",
        ),
        (["decode", "s.dcm", "-o", "l.nrrd", "--compression-level", "10"], "argument --compression-level: invalid choice: 10"),
        (["batch", "in", "out", "--format", "nii"], "argument --format: invalid choice: 'nii'"),
        (["rtstruct", "RS.dcm", "-r", "ct", "-o", "o", "--mask-suffix", ".png"], "argument --mask-suffix: invalid choice: '.png'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_exit_with_code_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse(*argv)
    assert exit_.value.code == EXIT_USAGE
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["rtstruct", "series", "encode", "decode", "convert", "info", "validate", "demo", "batch"])
def test_help_shows_each_default_once_and_never_an_empty_one(command, capsys):
    """argparse's defaults formatter appends "(default: ...)" to every option: again after a help
    text that states the default itself, and "None"/"False" for options without one."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert not re.findall(r"\(default[^)]*\)[^()]{0,3}\(default", text), text
    assert not re.findall(r"\(default: (None|False|\[\])\)", text), text
    expected = {
        "rtstruct": ["(default: half the slice spacing)", "(default: label-file)", "(default: .nii.gz)", "(default rle:"],
        "decode": ["(default 0.5)", "0 uncompressed (default: 1)"],
        "batch": ["(default: labelmap-seg)", "(default: 4GiB)", "(default: skip them)"],
    }
    for shown in expected.get(command, []):
        assert text.count(shown) == 1, (shown, text)


def test_subcommand_helper_shows_defaults_and_repeats_references():
    parser = argparse.ArgumentParser(prog="tool")
    commands = parser.add_subparsers(dest="command")
    sub = subcommand(commands, "thing", help="do the thing")
    add_reference_option(sub, default_note="default: none")
    add_compression_option(sub)
    sub.add_argument("inputs", nargs="+")
    assert sub.description == "do the thing"
    text = " ".join(sub.format_help().split())  # without argparse's line wrapping
    assert "0 uncompressed (default: 1)" in text and "(repeat the option for several); default: none" in text
    arguments = parser.parse_args(["thing", "-r", "ref1", "a", "b", "-r", "ref2"])
    assert arguments.inputs == ["a", "b"] and arguments.reference == [Path("ref1"), Path("ref2")]  # never swallows inputs
    assert subcommand(commands, "other", help="h", description="longer").description == "longer"


# -- typed options ----------------------------------------------------------------------------


def test_seg_options_defaults():
    options = seg_options(parse("encode", "l.nii.gz", "-r", "ct", "-o", "out"))
    assert options == SegWriteOptions()
    assert (options.transfer_syntax, options.omit_empty_frames, options.palette_color) == (TransferSyntax.RLE, False, False)
    assert options.series_description == "Label map segmentation"


@pytest.mark.parametrize("word, syntax", [(s.value, s) for s in TransferSyntax.writable_syntaxes()])
def test_seg_options_every_transfer_syntax(word, syntax):
    arguments = parse("convert", "s.dcm", "-o", "o", "-t", word, "--omit-empty-frames", "--palette-color", "--series-description", "Mine")
    assert seg_options(arguments) == SegWriteOptions(syntax, palette_color=True, omit_empty_frames=True, series_description="Mine")


def test_seg_options_metadata_fills_what_the_command_line_leaves_unset():
    header = {"series_description": "From metadata", "series_number": 42, "content_creator": "Reader^One"}
    unset = seg_options(parse("encode", "l.nii.gz", "-r", "ct", "-o", "out"), header)
    assert (unset.series_description, unset.series_number, unset.content_creator) == ("From metadata", 42, "Reader^One")
    given = seg_options(parse("encode", "l.nii.gz", "-r", "ct", "-o", "out", "--series-description", "Typed"), header)
    assert (given.series_description, given.series_number) == ("Typed", 42)
    assert header["series_description"] == "From metadata"  # the caller's dictionary is not changed


def test_scheme_from_the_command_line(tmp_path):
    assert scheme(parse("batch", "in", "out")) is None
    selection = scheme(parse("batch", "in", "out", "--include", "Body", "--include", "(?i)ring.*", "--exclude", "Markers"))
    assert isinstance(selection, LabelScheme)
    assert (selection.include, selection.exclude, selection.unmatched, selection.labels) == (
        ("Body", "(?i)ring.*"),
        ("Markers",),
        Unmatched.KEEP,
        [],
    )
    assert selection.source == "--include/--exclude"
    scheme_file = tmp_path / "scheme.json"
    scheme_file.write_text(json.dumps({"labels": [{"value": 7, "name": "body"}], "exclude": ["Couch"]}))
    loaded = scheme(parse("batch", "in", "out", "--roi-map", scheme_file, "--exclude", "Table"))
    assert [(label.value, label.name) for label in loaded.labels] == [(7, "body")]
    assert (loaded.exclude, loaded.source) == (("Couch", "Table"), str(scheme_file))
    with pytest.raises(SchemeError, match="an empty include/exclude entry selects nothing; remove it"):
        scheme(parse("batch", "in", "out", "--include", ""))
    with pytest.raises(SchemeError, match=r"missing\.json: no such file"):
        scheme(parse("batch", "in", "out", "--roi-map", tmp_path / "missing.json"))


@pytest.mark.parametrize(
    "words, formats",
    [
        ([], (OutputFormat.LABELMAP_SEG,)),
        (["--format", "seg.nrrd"], (OutputFormat.SEG_NRRD,)),
        (["--format", "both"], (OutputFormat.LABELMAP_SEG, OutputFormat.SEG_NRRD)),
    ],
)
def test_batch_settings(words, formats):
    found = batch.settings(parse("batch", "in", "out", *words))
    assert found == BatchSettings(SegWriteOptions(), formats, False, None)


def test_batch_settings_carry_seg_options_missing_slices_and_scheme():
    arguments = parse("batch", "in", "out", "-t", "jpeg2000", "--omit-empty-frames", "--allow-missing-slices", "--include", "Body")
    found = batch.settings(arguments)
    assert found.seg_options == SegWriteOptions(TransferSyntax.JPEG_2000, omit_empty_frames=True)
    assert found.allow_missing_slices is True and found.scheme.include == ("Body",)
    assert found.raster_options is None  # the defaults
    assert batch.settings(parse("batch", "in", "out", "--skip-bad-contours")).raster_options == RasterOptions(skip_bad_contours=True)


@pytest.mark.parametrize(
    "words, match",
    [
        (
            ["--scheduler", "local:2", "-j", "3"],
            "-j/--jobs sets local worker processes; with --scheduler give local:N or size the cluster itself",
        ),
        (["-j", "0"], "-j 0: at least one worker process is needed"),
    ],
)
def test_batch_refuses_impossible_worker_counts_before_work(tmp_path, words, match):
    with pytest.raises(DicomLabelMapError, match=match):
        batch.run(parse("batch", tmp_path, tmp_path / "out", *words))
    assert list(tmp_path.iterdir()) == []


def test_raster_options():
    assert raster_options(parse("rtstruct", "RS.dcm", "-r", "ct", "-o", "o.nrrd")) == RasterOptions()
    found = raster_options(
        parse(
            "rtstruct", "RS.dcm", "-r", "ct", "-o", "o.nrrd", "--slice-tolerance", "0.7", "--planarity-tolerance", "0.2", "--no-mark-small"
        )
    )
    assert (found.slice_tolerance_mm, found.planarity_tolerance_mm, found.mark_unfilled_contours) == (0.7, 0.2, False)
    assert raster_options(parse("rtstruct", "RS.dcm", "-r", "ct", "-o", "o.nrrd", "--skip-bad-contours")).skip_bad_contours is True


# -- common -----------------------------------------------------------------------------------


def test_exit_codes():
    assert (EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED) == (0, 1, 2, 3, 130)


def test_output_folder_and_removing_what_stayed_empty(tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    written_into = output_folder(existing / "a" / "b")
    assert written_into == existing / "a" / "b" and written_into.is_dir()
    (existing / "a" / "result.txt").write_text("kept")  # something written into a, nothing into b
    output_folder(tmp_path / "empty" / "nested")
    assert output_folder(existing) == existing  # already there: not registered
    remove_created_folders()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["existing", "existing/a", "existing/a/result.txt"]
    remove_created_folders()  # the list was emptied: nothing more happens
    assert (existing / "a").is_dir()


def test_output_folder_refuses_files(tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(DicomLabelMapError, match=r"file is a file, not a folder; give a folder$"):
        output_folder(file)
    with pytest.raises(DicomLabelMapError, match=r"file is a file, not a folder, so .*file/sub cannot be created$"):
        output_folder(file / "sub")
    assert common._CREATED_FOLDERS == []


def test_check_input_file(tmp_path):
    with pytest.raises(
        DicomLabelMapError, match=r"is a folder; give the RT Structure Set file \(dicomlabelmap series lists what a folder holds\)"
    ):
        check_input_file(tmp_path, "the RT Structure Set file")
    with pytest.raises(DicomLabelMapError, match=r"RS\.dcm: no such file$"):
        check_input_file(tmp_path / "RS.dcm", "the RT Structure Set file")
    (tmp_path / "RS.dcm").write_bytes(b"")
    assert check_input_file(tmp_path / "RS.dcm", "the RT Structure Set file") is None


def test_sizes(tmp_path):
    small, large = tmp_path / "a.dcm", tmp_path / "b.dcm"
    small.write_bytes(b"x" * 12)
    large.write_bytes(b"x" * 1234567)
    assert sizes([small, large]) == f"{small} (12 bytes), {large} (1,234,567 bytes)"


def test_progress_bar(capsys, monkeypatch):
    with progress_bar(enabled=False) as progress:
        assert callable(progress)
        progress(0.5, "halfway")
    assert capsys.readouterr().err == ""  # disabled: nothing drawn
    monkeypatch.setitem(sys.modules, "tqdm", None)  # tqdm not installed
    with progress_bar() as progress:
        assert progress is None


# -- rtstruct checks before work ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["labels.png", "labels.json", "labels.dcm", "labels"])
def test_check_label_output_refuses_unknown_types(tmp_path, name):
    with pytest.raises(DicomLabelMapError, match=r"unknown output type '.*'; use one of \.seg\.nrrd, \.nrrd, \.nii\.gz, \.nii$"):
        check_label_output(tmp_path / name, overwrite=False)


def test_check_label_output_folder_and_existing(tmp_path):
    with pytest.raises(DicomLabelMapError, match=r"is a folder; give a file name ending in \.seg\.nrrd, \.nrrd, \.nii\.gz, \.nii"):
        check_label_output(tmp_path, overwrite=True)
    existing = tmp_path / "labels.NII.GZ"
    existing.write_bytes(b"")
    with pytest.raises(OutputError, match="exists; choose another name or use --overwrite"):
        check_label_output(existing, overwrite=False)
    assert check_label_output(existing, overwrite=True) is None


@pytest.mark.parametrize(
    "words, match",
    [
        (["-o", "masks", "--split-rois", "--format", "both"], "--split-rois writes mask files; it cannot be combined with --format both"),
        (["-o", "x.seg.nrrd", "--format", "labelmap-seg"], r"x\.seg\.nrrd names a file; --format labelmap-seg writes into a folder"),
        (["-o", "masks.json", "--split-rois"], r"masks\.json names a file; --split-rois writes into a folder"),
        (["-o", "coco.txt", "--format", "coco-rle"], r"coco\.txt: COCO masks are a JSON file; give a name ending in \.json"),
        (["-o", "labels.png"], "unknown output type '.png'"),
        (["-o", "x.seg.nrrd", "--preview", "p.jpg"], r"--preview .*p\.jpg: the preview is a PNG image; give a file name ending in \.png"),
        (["-o", "x.seg.nrrd", "--roi-map", "missing.json"], r"missing\.json: no such file"),
    ],
)
def test_rtstruct_refuses_outputs_before_any_work(tmp_path, words, match):
    rs = tmp_path / "RS.dcm"
    rs.write_bytes(b"not even read")
    words = [str(tmp_path / w) if not w.startswith("-") and w not in ("both", "labelmap-seg", "coco-rle") else w for w in words]
    with pytest.raises(DicomLabelMapError, match=match):
        rtstruct.run(parse("rtstruct", rs, "-r", tmp_path, *words))
    assert [p.name for p in tmp_path.iterdir()] == ["RS.dcm"]


def test_rtstruct_exit_code():
    from dicomlabelmap.findings import Finding, Severity

    class Conversion:
        def __init__(self, failed, findings=()):
            self.failed_rois, self.findings = failed, list(findings)

    assert exit_code(Conversion([])) == EXIT_OK
    assert exit_code(Conversion([], [Finding(Severity.WARNING, "a look")])) == EXIT_OK
    assert exit_code(Conversion(["a failed ROI"])) == EXIT_PARTIAL
    assert exit_code(Conversion([], [Finding(Severity.ERROR, "an item left out")])) == EXIT_PARTIAL  # an ERROR stands


def test_exit_for_findings():
    from dicomlabelmap.cli.common import exit_for
    from dicomlabelmap.findings import Finding, Severity

    assert exit_for([]) == EXIT_OK and exit_for([Finding(Severity.WARNING, "w")]) == EXIT_OK
    assert exit_for([Finding(Severity.WARNING, "w"), Finding(Severity.ERROR, "e")]) == EXIT_PARTIAL


# -- runs on the demo case ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_seg(tmp_path_factory):
    """The demo case converted, and its Label Map SEG series."""
    from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels

    root = tmp_path_factory.mktemp("climodules")
    ct, rs = write_demo_case(root / "dicom")
    conversion = rtstruct_to_labels(rs, [ct])
    folder = root / "seg"
    folder.mkdir()
    write_label_map_segs(conversion.label_volumes, conversion.reference, folder)
    return conversion, ct, rs, folder


def test_demo_run(tmp_path, capsys):
    assert demo.run(parse("demo", tmp_path / "demo", "--json")) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["outputs"][0] == str(tmp_path / "demo" / "demo.seg.nrrd")
    assert report["preview"] == str(tmp_path / "demo" / "demo_preview.png")
    assert [row["name"] for row in report["rois"]][:2] == ["Ring (nested)", "Ring (keyhole)"] and report["layers"] == 3
    assert len(read_label_file(tmp_path / "demo" / "demo.seg.nrrd")) == 3


def test_series_run(demo_seg, tmp_path, capsys):
    conversion, ct, _, _ = demo_seg
    assert series.run(parse("series", ct, "--json")) == EXIT_OK
    listing = json.loads(capsys.readouterr().out)
    assert [(s["series_instance_uid"], s["image_count"]) for s in listing["series"]] == [(conversion.reference.series_instance_uid, 12)]
    assert series.run(parse("series", tmp_path)) == EXIT_ERROR
    assert capsys.readouterr().err == f"dicomlabelmap: error: no image series found in {tmp_path} (0 file(s) looked at)\n"


def test_info_run_table(demo_seg, capsys):
    _, _, _, folder = demo_seg
    assert info.run(parse("info", folder)) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{folder / 'LabelMapSEG_001.dcm'}: LABELMAP SEG, ") and lines[0].endswith(
        "rle (1.2.840.10008.1.2.5), 12 frame(s)"
    )
    assert lines[3] == "grid (12, 96, 128) (slices x rows x columns), spacing [1.25, 1.5, 3.0] mm (i, j, k); layers: 3"
    assert lines[4].split()[:5] == ["3", "layer", "1", "Island", "in"] and lines[4].endswith("voxels 6,285")
    assert lines[7].endswith("voxels 94,128") and len(lines) == 10


def test_decode_run(demo_seg, tmp_path, capsys):
    conversion, _, _, folder = demo_seg
    output = tmp_path / "labels.seg.nrrd"
    assert decode.run(parse("decode", folder, "-o", output)) == EXIT_OK
    assert capsys.readouterr().out.startswith(
        f"LABELMAP SEG (3 instance(s)), 6 segment(s) in 3 layer(s), grid (12, 96, 128): wrote {output} ("
    )
    for found, written in zip(read_label_file(output), conversion.label_volumes, strict=True):
        np.testing.assert_array_equal(found.array, written.array)
    with pytest.raises(DicomLabelMapError, match=r"missing\.dcm: no such file or folder"):
        decode.run(parse("decode", tmp_path / "missing.dcm", "-o", tmp_path / "x.seg.nrrd"))


def test_validate_run(demo_seg, tmp_path, capsys):
    _, _, _, folder = demo_seg
    assert validate.run(parse("validate", folder, "--json")) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is True and [Path(f["file"]).name for f in result["files"]] == [f"LabelMapSEG_00{n}.dcm" for n in (1, 2, 3)]
    with pytest.raises(DicomLabelMapError, match=r"Segmentation series 1\.2\.3 not found; found: "):
        validate.run(parse("validate", folder, "--series-uid", "1.2.3"))
    with pytest.raises(DicomLabelMapError, match=rf"no DICOM Segmentation found in {tmp_path}$"):
        validate.run(parse("validate", tmp_path))


def test_encode_run_takes_the_typed_options(demo_seg, tmp_path, capsys):
    conversion, ct, _, folder = demo_seg
    labels = tmp_path / "labels.seg.nrrd"
    decode.run(parse("decode", folder, "-o", labels))
    output = tmp_path / "out" / "seg"
    code = encode.run(parse("encode", labels, "-r", ct, "-o", output, "-t", "deflated-frame", "--series-description", "From the CLI"))
    assert code == EXIT_OK
    assert capsys.readouterr().out.splitlines()[-1].startswith("Wrote and verified 3 Label Map SEG instance(s): ")
    written = pydicom.dcmread(output / "LabelMapSEG_001.dcm", stop_before_pixels=True)
    assert (written.SeriesDescription, written.file_meta.TransferSyntaxUID) == ("From the CLI", TransferSyntax.DEFLATED_FRAME.uid)
    with pytest.raises(DicomLabelMapError, match=r"is a folder; give the label file \(\.seg\.nrrd, \.nrrd, \.nii\.gz or \.nii\)"):
        encode.run(parse("encode", tmp_path, "-r", ct, "-o", tmp_path / "other"))
    assert not (tmp_path / "other").exists()


def test_convert_run_registers_its_output_folder(tmp_path):
    """A failed convert leaves its new output folder for main to remove."""
    with pytest.raises(InvalidDicomError, match=r"missing\.dcm: no such file"):
        convert.run(parse("convert", tmp_path / "missing.dcm", "-o", tmp_path / "new" / "out"))
    remove_created_folders()
    assert list(tmp_path.iterdir()) == []

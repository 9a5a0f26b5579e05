"""``dicomlabelmap dataset``: an archive folder to a training data set (nnU-Net v2 raw, or the
Medical Segmentation Decathlon layout MONAI reads), through the batch's conversions.

A subcommand of its own rather than ``batch --layout``: a data set is one product (one
``dataset.json``, one label numbering, one split, cases left out as a whole), while ``batch``
writes one self-contained folder per input. The conversions are the batch's (same workers, Dask,
resume, interrupts, summary) into ``OUT_DIR/dicomlabelmap_conversions/<data set>/``; the data set
folder is then built from them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .batch import add_run_options, raster_options, run_conversions
from .common import EXIT_OK, EXIT_PARTIAL
from .options import add_scheme_options, scheme, subcommand

WORK_FOLDER = "dicomlabelmap_conversions"


def add_parser(commands: Any) -> None:
    parser = subcommand(
        commands,
        "dataset",
        help="build an nnU-Net v2 or Medical Segmentation Decathlon data set from every RT Structure Set under a folder",
        description="Convert every RT Structure Set under IN_DIR with a label scheme (the batch's workers, resumable) and "
        "build OUT_DIR/Dataset<ID>_<NAME> (nnU-Net v2 raw) or OUT_DIR/Task<ID>_<NAME> (Decathlon): images, labels with "
        "consecutive values, dataset.json, label_values.json and a manifest of every case's DICOM source.",
    )
    parser.add_argument("input_dir", type=Path, help="folder searched recursively (RT Structure Sets and their image series)")
    parser.add_argument("output_dir", type=Path, help="where the data set folder is written (nnU-Net: your nnUNet_raw)")
    parser.add_argument("--layout", choices=["nnunet", "msd"], default="nnunet", help="nnunet: nnU-Net v2 raw; msd: Decathlon (MONAI)")
    parser.add_argument("--id", type=int, default=1, dest="dataset_id", help="data set number (nnU-Net: 1-999, Decathlon: 1-99)")
    parser.add_argument("--name", default="LabelMapSeg", help="data set name (letters, digits, - and _)")
    parser.add_argument("--description", default="", help="description in dataset.json")
    parser.add_argument(
        "--require", action="append", default=[], metavar="LABEL", help="leave out cases without voxels of this label (repeatable)"
    )
    parser.add_argument("--keep-incomplete", action="store_true", help="keep cases that lack a --require label (listed in the manifest)")
    parser.add_argument(
        "--test-fraction", type=float, default=0.0, metavar="F", help="hold out this fraction of cases in imagesTs/labelsTs"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out draw (the same cases give the same split)")
    parser.add_argument("--work-dir", type=Path, help=f"where the per-input conversions go (default OUT_DIR/{WORK_FOLDER}/<data set>)")
    add_run_options(parser)
    add_scheme_options(parser, required=True)
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    from ..batch.datasets import DatasetLayout, DatasetSpec, dataset_scheme, dataset_settings, required_labels, results_of, write_dataset
    from ..batch.jobs import BatchSettings
    from ..errors import optional_import
    from ..seg.writer import SegWriteOptions

    optional_import("nibabel", "nibabel", "NIfTI data sets")
    chosen = scheme(arguments)
    assert chosen is not None  # --roi-map is required
    consecutive, values = dataset_scheme(chosen)
    spec = DatasetSpec(
        DatasetLayout(arguments.layout),
        arguments.dataset_id,
        arguments.name,
        required_labels(arguments.require, values, chosen.source),
        arguments.keep_incomplete,
        arguments.test_fraction,
        arguments.seed,
        arguments.description,
    )
    settings = dataset_settings(
        BatchSettings(SegWriteOptions(), allow_missing_slices=arguments.allow_missing_slices, raster_options=raster_options(arguments)),
        consecutive,
    )
    work = arguments.work_dir or arguments.output_dir / WORK_FOLDER / spec.folder_name
    summary = run_conversions(arguments, settings, work)
    report = write_dataset(results_of(summary.results), spec, values, arguments.output_dir, chosen.source, arguments.overwrite)
    if arguments.json:
        manifest = json.loads((report.folder / "manifest.json").read_text(encoding="utf-8"))
        print(json.dumps({"dataset": str(report.folder), "conversions": str(work), **manifest}, indent=1))
    else:
        print(summary.table())
        print()
        print(report.table())
    return EXIT_PARTIAL if report.failed else EXIT_OK

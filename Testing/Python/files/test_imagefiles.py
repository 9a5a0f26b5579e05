"""The image beside the label files (``--image``, issue 21): written on exactly the label files'
lattice (nibabel, pynrrd and SimpleITK when installed give both the same affine), the voxels equal
to pydicom's rescaled pixel arrays, verified after writing, and bad requests refused before any
work with nothing written."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from conftest import shared_file
from dicomlabelmap.cli.main import main
from dicomlabelmap.dicom.pixels import SeriesImage, read_series_image
from dicomlabelmap.dicom.scan import read_reference_series
from dicomlabelmap.errors import OutputError
from dicomlabelmap.files.imagefiles import nifti_affine, write_image_file
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, make_rtstruct
from pydicom.pixels import apply_modality_lut
from rotations import rotation
from test_pixels import random_pixels, write_series

SHAPE = (6, 20, 24)


def oblique_case(folder, slope=1, intercept=-1024):
    """An oblique series with slices stacked against the patient axis, and a box ROI."""
    direction = rotation((0.3, 1, 0.2), 25) @ np.diag([1.0, -1.0, -1.0])
    geometry = ImageGeometry(SHAPE, [4.0, 7.0, 60.0], [0.8, 1.1, 2.5], direction, pydicom.uid.generate_uid())
    images = write_series(folder / "ct", geometry, RescaleSlope=slope, RescaleIntercept=intercept)
    box = [(4.5, 3.5), (15.5, 3.5), (15.5, 12.5), (4.5, 12.5)]
    structure = make_rtstruct(images, geometry, [SyntheticRoi("box", [SyntheticContour(k, box) for k in range(1, 4)])])
    structure.save_as(folder / "RS.dcm", enforce_file_format=True)
    expected = np.zeros(SHAPE, dtype=np.uint8)
    expected[1:4, 4:13, 5:16] = 1
    return folder / "ct", folder / "RS.dcm", expected


def load_nifti(path):
    nib = pytest.importorskip("nibabel", reason="nibabel is not installed")
    image = nib.load(path)
    return np.asarray(image.dataobj).transpose(2, 1, 0), image.affine, image.header


@pytest.mark.parametrize(("slope", "intercept", "dtype"), [(1, -1024, np.int16), (0.25, -1000.5, np.float32)])
def test_nifti_image_and_labels_share_the_affine(tmp_path, slope, intercept, dtype):
    ct, rs, expected = oblique_case(tmp_path, slope, intercept)
    labels, image_path = tmp_path / "labels.nii.gz", tmp_path / "image.nii.gz"
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(labels), "--image", str(image_path)]) == 0
    label_array, label_affine, label_header = load_nifti(labels)
    image_array, image_affine, image_header = load_nifti(image_path)
    np.testing.assert_array_equal(label_array, expected)
    assert np.array_equal(image_affine, label_affine)  # identical, not merely close
    assert np.array_equal(image_header.get_qform(), label_header.get_qform()) and image_header["sform_code"] == 1
    reference = read_reference_series(ct)
    np.testing.assert_allclose(image_affine, nifti_affine(reference.geometry), atol=1e-5)
    assert image_array.dtype == dtype
    stored = random_pixels(shape=SHAPE).astype(np.float64)
    np.testing.assert_array_equal(image_array, (stored * slope + intercept).astype(dtype))


def test_nrrd_image_and_labels_share_space_directions(tmp_path):
    nrrd = pytest.importorskip("nrrd", reason="pynrrd is not installed")
    ct, rs, expected = oblique_case(tmp_path)
    labels, image_path = tmp_path / "labels.nrrd", tmp_path / "image.nrrd"
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(labels), "--image", str(image_path), "--json"]) == 0
    label_data, label_header = nrrd.read(str(labels), index_order="C")
    image_data, image_header = nrrd.read(str(image_path), index_order="C")
    np.testing.assert_array_equal(label_data, expected)
    for key in ("space", "space directions", "space origin", "sizes"):
        assert (
            np.array_equal(np.asarray(image_header[key]), np.asarray(label_header[key]))
            if key != "space"
            else image_header[key] == label_header[key]
        )
    reference = read_reference_series(ct)
    np.testing.assert_allclose(np.asarray(image_header["space directions"]).T, reference.geometry.ijk_to_lps[:3, :3], atol=1e-6)
    assert image_data.dtype == np.int16
    np.testing.assert_array_equal(image_data, random_pixels(shape=SHAPE) - 1024)


def test_simpleitk_gives_image_and_labels_the_same_geometry(tmp_path):
    sitk = pytest.importorskip("SimpleITK", reason="SimpleITK is not installed")
    ct, rs, _ = oblique_case(tmp_path)
    for suffix in (".nii.gz", ".nrrd"):
        (tmp_path / suffix).mkdir()
        labels, image_path = tmp_path / suffix / f"labels{suffix}", tmp_path / suffix / f"image{suffix}"
        assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(labels), "--image", str(image_path)]) == 0
        a, b = sitk.ReadImage(str(labels)), sitk.ReadImage(str(image_path))
        assert a.GetOrigin() == b.GetOrigin() and a.GetSpacing() == b.GetSpacing() and a.GetDirection() == b.GetDirection()


def test_decode_writes_the_image_of_its_reference(tmp_path):
    nib = pytest.importorskip("nibabel", reason="nibabel is not installed")
    ct, rs, expected = oblique_case(tmp_path)
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "seg"), "--format", "labelmap-seg"]) == 0
    (seg,) = sorted((tmp_path / "seg").glob("*.dcm"))
    out, image_path = tmp_path / "decoded.nii.gz", tmp_path / "ct.nii.gz"
    assert main(["decode", str(seg), "-r", str(ct), "-o", str(out), "--image", str(image_path)]) == 0
    assert np.array_equal(nib.load(out).affine, nib.load(image_path).affine)
    np.testing.assert_array_equal(np.asarray(nib.load(image_path).dataobj).transpose(2, 1, 0), random_pixels(shape=SHAPE) - 1024)
    assert main(["decode", str(seg), "-o", str(tmp_path / "x.nii.gz"), "--image", str(tmp_path / "y.nii.gz")]) == 1
    assert not (tmp_path / "x.nii.gz").exists() and not (tmp_path / "y.nii.gz").exists()


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("image.png", "unknown image type '.png'; use one of .nii.gz, .nii, .nrrd"),
        ("folder", "is a folder; give a file name"),
        ("exists.nii.gz", "exists; choose another name or use --overwrite"),
    ],
)
def test_bad_image_outputs_are_refused_before_any_work(tmp_path, capsys, image, message):
    ct, rs, _ = oblique_case(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "exists.nii.gz").write_bytes(b"old")
    code = main(["rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "labels.nrrd"), "--image", str(tmp_path / image)])
    assert code == 1 and message in capsys.readouterr().err
    assert not (tmp_path / "labels.nrrd").exists() and (tmp_path / "exists.nii.gz").read_bytes() == b"old"


def test_an_undecodable_series_writes_nothing(tmp_path, capsys):
    ct, rs, _ = oblique_case(tmp_path)
    path = sorted(ct.iterdir())[1]
    dataset = pydicom.dcmread(path)
    dataset.PixelData = dataset.PixelData[:100]  # cut short
    dataset.save_as(path, enforce_file_format=True)
    code = main(["rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "labels.nrrd"), "--image", str(tmp_path / "ct.nrrd")])
    error = capsys.readouterr().err
    assert code == 1 and path.name in error and "pixel data" in error and "Traceback" not in error
    assert not (tmp_path / "labels.nrrd").exists() and not (tmp_path / "ct.nrrd").exists()


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_a_file_that_reads_back_differently_is_not_published(tmp_path, monkeypatch, suffix):
    geometry = ImageGeometry(SHAPE, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], np.eye(3))
    image = SeriesImage(random_pixels(shape=SHAPE), geometry)
    from dicomlabelmap.files import imagefiles

    if suffix == ".nrrd":
        monkeypatch.setattr(imagefiles, "payload_digest", lambda path: (0, 0))
    else:
        monkeypatch.setattr(imagefiles, "nifti_affine", lambda g: np.diag([-1.0, -1.0, 1.0, 1.0]) @ g.ijk_to_lps + np.eye(4) * 0.01)
    with pytest.raises(OutputError, match="differ|geometry changed"):
        write_image_file(tmp_path / f"ct{suffix}", image)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.realdata
def test_lung1_image_beside_its_labels(tmp_path):
    """LUNG1-001: the CT written beside the label maps equals pydicom's rescaled slices voxel for
    voxel, and nibabel and pynrrd (SimpleITK when installed) give image and labels one geometry."""
    nrrd = pytest.importorskip("nrrd", reason="pynrrd is not installed")
    rs, ct = shared_file("nsclc-lung1-001/rtstruct/RS.dcm"), shared_file("nsclc-lung1-001/ct")
    labels, image_path = tmp_path / "labels.nii.gz", tmp_path / "ct.nii.gz"
    scheme = tmp_path / "scheme.json"
    lungs, gtv = {"value": 1, "name": "lungs", "pattern": "(?i)lung"}, {"value": 2, "name": "gtv", "pattern": "(?i)gtv"}
    scheme.write_text(json.dumps({"labels": [lungs, gtv], "overlap": "priority"}))
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(labels), "--roi-map", str(scheme), "--image", str(image_path)]) == 0
    image_array, image_affine, _ = load_nifti(image_path)
    _, label_affine, _ = load_nifti(labels)
    assert np.array_equal(image_affine, label_affine)
    reference = read_reference_series(ct)
    assert image_array.dtype == np.int16 and image_array.shape == (134, 512, 512)
    for k, source in enumerate(reference.slices):
        dataset = pydicom.dcmread(source.path)
        np.testing.assert_array_equal(image_array[k], apply_modality_lut(dataset.pixel_array, dataset))
    (tmp_path / "nrrd").mkdir()
    assert (
        main(
            [
                "rtstruct",
                str(rs),
                "-r",
                str(ct),
                "-o",
                str(tmp_path / "nrrd" / "labels.nrrd"),
                "--roi-map",
                str(scheme),
                "--image",
                str(tmp_path / "nrrd" / "ct.nrrd"),
            ]
        )
        == 0
    )
    a, b = nrrd.read_header(str(tmp_path / "nrrd" / "labels.nrrd")), nrrd.read_header(str(tmp_path / "nrrd" / "ct.nrrd"))
    assert np.array_equal(a["space directions"], b["space directions"]) and np.array_equal(a["space origin"], b["space origin"])
    image = read_series_image(reference)
    np.testing.assert_array_equal(image.array, image_array)
    try:
        import SimpleITK as sitk
    except ImportError:  # checked where it is installed (the suite's environment has no SimpleITK)
        return
    for first, second in ((labels, image_path), (tmp_path / "nrrd" / "labels.nrrd", tmp_path / "nrrd" / "ct.nrrd")):
        a, b = sitk.ReadImage(str(first)), sitk.ReadImage(str(second))
        assert a.GetOrigin() == b.GetOrigin() and a.GetSpacing() == b.GetSpacing() and a.GetDirection() == b.GetDirection()

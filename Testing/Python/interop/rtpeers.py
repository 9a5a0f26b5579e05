"""The RT Structure Set peers, run as their users run them (default arguments), each answering with
masks on the reference grid: plastimatch (``convert --input RS --referenced-ct``, with and without
``--xor-contours``), rt-utils (``RTStructBuilder.create_from(...).get_roi_mask_by_name``),
dcmrtstruct2nii (``dcmrtstruct2nii(rs, ct, out)``), dicompyler-core (each plane's contours through
``dvhcalc.get_contour_mask`` and exclusive or, as its DVH calculation combines them); and the
writers plastimatch (``convert --input-ss-img ... --output-dicom``) and rt-utils
(``RTStructBuilder.create_new(...).add_roi(...).save``).

dcmrtstruct2nii 5 and dicompyler-core 0.5.6 need pydicom 2, so they run in a virtual environment of
their own, created once with ``python3 -m venv`` + pip from PyPI and cached under
``~/.cache/labelmapseg-peers`` (``LABELMAPSEG_PEERS`` moves it). rt-utils works with pydicom 3: it
runs in this interpreter's environment when installed there (the ``test`` extra), else in a cached
environment of its own. A peer that cannot be installed (no network) skips its tests with the reason.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import find_tool
from dicomlabelmap.dicom.images import ReferenceSeries
from dicomlabelmap.model.geometry import ImageGeometry
from dicomlabelmap.model.labels import LabelVolume
from dicomlabelmap.model.segment import Segment

CACHE = Path(os.environ.get("LABELMAPSEG_PEERS", Path.home() / ".cache" / "labelmapseg-peers"))
#: Virtual environments of the peers: name -> requirements.
ENVIRONMENTS = {
    "pydicom2": ["pydicom<3", "dcmrtstruct2nii==5.*", "dicompyler-core==0.5.6"],
    "rtutils": ["pydicom>=3", "rt-utils==1.2.7"],
}


def peer_python(name: str) -> str:
    """The Python of a peer environment, created (once) when missing; skips when it cannot be."""
    if name == "rtutils" and _importable("rt_utils"):
        return sys.executable
    folder = CACHE / name
    python = folder / "bin" / "python"
    ready = folder / ".ready"
    if ready.exists() and python.exists():
        return str(python)
    base = shutil.which("python3") or sys.executable
    try:
        shutil.rmtree(folder, ignore_errors=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([base, "-m", "venv", str(folder)], check=True, capture_output=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *ENVIRONMENTS[name]], check=True, capture_output=True, timeout=1800)
    except (subprocess.SubprocessError, OSError) as error:
        detail = getattr(error, "stderr", b"") or b""
        pytest.skip(f"cannot create the {name} peer environment ({', '.join(ENVIRONMENTS[name])}): {error} {detail[-300:]!r}")
    ready.write_text("\n".join(ENVIRONMENTS[name]) + "\n")
    return str(python)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def plastimatch() -> str:
    tool = find_tool("plastimatch")
    if tool is None:
        pytest.skip("plastimatch not found (pip install plastimatch)")
    return tool


def _run(command: list[str], what: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{what} failed ({done.returncode}): {done.stderr[-2000:]}{done.stdout[-1000:]}")
    return done


# -- readers ----------------------------------------------------------------------------------------------
def _masks_from_npz(path: Path, reference: ReferenceSeries) -> dict[str, np.ndarray]:
    """Masks saved by a peer script: ``names`` (JSON), ``mask<n>`` arrays ``(k, j, i)`` and their
    ``ijk_to_lps<n>`` matrices, put on the reference grid (axes reordered, never resampled)."""
    data = np.load(path)
    names = json.loads(str(data["names"]))
    masks = {}
    for index, name in enumerate(names):
        array = data[f"mask{index}"].astype(np.uint8)
        geometry = ImageGeometry.from_ijk_to_lps(array.shape, data[f"ijk_to_lps{index}"])
        masks[name] = LabelVolume(array, geometry, [Segment(1, name)]).on_grid(reference.geometry).array.astype(bool)
    return masks


RTUTILS_READ = """
import json, sys, numpy as np
from rt_utils import RTStructBuilder
from rt_utils.image_helper import get_pixel_to_patient_transformation_matrix
rt = RTStructBuilder.create_from(dicom_series_path=sys.argv[1], rt_struct_path=sys.argv[2])
matrix = get_pixel_to_patient_transformation_matrix(rt.series_data)  # (column, row, slice) -> LPS
names, arrays = rt.get_roi_names(), {}
for index, name in enumerate(names):
    arrays[f"mask{index}"] = np.transpose(rt.get_roi_mask_by_name(name), (2, 0, 1))
    arrays[f"ijk_to_lps{index}"] = matrix
np.savez_compressed(sys.argv[3], names=json.dumps(names), **arrays)
"""


def read_with_rtutils(rtstruct: Path, ct: Path, reference: ReferenceSeries, scratch: Path) -> dict[str, np.ndarray]:
    out = scratch / "rtutils.npz"
    _run([peer_python("rtutils"), "-c", RTUTILS_READ, str(ct), str(rtstruct), str(out)], "rt-utils")
    return _masks_from_npz(out, reference)


DCMRTSTRUCT2NII_READ = """
import json, sys, numpy as np, SimpleITK as sitk
from dcmrtstruct2nii import dcmrtstruct2nii, list_rt_structs
from dcmrtstruct2nii.adapters.convert.filenameconverter import FilenameConverter
rs, ct, folder, out = sys.argv[1:5]
dcmrtstruct2nii(rs, ct, folder)
names, arrays, found = list_rt_structs(rs), {}, []
for name in names:
    try:
        image = sitk.ReadImage(f"{folder}/{FilenameConverter().convert('mask_' + name)}.nii.gz")
    except RuntimeError:
        continue  # no mask written (no contours, or skipped)
    index = len(found)
    found.append(name)
    matrix = np.eye(4)
    matrix[:3, :3] = np.array(image.GetDirection()).reshape(3, 3) * np.array(image.GetSpacing())
    matrix[:3, 3] = image.GetOrigin()
    arrays[f"mask{index}"] = sitk.GetArrayFromImage(image) > 0
    arrays[f"ijk_to_lps{index}"] = matrix
np.savez_compressed(out, names=json.dumps(found), **arrays)
"""


def read_with_dcmrtstruct2nii(rtstruct: Path, ct: Path, reference: ReferenceSeries, scratch: Path) -> dict[str, np.ndarray]:
    out, folder = scratch / "dcmrtstruct2nii.npz", scratch / "dcmrtstruct2nii"
    _run([peer_python("pydicom2"), "-c", DCMRTSTRUCT2NII_READ, str(rtstruct), str(ct), str(folder), str(out)], "dcmrtstruct2nii")
    return _masks_from_npz(out, reference)


DICOMPYLER_READ = """
import json, sys, numpy as np
from dicompylercore import dicomparser, dvhcalc
rs, grid, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
xs, ys, zs = np.array(grid["x"]), np.array(grid["y"]), np.array(grid["z"])


def contour_mask(contour):
    # dvhcalc.get_contour_mask on the part of the grid the contour's box covers (the rest is
    # outside anyway): the same answer, without testing every pixel of the plane per contour.
    data = np.array(contour)
    columns = np.flatnonzero((xs >= data[:, 0].min() - 1) & (xs <= data[:, 0].max() + 1))
    rows = np.flatnonzero((ys >= data[:, 1].min() - 1) & (ys <= data[:, 1].max() + 1))
    mask = np.zeros((len(ys), len(xs)), dtype=bool)
    if len(columns) and len(rows):
        dd = {"lut": [xs[columns], ys[rows]], "rows": len(rows), "columns": len(columns), "x_lut_index": 0}
        gx, gy = np.meshgrid(xs[columns], ys[rows])
        points = np.vstack((gx.flatten(), gy.flatten())).transpose()
        mask[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1] = dvhcalc.get_contour_mask(dd, None, points, contour)
    return mask


parser = dicomparser.DicomParser(rs)
names, arrays = [], {}
for roi, structure in parser.GetStructures().items():
    mask = np.zeros((len(zs), len(ys), len(xs)), dtype=bool)
    for z, plane in parser.GetStructureCoordinates(roi).items():
        k = int(np.argmin(np.abs(zs - float(z))))
        combined = np.zeros((len(ys), len(xs)), dtype=bool)
        for contour in plane:
            inside = contour_mask([p[0:2] for p in contour["data"]])
            combined = np.logical_xor(inside, combined)
        mask[k] |= combined
    index = len(names)
    names.append(structure["name"])
    arrays[f"mask{index}"] = mask
    arrays[f"ijk_to_lps{index}"] = np.array(grid["ijk_to_lps"])
np.savez_compressed(out, names=json.dumps(names), **arrays)
"""


def read_with_dicompyler(rtstruct: Path, reference: ReferenceSeries, scratch: Path) -> dict[str, np.ndarray]:
    """dicompyler-core's plane masks on the reference grid (axial grids with +x columns and +y
    rows, as dicompyler assumes)."""
    geometry = reference.geometry
    if not np.allclose(geometry.direction, np.eye(3)):
        pytest.skip("dicompyler-core's masks assume an axial grid with columns along +x and rows along +y")
    origin, spacing = geometry.origin, geometry.spacing
    grid = {
        "x": (origin[0] + spacing[0] * np.arange(geometry.shape[2])).tolist(),
        "y": (origin[1] + spacing[1] * np.arange(geometry.shape[1])).tolist(),
        "z": (origin[2] + spacing[2] * np.arange(geometry.shape[0])).tolist(),
        "ijk_to_lps": geometry.ijk_to_lps.tolist(),
    }
    out = scratch / "dicompyler.npz"
    _run([peer_python("pydicom2"), "-c", DICOMPYLER_READ, str(rtstruct), json.dumps(grid), str(out)], "dicompyler-core")
    return _masks_from_npz(out, reference)


def read_with_plastimatch(rtstruct: Path, ct: Path, reference: ReferenceSeries, scratch: Path, xor: bool = False) -> dict[str, np.ndarray]:
    image, names = scratch / "plastimatch_ss.nrrd", scratch / "plastimatch_ss.txt"
    command = [plastimatch(), "convert", "--input", str(rtstruct), "--referenced-ct", str(ct)]
    command += ["--output-ss-img", str(image), "--output-ss-list", str(names)] + (["--xor-contours"] if xor else [])
    _run(command, "plastimatch convert --output-ss-img")
    bits, geometry = read_ss_image(image)
    masks = {}
    for line in names.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip():
            bit, _, name = line.split("|", 2)
            if int(bit) < 0:  # plastimatch lists a structure it drew nothing of with bit -1
                masks[name] = np.zeros(reference.geometry.shape, dtype=bool)
                continue
            plane = (bits >> np.uint64(int(bit))) & np.uint64(1)
            masks[name] = LabelVolume(plane.astype(np.uint8), geometry, [Segment(1, name)]).on_grid(reference.geometry).array.astype(bool)
    return masks


# -- plastimatch's structure set images: one bit per structure, a vector of bytes per voxel --------------
def read_ss_image(path: Path) -> tuple[np.ndarray, ImageGeometry]:
    """A plastimatch structure set image (NRRD, ``kinds: vector domain domain domain``): per voxel
    the bit field of its structures as uint64 ``(k, j, i)``, and its grid."""
    raw = path.read_bytes()
    end = raw.index(b"\n\n")
    fields = dict(
        (key.strip(), value.strip()) for key, _, value in (line.partition(":") for line in raw[:end].decode("latin-1").splitlines()[1:])
    )
    sizes = [int(n) for n in fields["sizes"].split()]
    data = raw[end + 2 :]
    data = gzip.decompress(data) if fields.get("encoding") == "gzip" else data
    values = np.frombuffer(data, dtype=np.uint8 if fields["type"] in ("unsigned char", "uchar") else np.uint32).reshape(sizes[::-1])
    bits = np.zeros(values.shape[:3], dtype=np.uint64)
    if values.ndim == 4:  # a vector of bytes per voxel, first byte = structures 0-7
        for byte in range(values.shape[3]):
            bits |= values[..., byte].astype(np.uint64) << np.uint64(8 * byte)
    else:
        bits = values.astype(np.uint64)
    directions = [[float(v) for v in group.split(",")] for group in re.findall(r"\(([^)]*)\)", fields["space directions"])]
    origin = [float(v) for v in re.findall(r"\(([^)]*)\)", fields["space origin"])[0].split(",")]
    matrix = np.eye(4)
    matrix[:3, :3] = np.array(directions).T
    matrix[:3, 3] = origin
    return bits, ImageGeometry.from_ijk_to_lps(bits.shape, matrix)


def write_ss_image(path: Path, masks: list[np.ndarray], geometry: ImageGeometry) -> None:
    """Masks ``(k, j, i)`` as a plastimatch structure set image (bit ``n`` = structure ``n``)."""
    count = (len(masks) + 7) // 8
    values = np.zeros(geometry.shape + (count,), dtype=np.uint8)
    for index, mask in enumerate(masks):
        values[..., index // 8] |= mask.astype(np.uint8) << np.uint8(index % 8)
    matrix = geometry.ijk_to_lps
    directions = " ".join("(" + ",".join(repr(float(v)) for v in matrix[:3, axis]) + ")" for axis in range(3))
    header = (
        "NRRD0004\ntype: unsigned char\ndimension: 4\nspace: left-posterior-superior\n"
        f"sizes: {count} {geometry.shape[2]} {geometry.shape[1]} {geometry.shape[0]}\n"
        f"space directions: none {directions}\nkinds: vector domain domain domain\nendian: little\nencoding: raw\n"
        f"space origin: ({','.join(repr(float(v)) for v in matrix[:3, 3])})\n\n"
    )
    path.write_bytes(header.encode("ascii") + values.tobytes())


# -- writers ----------------------------------------------------------------------------------------------
def write_with_plastimatch(masks: dict[str, np.ndarray], reference: ReferenceSeries, ct: Path, scratch: Path) -> Path:
    """``plastimatch convert --input-ss-img ss.nrrd --input-ss-list ss.txt --referenced-ct CT
    --output-dicom OUT``: the RT Structure Set it writes."""
    image, names, folder = scratch / "ss_in.nrrd", scratch / "ss_in.txt", scratch / "plastimatch_dicom"
    write_ss_image(image, list(masks.values()), reference.geometry)
    names.write_text("".join(f"{index}|255 0 0|{name}\n" for index, name in enumerate(masks)), encoding="utf-8")
    command = [plastimatch(), "convert", "--input-ss-img", str(image), "--input-ss-list", str(names)]
    _run(command + ["--referenced-ct", str(ct), "--output-dicom", str(folder)], "plastimatch convert --output-dicom")
    (written,) = [p for p in folder.iterdir() if p.name.startswith("rtss")]
    return written


RTUTILS_WRITE = """
import json, sys, numpy as np
from rt_utils import RTStructBuilder
data = np.load(sys.argv[2])
rt = RTStructBuilder.create_new(dicom_series_path=sys.argv[1])
for index, name in enumerate(json.loads(str(data["names"]))):
    rt.add_roi(mask=np.transpose(data[f"mask{index}"], (1, 2, 0)).astype(bool), name=name)
rt.save(sys.argv[3])
"""


def write_with_rtutils(masks: dict[str, np.ndarray], ct: Path, scratch: Path) -> Path:
    """rt-utils' writer with its defaults (masks in rt-utils' (row, column, slice) order, slices by
    position as ours)."""
    data = scratch / "rtutils_masks.npz"
    np.savez_compressed(data, names=json.dumps(list(masks)), **{f"mask{n}": mask for n, mask in enumerate(masks.values())})
    out = scratch / "rtutils_rs.dcm"
    _run([peer_python("rtutils"), "-c", RTUTILS_WRITE, str(ct), str(data), str(out)], "rt-utils writer")
    return out

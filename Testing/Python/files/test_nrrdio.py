"""Our NRRD reader and writer: voxels, the IJK -> LPS matrix and UTF-8 key/value pairs round-trip
(one volume or a list of layers, raw or gzip); pynrrd reads what we write and we read what it
writes; the CRC of ``write_nrrd`` matches ``payload_digest``; damaged or foreign files are refused
with what is wrong, and variants left to pynrrd raise ``UnsupportedNrrd``."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pytest
from dicomlabelmap.errors import DicomLabelMapError
from dicomlabelmap.files.nrrdio import NrrdFormatError, UnsupportedNrrd, payload_digest, read_header, read_nrrd, write_nrrd

MATRIX = np.array([[0.5, 0, 0, -10], [0, 0.75, 0, -12], [0, 0, 2, 30], [0, 0, 0, 1]], dtype=np.float64)
VOLUME = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)  # (k, j, i)


@pytest.mark.parametrize("level", [0, 1, 9])
def test_round_trip_with_unicode_values(tmp_path, level):
    values = {"Segment0_Name": "Leber 肝臓", "Segment0_Tags": "a\\b\nc|d", "ÄÖÜ key": "value"}
    path = tmp_path / "a.nrrd"
    crc, length = write_nrrd(path, [VOLUME], MATRIX, values, compression_level=level)
    assert length == VOLUME.nbytes and (crc, length) == payload_digest(path)
    image = read_nrrd(path)
    assert image.voxels.dtype == np.uint16
    np.testing.assert_array_equal(image.voxels, VOLUME)
    np.testing.assert_array_equal(image.ijk_to_lps, MATRIX)
    assert image.values == values
    header = path.read_bytes().split(b"\n\n", 1)[0].decode("utf-8")
    assert "sizes: 4 3 2" in header and f"encoding: {'raw' if level == 0 else 'gzip'}" in header
    assert "Segment0_Name:=Leber 肝臓" in header and "Segment0_Tags:=a\\\\b\\nc|d" in header  # teem's escapes


def test_layers_become_a_leading_list_axis(tmp_path):
    layers = [VOLUME.astype(np.uint8), (VOLUME + 1).astype(np.uint8)]
    path = tmp_path / "layers.seg.nrrd"
    write_nrrd(path, layers, MATRIX, compression_level=0)
    header = read_header(path)
    assert (header.sizes, header.type) == ([2, 4, 3, 2], "uint8")
    image = read_nrrd(path)
    assert image.voxels.shape == (2, 3, 4, 2)
    np.testing.assert_array_equal(image.voxels[..., 1], layers[1])
    one = tmp_path / "one.seg.nrrd"
    write_nrrd(one, [layers[0]], MATRIX, list_axis=True)  # one layer, still with the list axis (as .seg.nrrd)
    assert read_header(one).sizes == [1, 4, 3, 2] and read_nrrd(one).voxels.shape == (2, 3, 4, 1)


def test_writes_into_an_open_binary_stream():
    stream = io.BytesIO()
    write_nrrd(stream, [VOLUME.astype(np.int16)], MATRIX, compression_level=0)
    data = stream.getvalue()
    assert data.startswith(b"NRRD0004\n") and b"type: int16\n" in data
    assert data.endswith(VOLUME.astype("<i2").tobytes())


def test_pynrrd_reads_what_we_write(tmp_path):
    nrrd = pytest.importorskip("nrrd", reason="pynrrd is not installed")
    path = tmp_path / "a.nrrd"
    write_nrrd(path, [VOLUME], MATRIX, {"Segment0_Name": "Liver"})
    data, header = nrrd.read(str(path), index_order="C")
    np.testing.assert_array_equal(data, VOLUME)
    np.testing.assert_array_equal(header["space directions"], MATRIX[:3, :3].T)
    np.testing.assert_array_equal(header["space origin"], MATRIX[:3, 3])
    assert header["Segment0_Name"] == "Liver"


def test_we_read_what_pynrrd_writes_in_ras(tmp_path):
    nrrd = pytest.importorskip("nrrd", reason="pynrrd is not installed")
    path = tmp_path / "ras.nrrd"
    header = {"space": "right-anterior-superior", "space directions": np.diag([1.0, 2.0, 3.0]), "space origin": [1.0, 2.0, 3.0]}
    nrrd.write(str(path), VOLUME, header, index_order="C")
    image = read_nrrd(path)
    np.testing.assert_array_equal(image.voxels, VOLUME)
    np.testing.assert_array_equal(image.ijk_to_lps, [[-1, 0, 0, -1], [0, -2, 0, -2], [0, 0, 3, 3], [0, 0, 0, 1]])  # RAS -> LPS


def handmade(fields: list[str], payload: bytes) -> bytes:
    return ("\n".join(["NRRD0004", *fields]) + "\n\n").encode("utf-8") + payload


BASE = ["type: uint16", "dimension: 3", "sizes: 4 3 2", "space directions: (1,0,0) (0,1,0) (0,0,1)", "space origin: (0,0,0)"]


def test_big_endian_data_and_latin1_header(tmp_path):
    path = tmp_path / "big.nrrd"
    path.write_bytes(
        handmade([*BASE, "endian: big", "encoding: raw"], VOLUME.astype(">u2").tobytes()).replace(b"\n\n", b"\nName:=Gr\xfcn\n\n", 1)
    )
    image = read_nrrd(path)
    assert image.voxels.dtype == np.dtype("=u2")
    np.testing.assert_array_equal(image.voxels, VOLUME)
    assert image.values == {"Name": "Grün"}  # not UTF-8: read as Latin-1


@pytest.mark.parametrize(
    "content, match",
    [
        (b"P5\n4 3\n255\n", "not a NRRD file"),
        (handmade(["this line has no separator"], b""), "not a valid NRRD header line: 'this line has no separator'"),
        (handmade([*BASE, "encoding: raw"], b"\x00" * 10), "the NRRD holds 10 bytes of data, 48 expected"),
        (handmade([*BASE, "encoding: gzip"], b"not gzip"), "the NRRD's gzip data is damaged"),
        (handmade(["type: float", "dimension: 2", "sizes: 4 3", "encoding: raw"], b"\x00" * 48), "must have 3 dimensions"),
        (handmade(["type: complex", "sizes: 4 3 2", "encoding: raw"], b""), "lacks a valid type or sizes"),
        (handmade([*BASE[:4], "space origin: (a,b,c)", "encoding: raw"], b"\x00" * 48), "space directions or origin are not numbers"),
        (handmade([*BASE, "space: scanner-xyz", "encoding: raw"], b"\x00" * 48), "NRRD space 'scanner-xyz' is not supported"),
    ],
    ids=["pgm", "header-line", "short", "gzip", "2d", "type", "origin", "space"],
)
def test_damaged_or_foreign_files(tmp_path, content, match):
    path = tmp_path / "bad.nrrd"
    path.write_bytes(content)
    with pytest.raises(NrrdFormatError, match=match):
        read_nrrd(path)
    assert issubclass(NrrdFormatError, DicomLabelMapError)


@pytest.mark.parametrize(
    "extra, match",
    [
        (["encoding: raw", "data file: other.raw"], "detached data"),
        (["encoding: raw", "byte skip: 10"], "skips"),
        (["encoding: ascii"], "encoding ascii"),
    ],
)
def test_variants_left_to_pynrrd(tmp_path, extra, match):
    path = tmp_path / "variant.nrrd"
    path.write_bytes(handmade([*BASE, *extra], b"\x00" * 48))
    with pytest.raises(UnsupportedNrrd, match=match):
        read_nrrd(path)


def test_list_axis_elsewhere_is_left_to_pynrrd(tmp_path):
    fields = [
        "type: uint8",
        "dimension: 4",
        "sizes: 4 3 2 2",
        "kinds: domain domain domain list",
        "encoding: raw",
        "space directions: (1,0,0) (0,1,0) (0,0,1) none",
    ]
    path = tmp_path / "last.nrrd"
    path.write_bytes(handmade(fields, b"\x00" * 48))
    with pytest.raises(UnsupportedNrrd, match="the list axis is not the first"):
        read_nrrd(path)


def test_payload_digest_finds_damage(tmp_path):
    path = tmp_path / "a.nrrd"
    write_nrrd(path, [VOLUME], MATRIX)
    complete = path.read_bytes()
    path.write_bytes(complete[:-12])  # gzip trailer and some data cut
    with pytest.raises(NrrdFormatError, match="gzip data ends early"):
        payload_digest(path)
    header, data = complete.split(b"\n\n", 1)
    path.write_bytes(header + b"\n\n" + gzip.compress(VOLUME.tobytes()[:-2]))
    assert payload_digest(path)[1] == VOLUME.nbytes - 2


def test_unsupported_voxel_type_is_refused(tmp_path):
    with pytest.raises(DicomLabelMapError, match="NRRD output of float64 voxels is not supported"):
        write_nrrd(tmp_path / "f.nrrd", [VOLUME.astype(np.float64)], MATRIX)

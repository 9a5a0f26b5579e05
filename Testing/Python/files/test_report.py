"""The text report of an RT Structure Set conversion: terminal widths of wide (CJK, full-width)
and combining characters, columns that stay aligned with such names, left-out ROIs shown without
numbers, and the demo case's report line by line."""

from __future__ import annotations

import json

import pytest
from dicomlabelmap.files.report import display_width, format_conversion, format_table
from dicomlabelmap.model.scheme import build_scheme
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.synthetic import write_demo_case


@pytest.mark.parametrize(
    "text, width",
    [
        ("Body", 4),
        ("", 0),
        ("肝臓", 4),  # East Asian wide
        ("ＢＯＤＹ", 8),  # full-width Latin
        ("ｶﾝｿﾞｳ", 5),  # half-width katakana: one column each
        ("e\u0301", 1),  # e + combining acute accent
        ("Körper 体", 9),
        ("간", 2),  # Hangul syllable
        ("👍", 2),  # emoji: wide
        ("a\u200db", 2),  # zero-width joiner
        ("\u20dd", 0),  # enclosing mark
    ],
)
def test_display_width(text, width):
    assert display_width(text) == width


def row(name, **changes):
    values = {
        "roi_number": 1, "name": name, "segment_number": 1, "layer": 0, "contours": 2, "planes": 2, "nested": 0, "xor": 0,
        "keyhole": 0, "points": 0, "open": 0, "voxels": 1234, "volume_ml": 1.5, "warnings": 0, "converted": True, "status": "kept",
    }  # fmt: skip
    return values | changes


def test_table_columns_stay_aligned_with_wide_names():
    rows = [row("肝臓"), row("Body", roi_number=12, segment_number=2, voxels=5), row("ＢＯＤＹ", converted=False, voxels=0)]
    table = format_table(rows).splitlines()
    header = table[0]
    assert table[1] == "-" * len(header)
    voxels_end = display_width(header[: header.index("Voxels") + len("Voxels")])
    for line, voxels in zip(table[2:], ("1234", "5", "0"), strict=True):
        position = line.index(f" {voxels}  1.50") + 1 + len(voxels)
        assert display_width(line[:position]) == voxels_end, line
    assert table[4].endswith("FAILED") and table[2].endswith("ok")
    assert "Label" not in header  # no scheme named them


def test_left_out_rows_show_no_numbers():
    rows = [row("Body", label="Body"), row("Couch", segment_number=None, layer=None, status="excluded", converted=False, label=None)]
    header, _, kept, left_out = format_table(rows).splitlines()
    assert header.split()[:4] == ["ROI", "Name", "Label", "Seg"]
    assert kept.split() == ["1", "Body", "Body", "1", "0", "2", "2", "0", "0", "0", "0", "0", "1234", "1.50", "0", "ok"]
    assert left_out.split() == ["1", "Couch", "2", "excluded"]  # contours are counted, nothing else


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_case(tmp_path_factory.mktemp("report") / "dicom")


def test_demo_report(demo):
    ct, rtstruct = demo
    conversion = rtstruct_to_labels(rtstruct, [ct])
    lines = format_conversion(conversion).splitlines()
    uid = conversion.reference.series_instance_uid
    assert lines[0] == (
        f"Reference: CT series {uid} ('LabelMapSeg demo CT'), grid 12 x 96 x 128 (slices x rows x columns), "
        "spacing 1.25 x 1.5 x 3 mm (i, j, k)"
    )
    assert lines[1:3] == ["Label layers: 3", ""]
    assert lines[3].split() == "ROI Name Seg Layer Contours Planes Nested XOR Keyhole Points Open Voxels mL Warn Status".split()
    assert (
        lines[5] == "  1  Ring (nested)           1      3         8       4       4    0        0       0     0    3264   18.36     0  ok"
    )
    assert lines[7].endswith("6285   35.35     0  ok") and lines[10].startswith("  6  Body")
    assert lines[11:13] == ["", "Findings:"]
    assert lines[13].startswith("  warning: ROI 4 'Sub-voxel', ContourData: contour 1 (0.48 mm2) encloses no voxel centre")
    assert len(lines) == 14


def test_demo_report_with_a_scheme(demo, tmp_path):
    """A scheme with a wide label name, a label no ROI fills, and ROIs left unmatched."""
    ct, rtstruct = demo
    scheme_file = tmp_path / "scheme.json"
    labels = [{"value": 1, "name": "Körper 体", "aliases": ["Body"]}, {"value": 2, "name": "Kidney"}]
    scheme_file.write_text(json.dumps({"labels": labels, "unmatched": "drop"}), encoding="utf-8")
    conversion = rtstruct_to_labels(rtstruct, [ct], scheme=build_scheme(scheme_file, exclude=["Markers"]))
    lines = format_conversion(conversion).splitlines()
    assert lines[1] == "Label layers: 1"
    header = lines[3]
    body = next(line for line in lines if "Körper 体" in line)
    voxels_end = display_width(header[: header.index("Voxels") + len("Voxels")])
    assert display_width(body[: body.index("94128") + 5]) == voxels_end
    tail = lines[lines.index(f"Label scheme {scheme_file} (overlap: layers, unmatched: drop):") :]
    assert tail[1:5] == [
        "  labels found:   Körper 体",
        "  labels missing: Kidney",
        "  unmatched ROIs: Ring (nested), Ring (keyhole), Island in hole (XOR), Sub-voxel",
        "  excluded ROIs: Markers",
    ]


def test_control_characters_in_a_name_neither_move_columns_nor_break_lines():
    from dicomlabelmap.files.report import display_text

    assert display_text("GTV\tboost\nA") == "GTV\\tboost\\nA" and display_text("肺 Lung") == "肺 Lung"
    table = format_table([row("GTV\tboost\nA"), row("肺")]).splitlines()
    assert len(table) == 4 and "GTV\\tboost\\nA" in table[2]
    assert display_width(table[2]) == display_width(table[3])  # the same values after the name: the same columns

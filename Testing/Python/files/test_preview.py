"""The PNG preview of a conversion: which slices it shows (spread over the contoured range,
favouring slices where more ROIs meet), a PNG of the figure's size, and the usual output rules."""

from __future__ import annotations

import struct
import sys
from dataclasses import replace

import pytest
from dicomlabelmap.errors import MissingDependencyError, OutputError
from dicomlabelmap.files.preview import choose_slices, draw_preview, preview_legend, write_preview
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.synthetic import write_demo_case

pytest.importorskip("matplotlib", reason="matplotlib is not installed")


@pytest.fixture(scope="module")
def conversion(tmp_path_factory):
    ct, rtstruct = write_demo_case(tmp_path_factory.mktemp("preview") / "dicom")
    return rtstruct_to_labels(rtstruct, [ct])


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_choose_slices(conversion):
    """Body covers slices 0-11; the rings (2-5) and the XOR island (4-8) make 4 and 7 busiest."""
    assert choose_slices(conversion) == [2, 4, 7, 9]
    assert choose_slices(conversion, 2) == [4, 7]
    assert choose_slices(conversion, 1) == [4]
    assert choose_slices(conversion, 20) == list(range(12))  # never more than the slices holding contours


def test_choose_slices_without_masks_takes_the_middle(conversion):
    empty = replace(conversion, rois=[replace(raster, mask=None) for raster in conversion.rois])
    assert choose_slices(empty) == [6]


def test_write_preview(conversion, tmp_path):
    target = tmp_path / "preview.png"
    assert write_preview(conversion, target) == target
    assert png_size(target) == (int(4.5 * 4 * 110), int(4.8 * 110))  # four panels at 110 dpi
    two = write_preview(conversion, tmp_path / "two.png", slices=[0, 11])
    assert png_size(two) == (990, 528)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preview.png", "two.png"]
    with pytest.raises(OutputError, match=r"preview\.png exists"):
        write_preview(conversion, target)
    write_preview(conversion, target, slices=[5], overwrite=True)
    assert png_size(target) == (495, 528)


def test_missing_matplotlib_is_named(conversion, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"drawing a preview needs the Python package 'matplotlib'"):
        write_preview(conversion, tmp_path / "p.png")


# -- colours and names: the label scheme, the structure set's colours, distinct colours ---------------
def _case(tmp_path, rois):
    """A small CT and a structure set of ``rois`` (name, colour, box in pixels), one square each on slices 1-3."""
    import numpy as np
    from conftest import axial_geometry
    from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, make_image_series, make_rtstruct, save

    geometry = axial_geometry(shape=(5, 40, 40))
    images = make_image_series(geometry)
    save(images, tmp_path / "ct")
    synthetic = [
        SyntheticRoi(name, [SyntheticContour(k, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)) for k in (1, 2, 3)], color)
        for name, color, (x0, y0, x1, y1) in rois
    ]
    make_rtstruct(images, geometry, synthetic).save_as(tmp_path / "RS.dcm", enforce_file_format=True)
    return tmp_path / "RS.dcm", tmp_path / "ct"


LUNGS = [
    ("GTV-1", (0, 255, 120), (14.5, 14.5, 20.5, 20.5)),
    ("Lung-Left", (64, 64, 255), (24.5, 5.5, 35.5, 30.5)),
    ("Lung-Right", (64, 64, 255), (3.5, 5.5, 13.5, 30.5)),  # LUNG1-001's lungs share one colour
]


def test_two_rois_sharing_a_colour_get_distinct_colours_and_a_note(tmp_path):
    rs, ct = _case(tmp_path, LUNGS)
    conversion = rtstruct_to_labels(rs, [ct])
    legend = preview_legend(conversion)
    assert [(e.name, e.value, e.roi_positions) for e in legend] == [("GTV-1", 1, (0,)), ("Lung-Left", 2, (1,)), ("Lung-Right", 3, (2,))]
    assert [e.color for e in legend[:2]] == [(0, 255, 120), (64, 64, 255)] and [e.note for e in legend[:2]] == ["", ""]
    right = legend[2]
    assert right.own_color == (64, 64, 255) and right.color not in ((64, 64, 255), (0, 255, 120))
    assert right.note == (
        f"'Lung-Right' has the colour (64, 64, 255) of 'Lung-Left'; the preview draws it in {right.color} so that the legend "
        "tells them apart (the label files keep its own colour)"
    )
    assert right.legend_text == "Lung-Right (recoloured)"
    assert preview_legend(conversion) == legend  # the same colours on every run
    # the label files keep the structure set's colour
    assert [s.display_color() for v in conversion.label_volumes for s in v.segments if s.label == "Lung-Right"] == [(64, 64, 255)]


def test_the_figure_draws_the_legend_it_names(tmp_path):
    import matplotlib.colors
    import matplotlib.pyplot as plt

    rs, ct = _case(tmp_path, LUNGS)
    conversion = rtstruct_to_labels(rs, [ct])
    legend = preview_legend(conversion)
    figure = draw_preview(conversion, slices=[2])
    try:
        (drawn,) = figure.legends
        assert [t.get_text() for t in drawn.get_texts()] == ["GTV-1", "Lung-Left", "Lung-Right (recoloured)"]
        colours = [tuple(round(c * 255) for c in matplotlib.colors.to_rgb(h.get_color())) for h in drawn.legend_handles]
        assert colours == [e.color for e in legend]
        # each contour is drawn in its label's colour on the slice shown
        lines = {tuple(round(c * 255) for c in matplotlib.colors.to_rgb(line.get_color())) for line in figure.axes[0].get_lines()}
        assert lines == {e.color for e in legend}
    finally:
        plt.close(figure)


def test_a_scheme_gives_the_names_and_colours_and_unites_rois_on_one_label(tmp_path):
    import json

    from dicomlabelmap.model.scheme import load_scheme

    rs, ct = _case(tmp_path, [*LUNGS, ("GTV-2", (0, 255, 120), (30.5, 32.5, 34.5, 36.5))])
    scheme = tmp_path / "scheme.json"
    scheme.write_text(
        json.dumps(
            {
                "labels": [
                    {"value": 1, "name": "gtv", "pattern": "(?i)^gtv", "color": [230, 20, 20]},
                    {"value": 3, "name": "lung_left", "aliases": ["Lung-Left"], "color": [0, 151, 206]},
                    {"value": 4, "name": "lung_right", "aliases": ["Lung-Right"]},
                ]
            }
        )
    )
    conversion = rtstruct_to_labels(rs, [ct], scheme=load_scheme(scheme))
    legend = preview_legend(conversion)
    assert [(e.name, e.value, e.roi_positions, e.color, e.note) for e in legend] == [
        ("gtv", 1, (0, 3), (230, 20, 20), ""),  # GTV-1 and GTV-2 on one label, the scheme's colour
        ("lung_left", 3, (1,), (0, 151, 206), ""),
        ("lung_right", 4, (2,), (64, 64, 255), ""),  # no colour in the scheme: the structure set's
    ]


def test_an_roi_that_failed_keeps_its_colour_and_is_marked(tmp_path):
    from dicomlabelmap.rtstruct.rasterize import RasterOptions

    rs, ct = _case(tmp_path, LUNGS)
    conversion = rtstruct_to_labels(rs, [ct], options=RasterOptions(planarity_tolerance_mm=-1.0))  # every contour "not planar"
    legend = preview_legend(conversion)
    assert [(e.legend_text, e.value, e.roi_positions) for e in legend] == [
        ("GTV-1 (not converted)", None, (0,)),
        ("Lung-Left (not converted)", None, (1,)),
        ("Lung-Right (not converted)", None, (2,)),
    ]
    assert legend[1].color == (64, 64, 255) and legend[2].color != (64, 64, 255) and "of 'Lung-Left'" in legend[2].note


def test_the_command_line_says_when_the_preview_changed_a_colour(tmp_path, capsys):
    from dicomlabelmap.cli.main import main

    rs, ct = _case(tmp_path, LUNGS)
    assert main(["rtstruct", str(rs), "-r", str(ct), "-o", str(tmp_path / "x.seg.nrrd"), "--preview", str(tmp_path / "p.png")]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "note: preview" in line]
    assert len(notes) == 1 and "'Lung-Right' has the colour (64, 64, 255) of 'Lung-Left'" in notes[0]


@pytest.mark.realdata
def test_lung1_lungs_are_told_apart(tmp_path):
    from conftest import shared_file

    conversion = rtstruct_to_labels(shared_file("nsclc-lung1-001/rtstruct/RS.dcm"), [shared_file("nsclc-lung1-001/ct")])
    legend = {e.name: e for e in preview_legend(conversion)}
    assert legend["Lung-Left"].color == (64, 64, 255) and legend["Lung-Right"].color != (64, 64, 255)
    assert len({e.color for e in legend.values()}) == 4

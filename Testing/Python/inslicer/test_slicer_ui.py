"""The module's .ui (testing layer 5): checked statically against the module code, then loaded
offscreen with PySide6's QUiLoader and stand-in classes for Slicer's custom widgets (CTK and
qMRML widgets are not on PyPI). Proves the file is well-formed, declares every custom class,
has unique names, holds every widget the module uses, and binds every parameter-node field."""

from __future__ import annotations

import ast
import os
import re
import xml.etree.ElementTree as ET

import pytest
from conftest import REPOSITORY

UI = REPOSITORY / "LabelMapSeg" / "Resources" / "UI" / "LabelMapSeg.ui"
MODULE = REPOSITORY / "LabelMapSeg" / "LabelMapSeg.py"
#: The module's Logic and parameter node.
LOGIC = REPOSITORY / "LabelMapSeg" / "LabelMapSegLib" / "logic.py"
#: The export choices: (command-line word, label, tooltip) tables and their enums.
CHOICES = REPOSITORY / "LabelMapSeg" / "LabelMapSegLib" / "choices.py"
#: Combo box -> (table in choices.py, its enum, parameter node field).
CHOICE_COMBOS = {
    "transferSyntaxComboBox": ("TRANSFER_SYNTAX_CHOICES", "TransferSyntaxChoice", "transferSyntax"),
    "photometricComboBox": ("PHOTOMETRIC_CHOICES", "PhotometricChoice", "photometricInterpretation"),
    "overlapComboBox": ("OVERLAP_CHOICES", "OverlapChoice", "overlapHandling"),
    "holeStyleComboBox": ("HOLE_STYLE_CHOICES", "HoleStyleChoice", "holeStyle"),
}


def _tree():
    return ET.parse(UI)


def _widgets():
    return {w.get("name"): w for w in _tree().iter("widget")}


def _used_names():
    """Every ``self.ui.<name>`` the module code touches."""
    return set(re.findall(r"self\.ui\.(\w+)", MODULE.read_text()))


def _translated_literal(node):
    """A literal whose strings may be wrapped in ``_()`` (Slicer's translation call)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_" and len(node.args) == 1:
        return _translated_literal(node.args[0])
    if isinstance(node, ast.Tuple):
        return tuple(_translated_literal(element) for element in node.elts)
    return ast.literal_eval(node)


def _choice_rows(name):
    """(word, label, tooltip) rows of a choice table in choices.py, read without importing Slicer."""
    tree = ast.parse(CHOICES.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return _translated_literal(node.value)
    raise KeyError(name)


def _parameter_annotations():
    tree = ast.parse(LOGIC.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "LabelMapSegParameterNode")
    return {n.target.id: ast.unparse(n.annotation) for n in cls.body if isinstance(n, ast.AnnAssign)}


def _parameter_fields():
    tree = ast.parse(LOGIC.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "LabelMapSegParameterNode")
    return {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)}


def _bound(widget):
    for prop in widget.findall("property"):
        if prop.get("name") == "SlicerParameterName":
            return prop.find("string").text
    return None


def test_ui_is_well_formed_with_unique_names():
    root = _tree().getroot()
    assert root.tag == "ui" and root.find("class").text == "LabelMapSeg"
    names = [w.get("name") for w in root.iter("widget")] + [layout.get("name") for layout in root.iter("layout")]
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]


def test_every_custom_class_is_declared_with_its_header():
    root = _tree().getroot()
    declared = {c.find("class").text: c for c in root.iter("customwidget")}
    used = {w.get("class") for w in root.iter("widget")}
    custom = {c for c in used if not c.startswith("Q")}
    assert custom == set(declared)
    for name, declaration in declared.items():
        assert declaration.find("header").text == f"{name}.h"
        assert declaration.find("extends").text.startswith("Q")


def test_every_widget_the_module_uses_exists():
    assert _used_names() - set(_widgets()) == set()


def test_parameter_node_fields_are_bound_to_widgets():
    bound = {_bound(w): name for name, w in _widgets().items() if _bound(w)}
    assert set(bound) == _parameter_fields()


def test_combo_boxes_show_readable_labels_for_the_command_line_words():
    """Each export combo box lists its choices' labels (what Slicer's enum connector shows), in
    the order of the table that maps each label to the command line's word; the parameter node
    field is that enum (stored by member name = the word); every choice has a tooltip."""
    widgets = _widgets()
    annotations = _parameter_annotations()
    for combo, (table, enum_name, field) in CHOICE_COMBOS.items():
        rows = _choice_rows(table)
        items = [item.find("property/string").text for item in widgets[combo].findall("item")]
        assert items == [label for _word, label, _tooltip in rows], combo
        assert _bound(widgets[combo]) == field and annotations[field] == enum_name
        for word, label, tooltip in rows:
            assert label != word and " " in label and len(label) <= 70, label  # readable, fits the panel
            assert len(tooltip) > len(label), word
    from dicomlabelmap.dicom.codecs import TransferSyntax

    words = [word for word, _label, _tooltip in _choice_rows("TRANSFER_SYNTAX_CHOICES")]
    assert words[0] == "rle" and {TransferSyntax(w) for w in words} == set(TransferSyntax.writable_syntaxes())
    assert [w for w, _l, _t in _choice_rows("PHOTOMETRIC_CHOICES")] == ["MONOCHROME2", "PALETTE COLOR"]
    assert [w for w, _l, _t in _choice_rows("OVERLAP_CHOICES")] == ["layers", "single"]
    assert [w for w, _l, _t in _choice_rows("HOLE_STYLE_CHOICES")] == ["keyhole", "nested", "xor"]


def test_labels_state_what_the_reader_matrix_measured():
    """The transfer syntax labels agree with README's reader matrix: a syntax is called read by
    Slicer's dcmqi and OHIF exactly when the matrix says "yes" in both columns."""
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Which reader opens which file")
    section = readme[start : readme.index("\n## ", start + 1)]  # the Label Map SEG matrix (not the RT Structure Set one)
    matrix = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        found = re.fullmatch(r"`([a-z0-9-]+)`( \(default\))?", cells[0]) if len(cells) == 7 else None
        if found:
            size = float(cells[6].removesuffix(" MB"))
            matrix[found.group(1)] = {"highdicom": cells[1], "dcmqi": cells[2], "ohif": cells[4], "size": size}
    rows = {word: label for word, label, _tooltip in _choice_rows("TRANSFER_SYNTAX_CHOICES")}
    assert set(matrix) == set(rows)
    for word, label in rows.items():
        readers = matrix[word]
        everyone = readers["dcmqi"] == readers["ohif"] == readers["highdicom"] == "yes"
        nobody = readers["dcmqi"] == readers["ohif"] == readers["highdicom"] == "no"
        refused = "not read by Slicer's dcmqi or OHIF" in label or "only LabelMapSeg" in label
        assert refused == (readers["dcmqi"] == readers["ohif"] == "no"), word
        assert ("only LabelMapSeg" in label) == nobody, word
        assert ("read by Slicer, OHIF, highdicom" in label or "all read" in label or "every reader" in label) == everyone, word
    # ... and the sizes in the same table (61 labels, 512x512x224)
    sizes = {word: readers["size"] for word, readers in matrix.items()}
    read_by_all = [w for w, r in matrix.items() if r["dcmqi"] == r["ohif"] == r["highdicom"] == "yes"]
    assert "smallest" in rows[min(read_by_all, key=sizes.__getitem__)]
    assert "largest" in rows[max(sizes, key=sizes.__getitem__)]
    assert all(sizes[w] > sizes["rle"] for w, label in rows.items() if "larger than RLE" in label)


def test_scene_reaches_every_node_selector():
    root = _tree().getroot()
    selectors = {name for name, w in _widgets().items() if w.get("class") == "qMRMLNodeComboBox"}
    receivers = {
        c.find("receiver").text
        for c in root.iter("connection")
        if c.find("signal").text == "mrmlSceneChanged(vtkMRMLScene*)" and c.find("slot").text == "setMRMLScene(vtkMRMLScene*)"
    }
    assert selectors == receivers


def test_ui_loads_offscreen_with_pyside6():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    QtWidgets = pytest.importorskip("PySide6.QtWidgets", reason="PySide6 is not installed")
    from PySide6.QtCore import QFile, QIODevice, Signal
    from PySide6.QtUiTools import QUiLoader

    class qMRMLWidget(QtWidgets.QWidget):  # noqa: N801 - Slicer's class names
        mrmlSceneChanged = Signal(object)

    class ctkCollapsibleButton(QtWidgets.QWidget):  # noqa: N801
        pass

    class ctkPathLineEdit(QtWidgets.QWidget):  # noqa: N801
        pass

    class qMRMLNodeComboBox(QtWidgets.QWidget):  # noqa: N801
        def setMRMLScene(self, scene):  # noqa: N802
            self.scene = scene

    application = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    loader = QUiLoader()
    for cls in (qMRMLWidget, ctkCollapsibleButton, ctkPathLineEdit, qMRMLNodeComboBox):
        loader.registerCustomWidget(cls)
    file = QFile(str(UI))
    assert file.open(QIODevice.ReadOnly)
    widget = loader.load(file)
    file.close()
    assert widget is not None, loader.errorString()
    assert type(widget).__name__ == "qMRMLWidget"
    found = {child.objectName(): child for child in widget.findChildren(QtWidgets.QWidget)}
    assert _used_names() <= set(found)
    for combo, (table, _enum, _field) in CHOICE_COMBOS.items():
        shown = [found[combo].itemText(i) for i in range(found[combo].count())]
        assert shown == [label for _word, label, _tooltip in _choice_rows(table)]
    assert found["exportSegmentationSelector"].property("SlicerParameterName") == "exportSegmentation"
    assert isinstance(found["reportTable"], QtWidgets.QTableWidget)
    assert isinstance(found["progressBar"], QtWidgets.QProgressBar)
    del application

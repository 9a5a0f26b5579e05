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
#: The module's Logic and parameter node (constants of the export choices live there).
LOGIC = REPOSITORY / "LabelMapSeg" / "LabelMapSegLib" / "logic.py"


def _tree():
    return ET.parse(UI)


def _widgets():
    return {w.get("name"): w for w in _tree().iter("widget")}


def _used_names():
    """Every ``self.ui.<name>`` the module code touches."""
    return set(re.findall(r"self\.ui\.(\w+)", MODULE.read_text()))


def _module_constant(name):
    tree = ast.parse(LOGIC.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(name)


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


def test_combo_boxes_offer_what_the_logic_accepts():
    widgets = _widgets()

    def items(name):
        return [item.find("property/string").text for item in widgets[name].findall("item")]

    assert items("transferSyntaxComboBox") == list(_module_constant("TRANSFER_SYNTAXES"))
    assert items("photometricComboBox") == list(_module_constant("PHOTOMETRIC_INTERPRETATIONS"))
    assert items("overlapComboBox") == list(_module_constant("OVERLAP_HANDLING"))
    from dicomlabelmap.dicom.codecs import TransferSyntax

    assert {TransferSyntax(s) for s in _module_constant("TRANSFER_SYNTAXES")} == set(TransferSyntax.writable_syntaxes())


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
    assert [found["transferSyntaxComboBox"].itemText(i) for i in range(found["transferSyntaxComboBox"].count())] == list(
        _module_constant("TRANSFER_SYNTAXES")
    )
    assert found["exportSegmentationSelector"].property("SlicerParameterName") == "exportSegmentation"
    assert isinstance(found["reportTable"], QtWidgets.QTableWidget)
    assert isinstance(found["progressBar"], QtWidgets.QProgressBar)
    del application

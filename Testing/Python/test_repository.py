"""Static checks of the repository: the layer rule, CMake packaging, lint and types."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest
from conftest import REPOSITORY, find_tool

CORE = REPOSITORY / "LabelMapSeg" / "dicomlabelmap"
FORBIDDEN_IN_CORE = {"slicer", "vtk", "qt", "ctk", "DICOMLib", "vtkSegmentationCorePython", "PythonQt"}


def _imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: p.relative_to(CORE).as_posix())
def test_core_never_imports_slicer_vtk_or_qt(path):
    assert not set(_imported_modules(path)) & FORBIDDEN_IN_CORE


def test_core_imports_without_slicer_and_optional_packages():
    """Importing the core pulls in neither Slicer nor the optional file/preview packages."""
    code = (
        "import sys, dicomlabelmap, dicomlabelmap.cli; "
        "bad = [m for m in ('slicer', 'vtk', 'qt', 'matplotlib', 'nibabel', 'nrrd', 'slicerio') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_cmake_lists_every_core_and_glue_file():
    cmake = (REPOSITORY / "LabelMapSeg" / "CMakeLists.txt").read_text()
    listed = set(re.findall(r"(?:dicomlabelmap|LabelMapSegLib)/[\w./]+", cmake))
    root = REPOSITORY / "LabelMapSeg"
    present = {
        p.relative_to(root).as_posix()
        for package in ("dicomlabelmap", "LabelMapSegLib")
        for p in (root / package).rglob("*")
        if p.suffix in (".py", ".typed")
    }
    assert listed == present


@pytest.mark.parametrize("path", sorted((REPOSITORY / "LabelMapSeg" / "LabelMapSegLib").rglob("*.py")), ids=lambda p: p.name)
def test_glue_never_imports_qt_at_module_level(path):
    assert not set(_imported_modules_at_top(path)) & {"qt", "ctk", "PythonQt"}


def _imported_modules_at_top(path):
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_core_is_typed():
    assert (CORE / "py.typed").exists()


def test_ruff_is_clean():
    ruff = find_tool("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    result = subprocess.run([ruff, "check", str(REPOSITORY)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_mypy_is_clean():
    mypy = find_tool("mypy")
    if mypy is None:
        pytest.skip("mypy is not installed")
    result = subprocess.run([mypy], capture_output=True, text=True, cwd=REPOSITORY, check=False)
    assert result.returncode == 0, result.stdout


def test_package_exports_resolve_lazily():
    """Every name in ``dicomlabelmap.__all__`` resolves, and importing one submodule does not
    import the others (start-up cost in Slicer and in the command line)."""
    import dicomlabelmap

    for name in dicomlabelmap.__all__:
        assert getattr(dicomlabelmap, name) is not None, name
    code = "import sys, dicomlabelmap.seg_reader; print(sorted(m for m in sys.modules if m.startswith('dicomlabelmap')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for heavy in ("dicomlabelmap.conversion", "dicomlabelmap.rasterize", "dicomlabelmap.rtstruct", "dicomlabelmap.labelfiles"):
        assert f"'{heavy}'" not in loaded, loaded

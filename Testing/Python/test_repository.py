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
        "import sys, dicomlabelmap, dicomlabelmap.cli.main; "
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


SLICER_FACING = sorted((REPOSITORY / "LabelMapSeg").glob("*.py"))
HEAVY = {"numpy", "pydicom", "dicomlabelmap", "LabelMapSegLib", "highdicom", "nibabel", "PIL"}


def _cmake_list(cmake, variable):
    body = re.search(rf"set\({variable}\n(.*?)\n  \)", cmake, re.S)
    assert body, variable
    return [line.strip().replace("${MODULE_NAME}", "LabelMapSeg") for line in body.group(1).splitlines() if line.strip()]


def test_cmake_builds_the_module_every_plugin_and_resource():
    cmake = (REPOSITORY / "LabelMapSeg" / "CMakeLists.txt").read_text()
    root = REPOSITORY / "LabelMapSeg"
    scripts = _cmake_list(cmake, "MODULE_PYTHON_SCRIPTS")
    plugins = _cmake_list(cmake, "DICOM_PLUGIN_MODULES")
    resources = _cmake_list(cmake, "MODULE_PYTHON_RESOURCES")
    top_level = {p.name for p in SLICER_FACING}
    assert top_level == {s for s in scripts if "/" not in s} | {f"{p}.py" for p in plugins}
    assert {p.relative_to(root).as_posix() for p in (root / "Resources").rglob("*") if p.is_file()} == {
        r for r in resources if r.startswith("Resources/")
    }
    assert all((root / path).is_file() for path in scripts + resources)
    assert "slicerMacroBuildScriptedModule(" in cmake and "WITH_GENERIC_TESTS" in cmake
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in cmake
    module = ast.parse((root / "LabelMapSeg.py").read_text())
    classes = {node.name: [ast.unparse(b) for b in node.bases] for node in module.body if isinstance(node, ast.ClassDef)}
    assert "ScriptedLoadableModuleTest" in classes["LabelMapSegTest"]
    for plugin in plugins:  # each plugin file: a DICOMPlugin subclass and its hidden hook module
        tree = ast.parse((root / f"{plugin}.py").read_text())
        names = {node.name: [ast.unparse(b) for b in node.bases] for node in tree.body if isinstance(node, ast.ClassDef)}
        assert "DICOMPlugin" in names[f"{plugin}Class"] and plugin in names
        assert "parent.hidden = True" in (root / f"{plugin}.py").read_text()


@pytest.mark.parametrize("path", SLICER_FACING, ids=lambda p: p.name)
def test_slicer_facing_files_import_heavy_packages_lazily(path):
    """Files Slicer imports at start-up keep numpy, pydicom and the core inside functions; a glue
    module they import at the top (the Logic) must itself be light, all the way down."""
    assert not _heavy_at_top(path), _heavy_at_top(path)


def _heavy_at_top(path, seen=None):
    """Heavy packages imported at module level by ``path`` or by the LabelMapSegLib modules it
    imports at module level."""
    seen = set() if seen is None else seen
    heavy = set()
    for node in ast.parse(path.read_text()).body:
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            if name.startswith("LabelMapSegLib.") and name not in seen:
                seen.add(name)
                heavy |= _heavy_at_top(REPOSITORY / "LabelMapSeg" / (name.replace(".", "/") + ".py"), seen)
            elif name.split(".")[0] in HEAVY:
                heavy.add(f"{path.name}: {name}")
    return heavy


def test_extension_metadata_and_catalog_entry():
    import json

    cmake = (REPOSITORY / "CMakeLists.txt").read_text()
    for variable in (
        "EXTENSION_HOMEPAGE",
        "EXTENSION_CATEGORY",
        "EXTENSION_CONTRIBUTORS",
        "EXTENSION_DESCRIPTION",
        "EXTENSION_ICONURL",
        "EXTENSION_SCREENSHOTURLS",
    ):
        assert re.search(rf'set\({variable} "[^"]+"\)', cmake), variable
    assert 'set(EXTENSION_DEPENDS "SlicerRT")' in cmake
    entry = json.loads((REPOSITORY / "LabelMapSeg.json").read_text())
    allowed = {
        "$schema",
        "category",
        "scm_url",
        "scm_revision",
        "scm_type",
        "build_dependencies",
        "dicom_support_rule",
        "build_subdirectory",
        "enabled",
        "tier",
    }
    assert set(entry) <= allowed and {"$schema", "category", "scm_url"} <= set(entry)
    assert entry["build_dependencies"] == ["SlicerRT"]
    assert entry["category"] == re.search(r'set\(EXTENSION_CATEGORY "([^"]+)"\)', cmake).group(1)


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


def test_code_is_formatted():
    """One style everywhere (ruff format, lines of at most 140 characters, E501 enforced)."""
    ruff = find_tool("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    result = subprocess.run(
        [ruff, "format", "--check", "LabelMapSeg", "Testing"], capture_output=True, text=True, cwd=REPOSITORY, check=False
    )
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
    code = "import sys, dicomlabelmap.seg.reader; print(sorted(m for m in sys.modules if m.startswith('dicomlabelmap')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for heavy in (
        "dicomlabelmap.rtstruct.conversion",
        "dicomlabelmap.rtstruct.rasterize",
        "dicomlabelmap.rtstruct.reader",
        "dicomlabelmap.files.labelfiles",
    ):
        assert f"'{heavy}'" not in loaded, loaded

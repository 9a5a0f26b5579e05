"""The core's layout as rules: one subpackage per family, imports pointing downwards only (see
ARCHITECTURE's layer list), no module or function too long to read, and every module imported
directly by some test.

Layers, bottom to top: the top-level basics (``errors``, ``findings``, ``progress``, ``outputs``,
``_version``); ``model`` (numpy only); ``dicom`` (pydicom lives here); ``rtstruct`` and ``seg``
(side by side, never importing each other); ``files``; ``batch``; ``cli``. ``synthetic`` (test and
demo data) and ``export`` (segmentations to RT Structure Sets) may use any family below ``batch``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPOSITORY

CORE = REPOSITORY / "LabelMapSeg" / "dicomlabelmap"
PRODUCT = REPOSITORY / "LabelMapSeg"
BASICS = {"errors", "findings", "progress", "outputs", "_version"}
FAMILIES = ["model", "dicom", "rtstruct", "seg", "files", "batch", "cli"]
#: What each family may import besides itself and the basics.
ALLOWED = {
    "model": set(),
    "dicom": {"model"},
    "rtstruct": {"model", "dicom"},
    "seg": {"model", "dicom"},
    "files": {"model", "dicom", "rtstruct", "seg"},
    "batch": {"model", "dicom", "rtstruct", "seg", "files", "export"},
    "cli": {"model", "dicom", "rtstruct", "seg", "files", "batch", "synthetic", "export"},
}
TOP_LEVEL_ALLOWED = {
    "errors": set(),
    "findings": set(),
    "progress": {"errors"},
    "outputs": {"errors"},
    "_version": set(),
    "synthetic": {"model", "dicom", "rtstruct", "seg", "files"} | BASICS,
    # segmentations back to RT Structure Sets: joins files, seg and rtstruct (which never import each other)
    "export": {"model", "dicom", "rtstruct", "seg", "files"} | BASICS,
    "__main__": {"cli"},
    "__init__": set(FAMILIES) - {"batch", "cli"} | BASICS | {"export"},
}
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, int]]:
    """``(absolute module imported, line)`` for every import of the core inside ``path``
    (relative imports resolved; ``from . import x`` counts as importing submodule ``x``)."""
    package = module_name(path).split(".") if path.name == "__init__.py" else module_name(path).split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("dicomlabelmap"):
                continue
            if node.module is None:  # from . import a, b
                found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
            else:
                found.append((target, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("dicomlabelmap")]
    return found


def layer_of(module: str) -> str:
    """The family (``model``, ``dicom``, ...) or top-level module of a core module name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.relative_to(CORE).as_posix())
def test_imports_point_downwards(path):
    """Each module imports only its own family, the families below it and the basics."""
    own = layer_of(module_name(path))
    allowed = (ALLOWED[own] | BASICS | {own}) if own in ALLOWED else TOP_LEVEL_ALLOWED[own] | {own}
    wrong = [(target, line) for target, line in imports_of(path) if layer_of(target) not in allowed]
    assert not wrong, f"{own} may import only {sorted(allowed)}; found {wrong}"


@pytest.mark.parametrize("path", [p for p in core_modules() if layer_of(module_name(p)) == "model"], ids=lambda p: p.name)
def test_model_imports_no_pydicom(path):
    assert "pydicom" not in {name.split(".")[0] for name in _third_party(path)}


def test_rtstruct_and_seg_never_import_each_other():
    for family, other in (("rtstruct", "seg"), ("seg", "rtstruct")):
        for path in (CORE / family).rglob("*.py"):
            assert not [t for t, _ in imports_of(path) if layer_of(t) == other], path


def test_only_cli_imports_batch_and_only_main_imports_cli():
    for path in core_modules():
        own = layer_of(module_name(path))
        for target, line in imports_of(path):
            if layer_of(target) == "batch":
                assert own in ("batch", "cli"), f"{path}:{line} imports {target}"
            if layer_of(target) == "cli":
                assert own in ("cli", "__main__"), f"{path}:{line} imports {target}"


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.relative_to(CORE).as_posix())
def test_no_module_imports_its_own_package_init(path):
    """A module never imports its package's ``__init__`` (names come from their own modules;
    the version from ``_version``)."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    for target, line in imports_of(path):
        assert target != package, f"{path}:{line} imports its package {package}"
        if target.count(".") and target.rsplit(".", 1)[0] == package and target.rsplit(".", 1)[1] not in _submodules(package):
            pytest.fail(f"{path}:{line} imports a name from its package's __init__: {target}")


def test_import_graph_has_no_loop():
    graph = {module_name(p): {t for t, _ in imports_of(p) if t != module_name(p)} for p in core_modules()}
    names = set(graph)
    # a target like dicomlabelmap.seg.writer.SegWriteOptions is not a module: keep module names only
    graph = {m: {t if t in names else t.rsplit(".", 1)[0] for t in targets} & names for m, targets in graph.items()}
    graph = {m: {t for t in targets if not m.startswith(t + ".") and not (t == "dicomlabelmap")} for m, targets in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                pytest.fail("import loop: " + " -> ".join(trail[trail.index(target) :] + [target]) if target in trail else target)
            if target not in state:
                visit(target, trail + [target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


PRODUCT_FILES = sorted([*CORE.rglob("*.py"), *(PRODUCT / "LabelMapSegLib").rglob("*.py"), *PRODUCT.glob("*.py")])


@pytest.mark.parametrize("path", PRODUCT_FILES, ids=lambda p: p.relative_to(PRODUCT).as_posix())
def test_modules_and_functions_stay_short(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name}: {len(text.splitlines())} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, long


def test_every_family_is_a_package_and_every_module_is_imported_by_a_test():
    assert {p.name for p in CORE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(FAMILIES)
    tests = REPOSITORY / "Testing" / "Python"
    imported: set[str] = set()
    for path in tests.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dicomlabelmap"):
                imported.add(node.module)
                imported |= {f"{node.module}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
    modules = {module_name(p) for p in core_modules() if p.name != "__init__.py" or p.parent == CORE}
    missing = sorted(m for m in modules - imported if not m.endswith("__main__"))
    assert not missing, f"no test imports these modules directly: {missing}"


def test_test_files_mirror_the_families_with_unique_names():
    """Tests live in one folder per family (pytest imports them by file name: no two alike)."""
    tests = REPOSITORY / "Testing" / "Python"
    names = [p.name for p in tests.rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    folders = {p.parent.name for p in tests.rglob("test_*.py") if p.parent != tests}
    assert folders <= set(FAMILIES) | {"interop", "inslicer"}, folders


def _third_party(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _submodules(package: str) -> set[str]:
    folder = CORE.parent.joinpath(*package.split("."))
    return {p.stem for p in folder.glob("*.py")} | {p.name for p in folder.iterdir() if p.is_dir()}


def test_the_slicer_module_file_is_the_top_of_the_slicer_side():
    """``LabelMapSeg.py`` (the module: widget, self-test) may import the plugins' neighbours and
    ``LabelMapSegLib``; nothing imports it back (a plugin takes the logic and the settings keys from
    ``LabelMapSegLib``), so the Slicer side has no import loop either."""
    import ast

    slicer_side = [*(REPOSITORY / "LabelMapSeg").glob("DICOM*Plugin.py"), *(REPOSITORY / "LabelMapSeg" / "LabelMapSegLib").glob("*.py")]
    offenders = []
    for path in slicer_side:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names.append(node.module or "")
            offenders += [f"{path.name} imports {name}" for name in names if name == "LabelMapSeg"]
    assert len(slicer_side) >= 8 and offenders == []

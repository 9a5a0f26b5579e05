"""The version lives in one module, ``dicomlabelmap._version``: the package, the command line's
``--version`` and the build configuration (``pyproject.toml``) all take it from there."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import dicomlabelmap
import pytest
from conftest import REPOSITORY
from dicomlabelmap._version import __version__
from dicomlabelmap.cli.main import build_parser


def test_package_version_is_the_version_module():
    assert dicomlabelmap.__version__ == __version__
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?(a|b|rc|dev|post)\d+)?", __version__), __version__


def test_build_configuration_reads_the_version_module():
    """``pip install .`` takes the version from the same attribute, not from a copy."""
    pyproject = (REPOSITORY / "pyproject.toml").read_text(encoding="utf-8")
    assert 'version = { attr = "dicomlabelmap._version.__version__" }' in pyproject
    assert re.search(r'^version\s*=\s*"', pyproject, re.MULTILINE) is None  # no second, static version


def test_parser_version_option(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"dicomlabelmap {__version__}\n"


def test_python_dash_m_prints_the_version():
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPOSITORY / "LabelMapSeg"), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(
        [sys.executable, "-m", "dicomlabelmap", "--version"], capture_output=True, text=True, env=environment, timeout=120, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, f"dicomlabelmap {__version__}\n", "")

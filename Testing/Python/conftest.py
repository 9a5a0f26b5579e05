"""Shared fixtures. Tests build their DICOM in memory (dicomlabelmap.synthetic) or read the
real files in ../shared/data, skipping with a reason when that folder is absent. The environment
variable LABELMAPSEG_SHARED names another shared folder (a clone elsewhere, a git worktree)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from dicomlabelmap.model.geometry import ImageGeometry

REPOSITORY = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("LABELMAPSEG_SHARED") or REPOSITORY.parent / "shared")
SHARED_DATA = SHARED / "data"
NO_SHARED = "the shared folder is not beside this clone; LABELMAPSEG_SHARED names another"

# Tests are grouped in one folder per family of the core; a test may use another family's
# fixtures and builders (``from test_seg import make_volume``): every folder is importable, and
# test file names are unique across folders (checked in test_architecture).
for _folder in sorted(p for p in Path(__file__).resolve().parent.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))


def child_processes() -> set[int]:
    """This process's children, alive or not yet reaped (Linux: every /proc/PID/stat naming this
    process as parent; not /proc/self/task/*/children, whose files vanish with their thread while
    being read, and whose children then move to another thread). Tests compare the set before and
    after (other tests may leave long-lived children, such as multiprocessing's resource tracker)."""
    me = os.getpid()
    children: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (command name)": state, parent, ...
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[1]) == me:
            children.add(int(stat.parent.name))
    return children


def shared_file(relative: str) -> Path:
    """A file or folder of ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real test data {relative} not found in {SHARED_DATA} ({NO_SHARED})")
    return path


def axial_geometry(shape=(6, 20, 24), spacing=(1.0, 1.0, 2.0), origin=(-10.0, -12.0, 30.0)) -> ImageGeometry:
    return ImageGeometry(shape, origin, spacing, np.eye(3), "1.2.3.4.5")


@pytest.fixture
def geometry() -> ImageGeometry:
    return axial_geometry()


def find_tool(name: str) -> str | None:
    """A command on PATH, or installed beside this Python (a virtual environment's bin/)."""
    import shutil
    import sys

    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else None


@pytest.fixture(scope="session")
def read_only_folder(tmp_path_factory):
    """A folder nothing can be written into, not even by root: a read-only tmpfs mounted there
    when running as root (root writes into 0555 folders), else a 0555 folder."""
    import os
    import subprocess

    folder = tmp_path_factory.mktemp("read-only")
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root and cannot mount a read-only file system here ({mounted.stderr.strip()})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)

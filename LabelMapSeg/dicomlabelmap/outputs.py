"""Writing output files safely: to a temporary file beside the target, checked, then renamed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError


def double_suffix(path: Path) -> str:
    """The file type suffix, counting ``.seg.nrrd`` and ``.nii.gz`` as one."""
    name = path.name.lower()
    for suffix in (".seg.nrrd", ".nii.gz"):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


@contextmanager
def atomic_output(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); on success move it onto
    ``path``, on any exception delete it, so no partial output is ever left behind."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputError(f"{target} exists; choose another name or allow overwriting")
    if not target.parent.is_dir():
        raise OutputError(f"{target.parent}: no such folder")
    suffix = double_suffix(target)
    handle, temporary_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".partial{suffix}", dir=target.parent)
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        yield temporary
        if target.exists() and not overwrite:
            raise OutputError(f"{target} appeared while writing; not overwritten")
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_verified(path: str | Path, write: Callable[[Path], None], verify: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Write through ``write(temporary)``, check with ``verify(temporary)``, then publish."""
    with atomic_output(path, overwrite) as temporary:
        write(temporary)
        verify(temporary)
    return Path(path)

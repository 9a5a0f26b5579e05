"""What every subcommand shares: exit codes, output folders created on demand (and removed again
when nothing was written into them), the progress bar, and small checks of paths."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DicomLabelMapError

if TYPE_CHECKING:
    from ..findings import Finding
    from ..progress import ProgressCallback

#: 0 success; 1 error (one sentence on stderr, nothing written); 2 usage error; 3 output
#: written but some ROIs or inputs could not be converted, or another ERROR-level finding stands
#: (see the report); 130 interrupted.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
#: The reader of standard output went away (``| head``): the shell's code for a command ended by SIGPIPE.
EXIT_OUTPUT_CLOSED = 141

_CREATED_FOLDERS: list[Path] = []


def remove_created_folders() -> None:
    """Output folders this command created stay only if something was written into them."""
    from ..outputs import remove_empty_folders

    remove_empty_folders(_CREATED_FOLDERS)
    _CREATED_FOLDERS.clear()


def output_folder(path: Path) -> Path:
    """The output folder, created (with its parents) when missing; one created here is removed
    again when the command fails or is interrupted and nothing was written into it."""
    from ..outputs import make_folders, signals_held

    with signals_held():  # created and remembered in one step: an interrupt finds them to remove
        _CREATED_FOLDERS.extend(make_folders(path))
    return path


def check_output_folder(path: Path) -> None:
    """Refuse, before any work, an output folder that cannot be created or written."""
    from ..outputs import check_output_folder as check

    check(path)


def check_seg_folder(path: Path, overwrite: bool) -> None:
    """Refuse, before any work, a Label Map SEG output folder that cannot be written or already
    holds a series (without ``--overwrite``)."""
    from ..errors import OutputError

    check_output_folder(path)
    first = path / "LabelMapSEG_001.dcm"
    if first.exists() and not overwrite:
        raise OutputError(f"{first} exists; choose another folder or use --overwrite")


def check_label_output(path: Path, overwrite: bool) -> None:
    """Refuse a label file output that cannot be written before any work is done."""
    from ..files.labelfiles import LABEL_FILE_SUFFIXES, check_label_format
    from ..outputs import check_output_file, double_suffix

    if path.is_dir():
        raise DicomLabelMapError(f"-o {path} is a folder; give a file name ending in {', '.join(LABEL_FILE_SUFFIXES)}")
    if double_suffix(path) not in LABEL_FILE_SUFFIXES:
        raise DicomLabelMapError(f"-o {path}: unknown output type '{double_suffix(path)}'; use one of {', '.join(LABEL_FILE_SUFFIXES)}")
    check_output_file(path, overwrite)
    check_label_format(path)


def exit_for(findings: Sequence[Finding]) -> int:
    """The exit code of a command that wrote its outputs: 3 when an ERROR-level finding stands,
    else 0."""
    from ..findings import Severity

    return EXIT_PARTIAL if any(finding.severity is Severity.ERROR for finding in findings) else EXIT_OK


def sizes(paths: Sequence[Path]) -> str:
    return ", ".join(f"{path} ({path.stat().st_size:,} bytes)" for path in paths)


def check_input_file(path: Path, what: str) -> None:
    if path.is_dir():
        raise DicomLabelMapError(f"{path} is a folder; give {what} (dicomlabelmap series lists what a folder holds)")
    if not path.exists():
        raise DicomLabelMapError(f"{path}: no such file")


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """A tqdm bar on stderr fed by the core's progress callback (off when stderr is no TTY)."""
    try:
        from tqdm import tqdm
    except ImportError:
        yield None
        return
    bar = tqdm(total=1000, disable=None if enabled else True, file=sys.stderr, leave=False, bar_format="{l_bar}{bar}| {elapsed}")

    def progress(fraction: float, message: str) -> None:
        bar.n = int(fraction * 1000)
        bar.set_description_str(message[:40], refresh=True)

    try:
        yield progress
    finally:
        bar.close()

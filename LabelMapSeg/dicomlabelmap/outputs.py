"""Writing output files safely: to a temporary file beside the target, checked, then renamed.

* A file appears complete or not at all; a failure or an interrupt (Ctrl-C, or SIGTERM that
  the command line turns into one) removes the temporary file.
* Several files that belong together (the layers of a Label Map SEG series) are written into a
  staging folder beside them and swapped in together, with SIGINT and SIGTERM held back during
  the few renames: the folder then holds the old series or the new one, never a mix, and a new
  series with fewer layers leaves none of the old ones behind.
* Output files get the permissions the user's umask gives a new file (0644 under umask 022),
  not the 0600 of a temporary file.
* Operating-system failures (read-only folder, disk full, a folder where a file should be)
  become one-sentence :class:`OutputError`s naming the path.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError

#: Prefix of staging folders and temporary files; leftovers of a killed run are removed by the next.
STAGING_PREFIX = ".labelmapseg-staging-"

#: The signals that end a command (Ctrl-C; SIGTERM from timeout, Slurm, Docker), held back by :func:`signals_held`.
INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


def double_suffix(path: Path) -> str:
    """The file type suffix, counting ``.seg.nrrd`` and ``.nii.gz`` as one."""
    name = path.name.lower()
    for suffix in (".seg.nrrd", ".nii.gz"):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def new_file_mode() -> int:
    """The mode the user's umask gives a new file (``0o666 & ~umask``)."""
    try:  # Linux: read without changing it (os.umask would, for every thread)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def publish_mode(path: Path) -> None:
    """Give a finished temporary file the permissions of a new file."""
    os.chmod(path, new_file_mode())


@contextmanager
def os_errors_named(target: Path, what: str = "write") -> Iterator[None]:
    """Turn an OSError into one sentence naming the path and the cause."""
    try:
        yield
    except OutputError:
        raise
    except OSError as error:
        raise OutputError(f"{target}: cannot {what}: {_cause(error)}") from error


def _cause(error: OSError) -> str:
    """The reason in words; pydicom re-raises write errors without their errno, which is then
    found in the chained exception or the message."""
    number = error.errno
    link: BaseException | None = error
    while number is None and link is not None:
        number = getattr(link, "errno", None)
        link = link.__cause__ or link.__context__
    if number is None:
        found = re.search(r"\[Errno (\d+)\]", str(error))
        number = int(found.group(1)) if found else None
    causes = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EFBIG: "the file is larger than allowed (file size limit)",
        errno.EACCES: "permission denied (read-only folder?)",
        errno.EPERM: "permission denied",
        errno.EROFS: "the file system is read-only",
        errno.EISDIR: "it is a folder, not a file",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
    }
    return causes.get(number or 0, error.strerror or str(error).splitlines()[-1])


def check_output_file(target: Path, overwrite: bool) -> None:
    """Refuse, before any work, an output path that cannot become the file asked for. Missing
    parent folders are fine: they are created when the file is written."""
    if target.is_dir():
        raise OutputError(f"{target} is a folder; give a file name (for example {target / 'labels.seg.nrrd'})")
    if target.exists() and not overwrite:
        raise OutputError(f"{target} exists; choose another name or use --overwrite")
    check_output_folder(target.parent)


def check_output_folder(folder: Path) -> None:
    """Refuse, before any work, a folder that cannot receive outputs: a file in its place or in
    place of one of its parents, or a place that cannot be written (read-only file system,
    permissions). A folder that does not exist yet is fine when it can be created."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file, not a folder; give a folder")
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise OutputError(f"{existing} is a file, not a folder, so {folder} cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = "the file system is read-only" if _read_only_file_system(existing) else "permission denied"
        raise OutputError(f"{existing}: cannot write there ({reason})")


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (as a file or a folder)."""
    current = path.absolute()
    while not os.path.lexists(current) and current.parent != current:
        current = current.parent
    return current


def _read_only_file_system(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return False


def make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; returns those created, outermost first (to
    remove them again with :func:`remove_empty_folders` when nothing was written into them)."""
    check_output_folder(folder)
    missing = []
    current = folder.absolute()
    while not os.path.lexists(current):
        missing.append(current)
        current = current.parent
    with os_errors_named(folder, "create the folder"):
        folder.mkdir(parents=True, exist_ok=True)
    return [Path(p) for p in reversed(missing)]


def remove_empty_folders(folders: Sequence[Path]) -> None:
    """Remove the given folders (innermost first) where they are empty; keep the others."""
    for created in reversed(folders):
        try:
            created.rmdir()
        except OSError:
            pass


@contextmanager
def folders_created(folder: Path) -> Iterator[list[Path]]:
    """Create ``folder`` (and missing parents) for the body; on any failure or interrupt the
    folders created here are removed again when they stayed empty."""
    created: list[Path] = []
    try:
        with signals_held():  # created and remembered in one step: an interrupt finds them to remove
            created = make_folders(folder)
        yield created
    except BaseException:
        remove_empty_folders(created)
        raise


@contextmanager
def atomic_output(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); on success move it onto
    ``path``, on any exception or interrupt delete it, so no partial output is ever left."""
    target = Path(path)
    check_output_file(target, overwrite)
    suffix = double_suffix(target)
    with folders_created(target.parent):
        created: list[Path] = []  # the temporary file, once it exists
        try:
            # created and remembered in one step: an interrupt arriving meanwhile is delivered
            # inside this try, whose cleanup then finds the file
            with signals_held(), os_errors_named(target):
                handle, temporary_name = tempfile.mkstemp(
                    prefix=f"{STAGING_PREFIX}{target.name}.", suffix=f".partial{suffix}", dir=target.parent
                )
                os.close(handle)
                created.append(Path(temporary_name))
            temporary = created[0]
            with os_errors_named(target):
                yield temporary
                if target.exists() and not overwrite:
                    raise OutputError(f"{target} appeared while writing; not overwritten")
                publish_mode(temporary)
                os.replace(temporary, target)
        finally:
            with signals_held():
                for path in created:
                    path.unlink(missing_ok=True)


def write_verified(path: str | Path, write: Callable[[Path], None], verify: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Write through ``write(temporary)``, check with ``verify(temporary)``, then publish."""
    with atomic_output(path, overwrite) as temporary:
        write(temporary)
        verify(temporary)
    return Path(path)


def remove_stale_staging(folder: Path) -> None:
    """Remove what a killed earlier run left in ``folder`` (staging folders, temporary files)."""
    if not folder.is_dir():
        return
    for leftover in folder.glob(f"{STAGING_PREFIX}*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@contextmanager
def staged_series(folder: Path, names: Sequence[str], overwrite: bool, replaces: str, side_files: Sequence[str] = ()) -> Iterator[Path]:
    """Write a series of files into a staging folder inside ``folder`` (created when missing);
    on success swap them in for the files matching the glob ``replaces`` (the old series) in one
    step that SIGINT and SIGTERM cannot cut; on failure or interrupt remove the staging folder
    (old series intact).

    ``names`` are the file names the series will have. Those among them listed in
    ``side_files`` (a table describing the series) belong to the series: an existing one is
    replaced with it, never a reason to refuse.
    """
    with folders_created(folder), _staged(folder, names, overwrite, replaces, side_files) as staging:
        yield staging


@contextmanager
def _staged(folder: Path, names: Sequence[str], overwrite: bool, replaces: str, side_files: Sequence[str]) -> Iterator[Path]:
    remove_stale_staging(folder)
    old = sorted(p for p in folder.glob(replaces) if p.is_file())
    main = [name for name in names if name not in side_files]
    clashing = [p for p in old if p.name in main] or [folder / n for n in main if (folder / n).exists()]
    if clashing and not overwrite:
        raise OutputError(f"{clashing[0]} exists; choose another folder or use --overwrite")
    for name in side_files:
        if (folder / name).is_dir():
            raise OutputError(f"{folder / name} is a folder; it is in the place of a file this command writes")
    created: list[Path] = []  # the staging folder, once it exists
    try:
        # created and remembered in one step: an interrupt arriving meanwhile is delivered inside
        # this try, whose cleanup then finds the folder
        with signals_held(), os_errors_named(folder):
            created.append(Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder)))
        staging = created[0]
        with os_errors_named(folder):
            yield staging
            for name in names:
                publish_mode(staging / name)
            retired = staging / "replaced"
            retired.mkdir()
            # An interrupt held back here arrives once the swap and the cleanup are done.
            with signals_held():
                for path in old if overwrite else []:
                    os.replace(path, retired / path.name)
                for name in names:
                    os.replace(staging / name, folder / name)
                shutil.rmtree(staging, ignore_errors=True)
    finally:
        with signals_held():
            for path in created:
                shutil.rmtree(path, ignore_errors=True)


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the body runs; they are delivered when it ends.

    Two mechanisms, because either alone leaks. The signals are blocked in this thread (a
    process forked meanwhile inherits the block), but the kernel hands a signal sent to the
    process to any thread that does not block it (a reader thread, a pipe drainer), and Python
    then runs its handler in the main thread all the same, here, at the next instruction: so
    their handlers are also replaced by one that only notes them. That also covers C libraries
    that call back into Python (OpenJPEG crashed when an interrupt's exception arose in its
    callback). Outside the main thread (where handlers cannot be set) the body just runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    replaced = {}
    for number in INTERRUPTS:
        handler = signal.getsignal(number)
        if handler is not None and handler is not signal.SIG_IGN:  # None: set outside Python, left alone
            replaced[number] = handler
            signal.signal(number, lambda signum, frame: received.append(signum))
    blocked = hasattr(signal, "pthread_sigmask")
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS) if blocked else set()
    try:
        yield
    finally:
        for number, handler in replaced.items():
            signal.signal(number, handler)
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # one pending here meets its own handler
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)


def replace_folder(staging: Path, target: Path) -> None:
    """Put a finished staging folder in place of ``target`` (a data set folder): the old folder is
    moved aside, the new one renamed in, the old one removed, with SIGINT and SIGTERM held back
    for the two renames, so ``target`` is the old folder or the new one, never a mix."""
    retired = target.with_name(f"{STAGING_PREFIX}old-{target.name}")
    with os_errors_named(target), signals_held():
        if retired.exists():
            shutil.rmtree(retired)
        if target.exists():
            os.replace(target, retired)
        os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)

"""Output files appear complete or not at all: ``atomic_output`` and ``write_verified`` publish a
checked temporary file and remove it on any failure or interrupt; ``staged_series`` swaps a whole
series in at once; ``check_output_file`` refuses impossible targets before any work; OS errors
become one sentence naming the path."""

from __future__ import annotations

import errno
import os

import pytest
from dicomlabelmap.errors import OutputError
from dicomlabelmap.outputs import (
    STAGING_PREFIX,
    atomic_output,
    check_output_file,
    check_output_folder,
    double_suffix,
    folders_created,
    make_folders,
    new_file_mode,
    os_errors_named,
    remove_empty_folders,
    remove_stale_staging,
    staged_series,
    write_verified,
)


@pytest.mark.parametrize(
    "name, suffix",
    [
        ("labels.seg.nrrd", ".seg.nrrd"),
        ("CT.NII.GZ", ".nii.gz"),
        ("labels.nrrd", ".nrrd"),
        ("mask.nii", ".nii"),
        ("archive.tar.gz", ".gz"),
        ("report.JSON", ".json"),
        ("noextension", ""),
    ],
)
def test_double_suffix(tmp_path, name, suffix):
    assert double_suffix(tmp_path / name) == suffix


def test_atomic_output_publishes_complete_file_with_umask_mode(tmp_path):
    target = tmp_path / "labels.seg.nrrd"
    with atomic_output(target) as temporary:
        assert temporary.parent == tmp_path and temporary.name.startswith(STAGING_PREFIX) and temporary.name.endswith(".partial.seg.nrrd")
        temporary.write_bytes(b"complete")
        assert not target.exists()  # nothing visible until the block succeeds
    assert target.read_bytes() == b"complete"
    assert os.stat(target).st_mode & 0o777 == new_file_mode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.seg.nrrd"]


@pytest.mark.parametrize("interruption", [RuntimeError("encoder failed"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_atomic_output_leaves_nothing_on_failure(tmp_path, interruption):
    target = tmp_path / "out.nrrd"
    with pytest.raises(type(interruption)):
        with atomic_output(target) as temporary:
            temporary.write_bytes(b"half")
            raise interruption
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.nrrd"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="boom"):
        with atomic_output(target, overwrite=True) as temporary:
            temporary.write_bytes(b"new but broken")
            raise ValueError("boom")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.nrrd"]


def test_atomic_output_overwrite(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(OutputError, match=r"out\.json exists; choose another name or use --overwrite"):
        with atomic_output(target):
            pytest.fail("the block must not run")
    with atomic_output(target, overwrite=True) as temporary:
        temporary.write_text("new")
    assert target.read_text() == "new"


def test_atomic_output_refuses_a_file_that_appears_meanwhile(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(OutputError, match="appeared while writing; not overwritten"):
        with atomic_output(target) as temporary:
            temporary.write_text("mine")
            target.write_text("someone else's")
    assert target.read_text() == "someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_write_verified_publishes_only_what_verifies(tmp_path):
    target = tmp_path / "a.nrrd"

    def verify(path):
        if path.read_bytes() != b"good":
            raise OutputError(f"{path.name} differs")

    assert write_verified(target, lambda path: path.write_bytes(b"good"), verify) == target
    assert target.read_bytes() == b"good"
    other = tmp_path / "b.nrrd"
    with pytest.raises(OutputError, match="differs"):
        write_verified(other, lambda path: path.write_bytes(b"bad"), verify)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nrrd"]


def test_check_output_file_messages(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(OutputError, match=r"folder is a folder; give a file name \(for example .*labels\.seg\.nrrd\)"):
        check_output_file(folder, overwrite=True)
    assert check_output_file(tmp_path / "missing" / "x.nrrd", overwrite=False) is None  # created when written
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"file is a file, not a folder, so .*file/sub cannot be created$"):
        check_output_file(tmp_path / "file" / "sub" / "x.nrrd", overwrite=False)
    existing = tmp_path / "x.nrrd"
    existing.write_bytes(b"")
    with pytest.raises(OutputError, match="exists; choose another name"):
        check_output_file(existing, overwrite=False)
    assert check_output_file(existing, overwrite=True) is None


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a POSIX user for whom a 0555 folder is read-only")
def test_check_output_file_read_only_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputError, match=r"locked: cannot write there \(permission denied\)"):
            check_output_file(locked / "x.nrrd", overwrite=False)
    finally:
        locked.chmod(0o755)


def test_new_file_mode_follows_umask():
    previous = os.umask(0o027)
    try:
        assert new_file_mode() == 0o640
    finally:
        os.umask(previous)
    assert new_file_mode() == 0o666 & ~previous


@pytest.mark.parametrize(
    "error, cause",
    [
        (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
        (OSError(errno.EACCES, "Permission denied"), r"permission denied \(read-only folder\?\)"),
        (OSError("pydicom lost the errno: [Errno 28] No space left on device"), "the disk is full"),
        (OSError(errno.ENOENT, "No such file or directory"), "No such file or directory"),
    ],
)
def test_os_errors_become_one_sentence(tmp_path, error, cause):
    target = tmp_path / "out.dcm"
    with pytest.raises(OutputError, match=rf"out\.dcm: cannot write: {cause}$"):
        with os_errors_named(target):
            raise error


def test_os_errors_named_finds_errno_in_the_chain(tmp_path):
    """pydicom re-raises without errno; the cause keeps it."""
    target = tmp_path / "out.dcm"
    with pytest.raises(OutputError, match="cannot write: the file system is read-only"):
        with os_errors_named(target):
            try:
                raise OSError(errno.EROFS, "Read-only file system")
            except OSError as inner:
                raise OSError("write failed") from inner


def test_staged_series_swaps_the_whole_series(tmp_path):
    """A new series with fewer files replaces the old one entirely (no stale layer stays)."""
    for name in ("LabelMapSEG_001.dcm", "LabelMapSEG_002.dcm", "LabelMapSEG_003.dcm"):
        (tmp_path / name).write_text("old")
    (tmp_path / "keep.txt").write_text("unrelated")
    names = ["LabelMapSEG_001.dcm", "LabelMapSEG_002.dcm"]
    with pytest.raises(OutputError, match=r"LabelMapSEG_001\.dcm exists; choose another folder or use --overwrite"):
        with staged_series(tmp_path, names, overwrite=False, replaces="LabelMapSEG_*.dcm"):
            pytest.fail("the block must not run")
    with staged_series(tmp_path, names, overwrite=True, replaces="LabelMapSEG_*.dcm") as staging:
        assert staging.parent == tmp_path and staging.name.startswith(STAGING_PREFIX)
        for name in names:
            (staging / name).write_text("new")
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {
        "LabelMapSEG_001.dcm": "new",
        "LabelMapSEG_002.dcm": "new",
        "keep.txt": "unrelated",
    }


def test_staged_series_failure_keeps_the_old_series(tmp_path):
    (tmp_path / "LabelMapSEG_001.dcm").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with staged_series(tmp_path, ["LabelMapSEG_001.dcm"], overwrite=True, replaces="LabelMapSEG_*.dcm") as staging:
            (staging / "LabelMapSEG_001.dcm").write_text("new")
            raise KeyboardInterrupt
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"LabelMapSEG_001.dcm": "old"}
    # a folder created for the series is removed again when the series fails (here: "a" never written)
    with pytest.raises(OutputError, match="nowhere: cannot write: No such file or directory"):
        with staged_series(tmp_path / "nowhere", ["a"], overwrite=True, replaces="a"):
            pass
    assert not (tmp_path / "nowhere").exists()


def test_remove_stale_staging_removes_only_leftovers(tmp_path):
    (tmp_path / f"{STAGING_PREFIX}abc").mkdir()
    (tmp_path / f"{STAGING_PREFIX}abc" / "half.dcm").write_text("x")
    (tmp_path / f"{STAGING_PREFIX}out.nrrd.123.partial.nrrd").write_text("x")
    (tmp_path / "result.nrrd").write_text("kept")
    remove_stale_staging(tmp_path)
    remove_stale_staging(tmp_path / "absent")  # a missing folder holds no leftovers
    assert [p.name for p in tmp_path.iterdir()] == ["result.nrrd"]


def test_check_output_folder_on_a_read_only_file_system(read_only_folder):
    with pytest.raises(OutputError, match=r"read-only.*: cannot write there \((the file system is read-only|permission denied)\)$"):
        check_output_folder(read_only_folder / "new" / "deeper")
    with pytest.raises(OutputError, match=r"cannot write there"):
        check_output_file(read_only_folder / "x.nrrd", overwrite=False)


def test_check_output_folder_refuses_files(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"file is a file, not a folder; give a folder$"):
        check_output_folder(tmp_path / "file")
    with pytest.raises(OutputError, match=r"file is a file, not a folder, so .*file/a/b cannot be created$"):
        check_output_folder(tmp_path / "file" / "a" / "b")
    assert check_output_folder(tmp_path / "new" / "a") is None and not (tmp_path / "new").exists()  # checked, not created


def test_make_folders_returns_what_it_created_and_remove_keeps_what_holds_files(tmp_path):
    created = make_folders(tmp_path / "a" / "b" / "c")
    assert created == [tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"]
    assert make_folders(tmp_path / "a") == []  # there already
    (tmp_path / "a" / "kept.txt").write_text("x")
    remove_empty_folders(created)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["a", "a/kept.txt"]


@pytest.mark.parametrize("interruption", [OutputError("failed"), KeyboardInterrupt()])
def test_folders_created_are_removed_when_the_body_fails(tmp_path, interruption):
    with pytest.raises(type(interruption)), folders_created(tmp_path / "x" / "y") as created:
        assert created == [tmp_path / "x", tmp_path / "x" / "y"] and (tmp_path / "x" / "y").is_dir()
        raise interruption
    assert list(tmp_path.iterdir()) == []
    with folders_created(tmp_path / "x" / "y"):
        pass
    assert (tmp_path / "x" / "y").is_dir()  # kept on success


def test_atomic_output_creates_missing_parents_and_removes_them_on_failure(tmp_path):
    with atomic_output(tmp_path / "new" / "deeper" / "a.json") as temporary:
        temporary.write_text("{}")
    assert (tmp_path / "new" / "deeper" / "a.json").read_text() == "{}"
    with pytest.raises(OutputError), atomic_output(tmp_path / "other" / "b.json") as temporary:
        raise OutputError("verification failed")
    assert not (tmp_path / "other").exists()


def test_staged_series_creates_its_folder_and_replaces_its_side_files(tmp_path):
    folder = tmp_path / "masks"
    with staged_series(folder, ["a.nrrd", "labels.json"], False, "none", side_files=["labels.json"]) as staging:
        (staging / "a.nrrd").write_text("a")
        (staging / "labels.json").write_text("new")
    assert sorted(p.name for p in folder.iterdir()) == ["a.nrrd", "labels.json"]
    (folder / "a.nrrd").unlink()  # the mask deleted, its table left over: no reason to refuse
    with staged_series(folder, ["a.nrrd", "labels.json"], False, "none", side_files=["labels.json"]) as staging:
        (staging / "a.nrrd").write_text("a2")
        (staging / "labels.json").write_text("newer")
    assert (folder / "labels.json").read_text() == "newer"
    with pytest.raises(OutputError, match=r"a\.nrrd exists; choose another folder or use --overwrite"):
        with staged_series(folder, ["a.nrrd", "labels.json"], False, "none", side_files=["labels.json"]):
            pass


# -- an interrupt right after a temporary file or folder is created ----------------------------------
@pytest.fixture
def ctrl_c():
    """Python's Ctrl-C handler installed (a suite run in the background inherits SIGINT ignored)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _interrupted_after(function):
    """``function``, then SIGINT sent to this process, as when the signal arrives the moment the
    file or folder exists (a test waiting for it to appear sends it then)."""
    import signal

    def wrapper(*arguments, **options):
        result = function(*arguments, **options)
        signal.raise_signal(signal.SIGINT)
        return result

    return wrapper


def test_an_interrupt_right_after_the_staging_folder_appears_leaves_nothing(tmp_path, monkeypatch, ctrl_c):
    import tempfile

    (tmp_path / "LabelMapSEG_001.dcm").write_text("old")
    monkeypatch.setattr(tempfile, "mkdtemp", _interrupted_after(tempfile.mkdtemp))
    with pytest.raises(KeyboardInterrupt):
        with staged_series(tmp_path, ["LabelMapSEG_001.dcm"], True, "LabelMapSEG_*.dcm") as staging:
            (staging / "LabelMapSEG_001.dcm").write_text("new")
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"LabelMapSEG_001.dcm": "old"}


def test_an_interrupt_right_after_the_temporary_file_appears_leaves_nothing(tmp_path, monkeypatch, ctrl_c):
    import tempfile

    monkeypatch.setattr(tempfile, "mkstemp", _interrupted_after(tempfile.mkstemp))
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(tmp_path / "new" / "a.json") as temporary:
            temporary.write_text("{}")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_right_after_the_folders_appear_leaves_none(tmp_path, monkeypatch, ctrl_c):
    import dicomlabelmap.outputs as outputs

    monkeypatch.setattr(outputs, "make_folders", _interrupted_after(outputs.make_folders))
    with pytest.raises(KeyboardInterrupt):
        with folders_created(tmp_path / "a" / "b"):
            pass
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def other_thread():
    """A thread that does not block signals, running beside the test (as a label file reader or a
    pipe drainer does): the kernel may hand it a signal meant for the process."""
    import threading

    stop = threading.Event()
    waiter = threading.Thread(target=stop.wait)
    waiter.start()
    yield waiter
    stop.set()
    waiter.join()


def _interrupted_in(thread, function):
    """``function``, then SIGINT taken by ``thread``; returns once Python's C-level handler has run
    there (it writes the signal to the wake-up descriptor), so that Python would raise the
    KeyboardInterrupt at the very next instruction of the main thread unless it is held."""
    import signal

    def wrapper(*arguments, **options):
        result = function(*arguments, **options)
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        try:
            signal.pthread_kill(thread.ident, signal.SIGINT)
            assert os.read(read_end, 1) == bytes([signal.SIGINT])  # the event: the handler has run
        finally:
            signal.set_wakeup_fd(previous)
            os.close(read_end)
            os.close(write_end)
        return result

    return wrapper


def test_an_interrupt_taken_by_another_thread_is_held_back_too(tmp_path, monkeypatch, ctrl_c, other_thread):
    """CI once found a staging folder left behind: the interrupt came while it was created with
    the signals blocked in the main thread only; another thread took it, and Python raised it in
    the main thread all the same, before the folder was remembered for cleanup."""
    import tempfile

    from dicomlabelmap.outputs import signals_held

    (tmp_path / "LabelMapSEG_001.dcm").write_text("old")
    monkeypatch.setattr(tempfile, "mkdtemp", _interrupted_in(other_thread, tempfile.mkdtemp))
    with pytest.raises(KeyboardInterrupt):
        with staged_series(tmp_path, ["LabelMapSEG_001.dcm"], True, "LabelMapSEG_*.dcm") as staging:
            (staging / "LabelMapSEG_001.dcm").write_text("new")
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"LabelMapSEG_001.dcm": "old"}

    done = []
    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            _interrupted_in(other_thread, done.append)("body finished")
            done.append("after the signal")
    assert done == ["body finished", "after the signal"]

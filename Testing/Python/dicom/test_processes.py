"""Layer 1: work split with a forked helper process (the command line's way on Linux) gives
what one process gives, in order; the helper is reaped on success and on failure. JPEG-LS
frames of a Label Map SEG encoded by two processes are the very bytes one process encodes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import child_processes
from dicomlabelmap.dicom.codecs import TransferSyntax
from dicomlabelmap.dicom.processes import can_fork, map_in_two_processes
from dicomlabelmap.seg.writer import _encode_frames

pytestmark = pytest.mark.skipif(not can_fork(), reason="the helper process is forked on Linux only")


@pytest.fixture(autouse=True)
def no_child_left():
    """Every helper process is reaped: no child of this process is left that was not there before."""
    before = child_processes()
    yield
    assert child_processes() <= before


def test_results_come_back_in_place():
    found = map_in_two_processes(lambda index: {"square": index * index}, [0, 3], [1, 2, 4])
    assert found == {i: {"square": i * i} for i in range(5)}


def test_a_failure_in_either_process_is_raised_and_the_helper_reaped():
    def work(index):
        if index == 2:
            raise ValueError("item 2 is broken")
        return index

    with pytest.raises(ValueError, match="item 2 is broken"):
        map_in_two_processes(work, [0, 1], [2, 3])
    with pytest.raises(ValueError, match="item 2 is broken"):
        map_in_two_processes(work, [2, 3], [0, 1])


def test_jpegls_frames_from_two_processes_are_the_same_bytes():
    pytest.importorskip("jpeg_ls")
    rng = np.random.default_rng(5)
    frames = (rng.random((24, 32, 32)) > 0.6).astype(np.uint8) * rng.integers(1, 9, (24, 1, 1)).astype(np.uint8)
    frames[5] = frames[3]  # repeated frames are encoded once, in either process
    frames[10:14] = 0
    one = _encode_frames(frames, TransferSyntax.JPEG_LS)
    two = _encode_frames(frames, TransferSyntax.JPEG_LS, processes=2)
    assert two == one and two[5] == two[3] and len(set(two[10:14])) == 1


@pytest.mark.parametrize("syntax", [TransferSyntax.JPEG_LS, TransferSyntax.JPEG_2000])
def test_frames_decoded_by_two_processes_are_the_frames_one_process_decodes(syntax, monkeypatch):
    """In batches (made small here: three batches of 16 frames), repeated fragments decoded once."""
    from dicomlabelmap.dicom.codecs import check_encoder
    from dicomlabelmap.errors import MissingDependencyError
    from dicomlabelmap.seg import reader

    try:
        check_encoder(syntax)
    except MissingDependencyError:
        pytest.skip(f"no {syntax.name} codec installed")
    rng = np.random.default_rng(7)
    frames = (rng.random((40, 32, 32)) > 0.6).astype(np.uint8) * rng.integers(1, 9, (40, 1, 1)).astype(np.uint8)
    frames[20:30] = 0
    fragments = _encode_frames(frames, syntax)
    monkeypatch.setattr(reader, "_PARALLEL_BATCH_BYTES", 16 * 32 * 32)
    two = list(reader._frames_in_two_processes(fragments, 32, 32, 8, syntax))
    assert len(two) == 40 and all(np.array_equal(a, b) for a, b in zip(two, frames, strict=True))


def test_alongside_runs_the_first_in_a_thread_and_returns_both():
    import threading

    from dicomlabelmap.dicom.processes import alongside

    here = threading.get_ident()
    (first, first_thread), second = alongside(lambda: ("a", threading.get_ident()), lambda: "b")
    assert (first, second) == ("a", "b") and first_thread != here
    assert first_thread not in {thread.ident for thread in threading.enumerate()}  # joined: none left to take a signal


@pytest.mark.parametrize(("fails", "raised"), [("background", "background"), ("foreground", "foreground"), ("both", "background")])
def test_alongside_raises_as_if_run_one_after_the_other(fails, raised):
    import threading

    from dicomlabelmap.dicom.processes import alongside

    def step(name):
        def run():
            if fails in (name, "both"):
                raise ValueError(name)
            return name

        return run

    with pytest.raises(ValueError, match=f"^{raised}$"):
        alongside(step("background"), step("foreground"))
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("dicomlabelmap-read")]


def test_an_interrupt_is_raised_without_waiting_for_the_thread():
    import threading

    from dicomlabelmap.dicom.processes import alongside

    release = threading.Event()

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        alongside(release.wait, interrupted)
    assert not release.is_set()  # the thread still waits: nothing waited for it
    release.set()

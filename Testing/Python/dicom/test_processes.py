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

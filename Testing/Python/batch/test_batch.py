"""Batch mode over a folder mixing good studies, broken files and non-DICOM files: every good
output produced and verified, every bad input listed with its reason, bounded memory, and a
second run that does no work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from dicomlabelmap.batch.jobs import RESULT_FILE, BatchSettings, OutputFormat
from dicomlabelmap.batch.plan import safe_name
from dicomlabelmap.batch.run import SUMMARY_FILE, run_batch
from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
from dicomlabelmap.seg.reader import read_seg
from dicomlabelmap.seg.writer import SegWriteOptions
from dicomlabelmap.synthetic import write_demo_case


def settings(*formats, scheme=None):
    """The batch settings of a run writing ``formats`` (default Label Map SEG, RLE)."""
    chosen = tuple(OutputFormat(f) for f in formats) or (OutputFormat.LABELMAP_SEG,)
    return BatchSettings(SegWriteOptions(), chosen, scheme=scheme)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("../../evil", "evil"), ("a/b\\c", "a_b_c"), ("..", "unnamed"), ("", "unnamed"), ("CT\x00\x1bname", "CT_name"), ("x" * 300, "x" * 64)],
)
def test_safe_name(text, expected):
    name = safe_name(text)
    assert name == expected
    assert "/" not in name and "\\" not in name and not name.startswith(".")


@pytest.fixture
def mixed_folder(tmp_path):
    root = tmp_path / "in"
    ct1, rs1 = write_demo_case(root / "study1")
    ct2, rs2 = write_demo_case(root / "study2")
    (root / "notes.txt").write_text("not DICOM")
    (root / "empty.dcm").write_bytes(b"")
    data = rs2.read_bytes()
    (root / "study2" / "RS_truncated.dcm").write_bytes(data[: len(data) // 3])
    # An RT Structure Set whose series is absent: listed as failed with the reason.
    lonely = root / "lonely"
    lonely.mkdir()
    shutil.copy(rs1, lonely / "RS_copy.dcm")
    import pydicom

    dataset = pydicom.dcmread(lonely / "RS_copy.dcm")
    dataset.SOPInstanceUID = pydicom.uid.generate_uid()
    dataset.StudyInstanceUID = pydicom.uid.generate_uid()
    dataset.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0].SeriesInstanceUID = "1.2.3"
    dataset.StructureSetLabel = "../../evil"
    dataset.save_as(lonely / "RS_copy.dcm")
    _binary_seg(ct1, rtstruct_to_labels(rs1, ct1).label_volumes[0], root / "study1" / "SEG_binary.dcm")
    return root, (ct1, rs1), (ct2, rs2)


def _binary_seg(ct_dir, volume, path):
    """A BINARY SEG written by highdicom (the peer) from a label layer, one segment per label
    (renumbered 1..n as highdicom requires), with Series Description '../../evil'."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    images = sorted((pydicom.dcmread(p) for p in ct_dir.iterdir()), key=lambda image: float(image.ImagePositionPatient[2]))
    numbers = [s.number for s in volume.segments if (volume.array == s.number).any()]
    masks = np.stack([volume.array == n for n in numbers], axis=-1).astype(np.uint8)
    descriptions = [
        hd.seg.SegmentDescription(k, f"label {n}", codes.SCT.Tissue, codes.SCT.Tissue, hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        for k, n in enumerate(numbers, start=1)
    ]
    seg = hd.seg.Segmentation(
        images,
        masks,
        hd.seg.SegmentationTypeValues.BINARY,
        descriptions,
        hd.UID(),
        5,
        hd.UID(),
        1,
        "test",
        "test",
        "1",
        "0",
        series_description="../../evil",
    )
    seg.save_as(path)
    return numbers


def test_batch_converts_good_inputs_and_lists_bad_ones(mixed_folder, tmp_path):
    root, (ct1, rs1), (ct2, rs2) = mixed_folder
    out = tmp_path / "out"
    seen = []
    summary = run_batch(
        root, out, settings("labelmap-seg", "seg.nrrd"), jobs=2, on_result=lambda r, done, total: seen.append((done, total))
    )
    by_input = {r.input.split("/in/")[1]: r for r in summary.results}
    assert by_input["study1/RS_demo.dcm"].status == "ok"
    assert by_input["study2/RS_demo.dcm"].status == "ok"
    assert by_input["study1/SEG_binary.dcm"].status == "ok"
    assert by_input["study2/RS_truncated.dcm"].status == "failed" and by_input["study2/RS_truncated.dcm"].reason
    assert by_input["lonely/RS_copy.dcm"].status == "failed" and "no image series" in by_input["lonely/RS_copy.dcm"].reason
    assert summary.not_converted.get("not DICOM") == 2  # notes.txt and the empty file, as every reader says
    assert {reason for path, reason in summary.skipped_files if path.endswith(("notes.txt", "empty.dcm"))} == {
        "not a DICOM file (no DICM marker at byte 128, and it does not start with a DICOM element)",
        "not a DICOM file (it is empty)",
    }
    assert [d for d, _ in seen] == list(range(1, len(summary.results) + 1)) and {t for _, t in seen} == {len(summary.results)}
    # Good outputs are complete and equal to a direct conversion.
    for (ct, rs), key in (((ct1, rs1), "study1/RS_demo.dcm"), ((ct2, rs2), "study2/RS_demo.dcm")):
        folder = tmp_path / by_input[key].output_dir
        expected = rtstruct_to_labels(rs, ct)
        segs = sorted(folder.glob("LabelMapSEG_*.dcm"))
        assert len(segs) == len(expected.label_volumes) and (folder / "labels.seg.nrrd").exists()
        for path, volume in zip(segs, expected.label_volumes, strict=True):
            np.testing.assert_array_equal(read_seg(path, expected.reference).volumes[0].array, volume.array)
        assert json.loads((folder / RESULT_FILE).read_text())["outputs"]
    # The BINARY SEG became one Label Map SEG on study 1's grid, each label's voxels kept.
    first = rtstruct_to_labels(rs1, ct1)
    layer = first.label_volumes[0]
    numbers = [s.number for s in layer.segments if (layer.array == s.number).any()]
    seg_folder = tmp_path / by_input["study1/SEG_binary.dcm"].output_dir
    assert "evil" in seg_folder.name and ".." not in seg_folder.name
    (converted,) = sorted(seg_folder.glob("*.dcm"))
    (label_map,) = read_seg(converted, first.reference).volumes
    for k, n in enumerate(numbers, start=1):
        np.testing.assert_array_equal(label_map.array == k, layer.array == n)
    # No partial folders; names are sanitised.
    names = [p.name for p in out.iterdir()]
    assert not any(n.endswith(".partial") for n in names)
    assert all(".." not in n and "/" not in n for n in names)
    saved = json.loads((out / SUMMARY_FILE).read_text())
    assert saved["counts"] == {"ok": 3, "failed": 2}
    # A second run does no work: finished inputs are skipped, outputs untouched.
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("LabelMapSEG_*.dcm")}
    again = run_batch(root, out, settings("labelmap-seg", "seg.nrrd"), jobs=2)
    assert sorted(r.status for r in again.results) == ["failed", "failed"] + ["skipped (done before)"] * 3
    assert {p: p.stat().st_mtime_ns for p in out.rglob("LabelMapSEG_*.dcm")} == stamps
    # Asked to overwrite, it converts them again and replaces the folders whole.
    redone = run_batch(root, out, settings("labelmap-seg"), jobs=2, overwrite=True)
    assert sorted(r.status for r in redone.results) == ["failed", "failed", "ok", "ok", "ok"]
    for result in redone.results:
        if result.status == "ok":
            folder = tmp_path / result.output_dir
            assert sorted(p.name for p in folder.iterdir()) == sorted([*result.outputs, RESULT_FILE])
            assert not (folder / "labels.seg.nrrd").exists()  # the earlier run's extra output is gone
    assert not any(p.name.endswith(".partial") for p in out.iterdir())


def test_batch_command_line_and_bounded_memory(mixed_folder, tmp_path):
    root, *_ = mixed_folder
    out = tmp_path / "cli-out"
    code = (
        "import resource, subprocess, sys; "
        "r = subprocess.run([sys.executable, '-m', 'dicomlabelmap', 'batch', sys.argv[1], sys.argv[2], '--json', '-j', '2'], "
        "capture_output=True, text=True); "
        "print(r.returncode); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(r.stdout)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(root), str(out)], capture_output=True, text=True, check=True)
    returncode, peak_kib, report = result.stdout.split("\n", 2)
    assert int(returncode) == 3  # some inputs failed
    assert json.loads(report)["counts"] == {"ok": 3, "failed": 2}
    # Each process (main or worker) stays small for this data; workers are replaced per job.
    assert int(peak_kib) < 600 * 1024, f"peak RSS {int(peak_kib) / 1024:.0f} MiB"


def crashing_runner(job, settings):
    """Worker stand-in: dies like an out-of-memory kill for 'crash' inputs, raises a bug for
    'bug' inputs, succeeds otherwise (importable by the spawned workers)."""
    import os

    from dicomlabelmap.batch.jobs import JobResult, JobStatus

    name = job.path.rsplit("/", 1)[-1]
    if name.startswith("crash"):
        os._exit(9)
    if name.startswith("bug"):
        raise TypeError("a bug in the converter")
    return JobResult(job.path, job.kind, JobStatus.OK, job.output_dir)


def pid_runner(job, settings):
    from dicomlabelmap.batch.jobs import JobResult, JobStatus

    return JobResult(job.path, job.kind, JobStatus.OK, job.output_dir, reason=f"{os.getpid()} {'dicomlabelmap.seg.convert' in sys.modules}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is how Linux starts workers; others spawn")
def test_workers_are_forked_with_the_conversion_modules_when_no_other_thread_runs(tmp_path):
    """One fresh process per job, forked from a process that has imported what jobs use (no
    half-second start-up per job); with another thread running, fork is unsafe and they are spawned."""
    import threading

    from dicomlabelmap.batch.jobs import InputKind, Job
    from dicomlabelmap.batch.pool import PRELOAD, _context, run_pool

    jobs = [Job(InputKind.RTSTRUCT, f"{tmp_path}/{n}", [], str(tmp_path / n)) for n in ("a", "b", "c")]
    if threading.active_count() == 1:
        assert _context().get_start_method() == "fork" and all(name in sys.modules for name in PRELOAD)
        results = run_pool(jobs, settings(), 2, lambda r: None, runner=pid_runner)
        pids = {r.reason.split()[0] for r in results}
        assert len(pids) == 3 and str(os.getpid()) not in pids and {r.reason.split()[1] for r in results} == {"True"}
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert _context().get_start_method() == "spawn"
    finally:
        release.set()
        other.join()


def test_a_dying_worker_fails_only_its_own_input(tmp_path):
    """Each job has its own worker process: one that dies mid-job (here: exit code 9, as an
    out-of-memory kill would) fails only its own input, with the reason, and its staging folder
    is removed; an exception in a worker fails only that input. No timing is involved: the
    worker's closed pipe says which job it was."""
    from dicomlabelmap.batch.jobs import InputKind, Job
    from dicomlabelmap.batch.pool import run_pool

    names = ["a1", "crash1", "a2", "a3", "bug1", "a4", "crash2", "a5"]
    jobs = []
    for name in names:
        folder = tmp_path / name
        (tmp_path / f"{name}.partial").mkdir()
        jobs.append(Job(InputKind.RTSTRUCT, f"{tmp_path}/{name}", [], str(folder)))
    seen = []
    results = run_pool(jobs, settings(), 2, seen.append, runner=crashing_runner)
    by_name = {r.input.rsplit("/", 1)[-1]: r for r in results}
    assert sorted(by_name) == sorted(names) and len(results) == len(names) == len(seen)
    for name, result in by_name.items():
        if name.startswith("crash"):
            assert result.status == "failed" and result.reason == (
                "the worker process died while converting it (crash or out of memory; exit code 9)"
            )
            assert not (tmp_path / f"{name}.partial").exists()
        elif name.startswith("bug"):
            assert result.status == "failed" and result.reason == "internal error TypeError: a bug in the converter"
        else:
            assert result.status == "ok", (name, result)


def blocking_runner(job, settings):
    """Worker stand-in: writes ``<input>.started`` holding its process id, then waits until
    ``<input>.release`` appears (at most 60 s; the tests release it or kill the worker)."""
    import os
    import time

    from dicomlabelmap.batch.jobs import JobResult, JobStatus

    Path(f"{job.path}.started").write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while not Path(f"{job.path}.release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return JobResult(job.path, job.kind, JobStatus.OK, job.output_dir, reason="released")


def _wait_for(path: Path, limit: float = 60) -> str:
    """The contents of ``path`` once it appears (the guard only stops a hang)."""
    import time

    deadline = time.monotonic() + limit
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.01)
    return path.read_text()


def _jobs(tmp_path, names):
    from dicomlabelmap.batch.jobs import InputKind, Job

    return [Job(InputKind.RTSTRUCT, str(tmp_path / name), [], str(tmp_path / f"{name}-out")) for name in names]


def test_an_interrupt_kills_the_running_workers_at_once(tmp_path, capfd):
    """SIGINT while a worker is busy: run_pool kills it (it would otherwise wait 60 s), joins it,
    keeps the results already in, and lets the interrupt through; nothing is printed."""
    import os
    import signal
    import threading
    import time

    from dicomlabelmap.batch.pool import run_pool

    collected: list = []
    (tmp_path / "quick.release").write_text("go")

    def interrupt_when_blocked() -> None:
        _wait_for(tmp_path / "slow.started")
        _wait_for(tmp_path / "quick.started")
        deadline = time.monotonic() + 60
        while not collected and time.monotonic() < deadline:  # the quick job's result is in
            time.sleep(0.01)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    # Ctrl-C as a terminal gives it (a suite started in the background inherits SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    sender = threading.Thread(target=interrupt_when_blocked, daemon=True)
    sender.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_pool(_jobs(tmp_path, ["slow", "quick", "later"]), settings(), 2, lambda r: None, blocking_runner, collected)
    finally:
        signal.signal(signal.SIGINT, previous)
    sender.join(timeout=60)
    pid = int((tmp_path / "slow.started").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped, not left running
    assert [(Path(r.input).name, r.reason) for r in collected] == [("quick", "released")]
    assert not (tmp_path / "later.started").exists()  # never started
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_workers_ignore_a_terminal_interrupt_and_finish(tmp_path, capfd):
    """A Ctrl-C in a terminal reaches the whole process group; the workers leave it to the batch
    process (which stops them itself), so a worker sent SIGINT or SIGTERM keeps converting and
    prints nothing."""
    import os
    import signal
    import threading

    from dicomlabelmap.batch.pool import run_pool

    def signal_then_release() -> None:
        pid = int(_wait_for(tmp_path / "job.started"))
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        (tmp_path / "job.release").write_text("go")

    sender = threading.Thread(target=signal_then_release, daemon=True)
    sender.start()
    (result,) = run_pool(_jobs(tmp_path, ["job"]), settings(), 1, lambda r: None, blocking_runner)
    sender.join(timeout=60)
    assert (result.status, result.reason) == ("ok", "released")
    assert "Traceback" not in capfd.readouterr().err


def test_the_summary_table_stays_aligned_with_wide_and_odd_input_names(tmp_path):
    """Input paths in Chinese take two terminal columns a character; a tab in a name is shown
    escaped: the reason column starts at the same terminal column on every row."""
    from dicomlabelmap.batch.jobs import InputKind, JobResult, JobStatus
    from dicomlabelmap.batch.run import BatchSummary
    from dicomlabelmap.files.report import display_width

    results = [
        JobResult("/data/患者一/RS.dcm", InputKind.RTSTRUCT, JobStatus.OK, outputs=["a"]),
        JobResult("/data/patient-2/RS.dcm", InputKind.RTSTRUCT, JobStatus.FAILED, reason="no image series found"),
        JobResult("/data/p\t3/SEG.dcm", InputKind.SEG, JobStatus.OK),
    ]
    lines = BatchSummary(results, {}).table().splitlines()
    starts = set()
    for line, result in zip(lines[2:], results, strict=True):
        detail = result.reason or f"{len(result.outputs)} file(s)"
        starts.add(display_width(line[: line.index(detail)]))
    assert len(starts) == 1, lines
    assert "/data/p\\t3/SEG.dcm" in lines[4] and "\t" not in "".join(lines)
    assert display_width(lines[1]) == display_width(lines[0])


def test_batch_skip_bad_contours_and_a_rerun_with_the_option_converts_again(tmp_path, capsys):
    """``batch --skip-bad-contours``: the option reaches the workers (exact masks), and an input
    finished without it is converted again when the option is added (then skipped)."""
    from dicomlabelmap.cli.main import main
    from dicomlabelmap.files.labelfiles import read_label_file
    from test_skip_bad_contours import BROKEN, _expected, write_case

    write_case(tmp_path / "in")
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "in"), str(out), "--format", "seg.nrrd", "-j", "1"]) == 3  # written, an ROI failed
    assert "3 ERROR(s): an ROI failed" in capsys.readouterr().out
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    (layer,) = read_label_file(folder / "labels.seg.nrrd")
    assert not (layer.array == 1).any()  # Box failed: one bad contour costs the ROI
    assert json.loads((folder / RESULT_FILE).read_text())["errors"] == 3
    assert main(["batch", str(tmp_path / "in"), str(out), "--format", "seg.nrrd", "-j", "1", "--skip-bad-contours"]) == 0
    (layer,) = read_label_file(folder / "labels.seg.nrrd")
    np.testing.assert_array_equal(layer.array == 1, _expected((0, 6, 7), 2.5, 9.5))
    result = json.loads((folder / RESULT_FILE).read_text())
    assert result["raster_options"] == {"skip_bad_contours": True}
    assert sum("the contour is left out (--skip-bad-contours)" in w for w in result["warnings"]) == len(BROKEN)
    summary = run_batch(tmp_path / "in", out, BatchSettings(SegWriteOptions(), (OutputFormat.SEG_NRRD,), raster_options=_skip()))
    assert [r.status for r in summary.results] == ["skipped (done before)"]


def _skip():
    from dicomlabelmap.rtstruct.rasterize import RasterOptions

    return RasterOptions(skip_bad_contours=True)

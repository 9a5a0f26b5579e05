"""Batch conversion on a Dask cluster (issue 15), on a LocalCluster of 2 worker processes: the
same outputs and summary as the local batch, planning on the workers finds the same inputs, a
dying worker fails only its input (retried once on another worker), a task past its memory limit
fails alone with that reason, interrupting the client leaves no partial folder and a re-run
completes the rest, and each worker's peak memory stays bounded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_batch import mixed_folder, settings  # noqa: F401 - the fixture of the local batch tests
from test_operations import _batch_input, interruptible, wait_for_first_result

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (pip install 'dicomlabelmap[dask]')")

from dicomlabelmap.batch.cluster import ClusterSpec, cluster_client, parse_scheduler, plan_on_cluster, run_on_cluster  # noqa: E402
from dicomlabelmap.batch.jobs import RESULT_FILE, InputKind, Job, JobResult, JobStatus  # noqa: E402
from dicomlabelmap.batch.plan import jobs_from_records, plan  # noqa: E402
from dicomlabelmap.batch.run import SUMMARY_FILE, run_batch  # noqa: E402
from dicomlabelmap.errors import DicomLabelMapError  # noqa: E402

pytestmark = pytest.mark.peer
TWO_WORKERS = ClusterSpec(None, 2, 2 * 2**30)


def _comparable(summary, root: Path, out: Path) -> list[tuple]:
    return sorted(
        (
            os.path.relpath(r.input, root),
            r.status,
            os.path.relpath(r.output_dir, out),
            tuple(r.outputs),
            r.reason.replace(str(root), "ROOT"),
        )
        for r in summary.results
    )


def test_cluster_batch_gives_the_outputs_and_summary_of_the_local_batch(mixed_folder, tmp_path):  # noqa: F811
    root, *_ = mixed_folder
    local = run_batch(root, tmp_path / "local", settings("labelmap-seg", "seg.nrrd"), jobs=2)
    seen = []
    clustered = run_batch(
        root,
        tmp_path / "cluster",
        settings("labelmap-seg", "seg.nrrd"),
        cluster=TWO_WORKERS,
        on_result=lambda r, done, total: seen.append((done, total)),
    )
    assert _comparable(clustered, root, tmp_path / "cluster") == _comparable(local, root, tmp_path / "local")
    assert clustered.not_converted == local.not_converted and clustered.skipped_files == local.skipped_files
    assert [d for d, _ in seen] == list(range(1, len(clustered.results) + 1))
    saved = json.loads((tmp_path / "cluster" / SUMMARY_FILE).read_text())
    assert saved["counts"] == {"ok": 3, "failed": 2}
    for result in clustered.results:
        if result.status == "ok":
            folder = Path(result.output_dir)
            twin = tmp_path / "local" / folder.name
            assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in twin.iterdir())
            assert all(
                (folder / name).stat().st_size == (twin / name).stat().st_size for name in result.outputs if name.endswith(".seg.nrrd")
            )
    assert not [p for p in (tmp_path / "cluster").iterdir() if p.name.endswith(".partial")]
    # resume: a second run on the cluster skips what is done
    again = run_batch(root, tmp_path / "cluster", settings("labelmap-seg", "seg.nrrd"), cluster=TWO_WORKERS)
    assert sorted(r.status for r in again.results) == ["failed", "failed"] + ["skipped (done before)"] * 3


def test_planning_on_the_cluster_finds_what_local_planning_finds(mixed_folder, tmp_path):  # noqa: F811
    root, *_ = mixed_folder
    out = (tmp_path / "out").resolve()
    skipped_local: list = []
    local_jobs, local_other = plan(root, out, skipped_local)
    with cluster_client(TWO_WORKERS) as client:
        records = plan_on_cluster(client, root, out)
        # the headers were read by the workers, not by this process
        assert client.run(lambda: os.getpid()) and all(r["path"].startswith(str(root)) for r in records)
    skipped_cluster: list = []
    cluster_jobs, cluster_other = jobs_from_records(records, out, skipped_cluster)
    assert [(j.kind, j.path, j.reference_files, j.output_dir) for j in cluster_jobs] == [
        (j.kind, j.path, j.reference_files, j.output_dir) for j in local_jobs
    ]
    assert cluster_other == local_other and sorted(skipped_cluster) == sorted(skipped_local)


def dying_runner(job, settings):
    """Worker stand-in (importable by the workers): records each attempt, dies like a killed
    process for 'crash' inputs, holds far more memory than allowed for 'hog' inputs."""
    import numpy as np

    name = job.path.rsplit("/", 1)[-1]
    with open(f"{job.path}.attempts", "a") as file:
        file.write(f"{os.getpid()}\n")
    if name.startswith("crash"):
        os._exit(9)
    if name.startswith("hog"):
        hog = np.ones(900 * 2**20 // 8)  # 900 MiB, touched
        deadline = time.monotonic() + 60  # until the nanny kills this worker (the bound only stops a hang)
        while time.monotonic() < deadline:
            time.sleep(0.05)
        return JobResult(job.path, job.kind, JobStatus.OK, job.output_dir, reason=str(hog.sum()))
    return JobResult(job.path, job.kind, JobStatus.OK, job.output_dir)


def _jobs(tmp_path, names):
    jobs = []
    for name in names:
        (tmp_path / f"{name}.partial").mkdir()
        jobs.append(Job(InputKind.RTSTRUCT, f"{tmp_path}/{name}", [], str(tmp_path / name)))
    return jobs


def test_a_dying_worker_fails_only_its_input_after_one_retry(tmp_path):
    names = ["a1", "crash1", "a2", "a3", "a4", "a5"]
    results: list[JobResult] = []
    with cluster_client(TWO_WORKERS) as client:
        run_on_cluster(client, _jobs(tmp_path, names), settings(), results.append, TWO_WORKERS, runner=dying_runner)
    by_name = {r.input.rsplit("/", 1)[-1]: r for r in results}
    assert sorted(by_name) == sorted(names)
    crash = by_name["crash1"]
    assert crash.status == "failed" and "the worker died while converting it, also when retried on another worker" in crash.reason
    attempts = (tmp_path / "crash1.attempts").read_text().split()
    assert len(attempts) == 2 and attempts[0] != attempts[1]  # retried once, in another process
    assert not (tmp_path / "crash1.partial").exists()
    assert all(by_name[n].status == "ok" for n in names if n != "crash1")


def test_a_task_past_its_memory_limit_fails_alone_with_that_reason(tmp_path):
    spec = ClusterSpec(None, 2, 600 * 2**20)
    results: list[JobResult] = []
    with cluster_client(spec) as client:
        run_on_cluster(client, _jobs(tmp_path, ["b1", "hog1", "b2", "b3"]), settings(), results.append, spec, runner=dying_runner)
    by_name = {r.input.rsplit("/", 1)[-1]: r for r in results}
    assert by_name["hog1"].status == "failed" and "more memory than --memory-per-task 600 MiB" in by_name["hog1"].reason
    assert [by_name[n].status for n in ("b1", "b2", "b3")] == ["ok"] * 3


def test_peak_memory_per_worker_is_bounded(mixed_folder, tmp_path):  # noqa: F811
    root, *_ = mixed_folder
    spec = ClusterSpec(None, 2, 1 * 2**30)
    with cluster_client(spec) as client:
        from dicomlabelmap.batch.cluster import run_on_cluster as run

        skipped: list = []
        jobs, _ = plan(root, (tmp_path / "out").resolve(), skipped)
        results: list[JobResult] = []
        run(client, jobs, settings("labelmap-seg", "seg.nrrd"), results.append, spec)
        # VmHWM: this process's own high-water mark (ru_maxrss would include the parent's, kept
        # across fork and exec)
        peaks = client.run(lambda: int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))))
    assert sorted(r.status for r in results) == ["failed", "failed", "ok", "ok", "ok"]
    assert len(peaks) == 2
    for worker, peak_kib in peaks.items():
        assert peak_kib * 1024 < spec.memory_per_task * 0.6, f"{worker}: peak RSS {peak_kib / 1024:.0f} MiB"


def test_interrupting_the_client_leaves_no_partial_folder_and_a_rerun_completes(tmp_path):
    root, out = _batch_input(tmp_path, 12), tmp_path / "out"
    command = [sys.executable, "-m", "dicomlabelmap", "batch", str(root), str(out), "--scheduler", "local:2", "--json"]
    process = interruptible(command)
    wait_for_first_result(out)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)  # only a guard against a hang
    if process.returncode == 0:
        pytest.skip("the batch finished before the interrupt arrived")
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert not [p for p in folders if p.name.endswith(".partial")]
    assert all((p / RESULT_FILE).exists() for p in folders)  # every folder there is complete
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert summary["counts"].get("not run (interrupted)", 0) >= 1
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    counts = json.loads(again.stdout)["counts"]
    assert counts.get("ok", 0) + counts.get("skipped (done before)", 0) == 12 and counts.get("ok", 0) >= 1


@pytest.mark.parametrize(
    ("text", "message"),
    [("foo", "give local, local:N or a scheduler address"), ("local:0", "at least one worker")],
)
def test_wrong_scheduler_arguments_are_one_sentence(text, message):
    with pytest.raises(DicomLabelMapError, match=message):
        parse_scheduler(text)
    assert parse_scheduler("local:3").workers == 3 and parse_scheduler("tcp://head:8786").address == "tcp://head:8786"
    with pytest.raises(DicomLabelMapError, match="give a size such as 4GiB"):
        parse_scheduler("local", "lots")


def test_planning_spreads_an_archive_under_one_top_folder(tmp_path):
    from dicomlabelmap.batch.cluster import _scan_units

    for index in range(3):
        (tmp_path / "archive" / "all" / f"p{index}" / "ct").mkdir(parents=True)
    (tmp_path / "archive" / "README.txt").write_text("x")
    (tmp_path / "archive" / "all" / "index.csv").write_text("x")
    folders, files = _scan_units(tmp_path / "archive", (tmp_path / "out").resolve(), wanted=3)
    assert [f.name for f in folders] == ["p0", "p1", "p2"]  # one level below the single top folder
    assert sorted(Path(f).name for f in files) == ["README.txt", "index.csv"]
    folders, files = _scan_units(tmp_path / "archive", (tmp_path / "out").resolve(), wanted=1)
    assert folders == [tmp_path / "archive"] and files == []


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_scheduler_fails_at_once_and_leaves_no_folder(mixed_folder, tmp_path):  # noqa: F811
    """Nothing listening at the address: one sentence, exit code 1, no output folder created
    (Dask's client alone would keep trying for 30 s)."""
    root, *_ = mixed_folder
    address = f"tcp://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "dicomlabelmap", "batch", str(root), str(tmp_path / "new" / "out"), "--scheduler", address],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.monotonic() - started < 25, "the client waited instead of failing at once"
    assert (
        result.returncode == 1
        and result.stderr == f"dicomlabelmap: error: --scheduler {address}: cannot reach the scheduler (Connection refused)\n"
    )
    assert not (tmp_path / "new").exists()
    with pytest.raises(DicomLabelMapError, match=r"cannot reach the scheduler \(Connection refused\)$"):
        run_batch(root, tmp_path / "lib" / "out", settings(), cluster=ClusterSpec(address, 0, 2**30))
    assert not (tmp_path / "lib").exists()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("150MiB", "150 MiB"),
        ("4GiB", "4 GiB"),
        ("1.5GiB", "1.5 GiB"),
        ("500MB", "500 MB"),
        ("2e9", "2 GB"),
        ("100000000", "100 MB"),
        ("123456789", "118 MiB"),
        ("600MiB", "600 MiB"),
    ],
)
def test_memory_per_task_is_echoed_in_the_unit_given(text, shown):
    assert parse_scheduler("local:1", text).memory_text == shown


def test_quiet_dask_logs_covers_the_levels_distributed_sets_itself():
    """Without -v, no record below CRITICAL from Dask's parts reaches stderr, also from the loggers
    to which importing ``distributed`` gives a level of their own (a lost-connection traceback
    from ``tornado.application`` once broke an interrupted run's one-line output)."""
    import logging

    pytest.importorskip("distributed")
    from dicomlabelmap.batch.cluster import DASK_LOGGERS, quiet_dask_logs

    names = {name for name in logging.root.manager.loggerDict if name.split(".")[0] in ("distributed", "tornado", "asyncio")}
    own_level = {name for name in names if logging.getLogger(name).level not in (logging.NOTSET, logging.CRITICAL)}
    before = {name: logging.getLogger(name).level for name in (*DASK_LOGGERS, *names)}
    try:
        quiet_dask_logs()
        assert "tornado.application" in DASK_LOGGERS
        assert all(logging.getLogger(name).getEffectiveLevel() == logging.CRITICAL for name in (*DASK_LOGGERS, *own_level))
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)

"""Running in pipelines and by hand: interrupts (SIGINT, SIGTERM) sent to real processes,
series replaced whole, permissions from the umask, full disks, decompression bombs under a
memory limit, and the command line's messages, asserted by text."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import axial_geometry
from dicomlabelmap.cli.common import EXIT_ERROR, EXIT_OK
from dicomlabelmap.cli.main import main
from dicomlabelmap.files.labelfiles import read_label_file, write_label_file
from dicomlabelmap.model.labels import LabelVolume
from dicomlabelmap.model.segment import Segment
from dicomlabelmap.synthetic import SyntheticContour, SyntheticRoi, make_image_series, make_rtstruct, save, write_demo_case

CLI = [sys.executable, "-m", "dicomlabelmap"]


def _default_signals() -> None:
    """In the child: SIGINT and SIGTERM as a terminal gives them. A test run started in the
    background (nohup, CI) passes SIGINT on ignored, and the command would then rightly
    ignore the Ctrl-C these tests send."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def interruptible(command: list[str]) -> subprocess.Popen:
    """The command started as from a terminal, its output captured."""
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals)  # noqa: PLW1509


def _layers(geometry, count, seed):
    rng = np.random.default_rng(seed)
    volumes = []
    for layer in range(count):
        array = (rng.random(geometry.shape) > 0.5).astype(np.uint8) * (layer + 1)
        volumes.append(LabelVolume(array, geometry, [Segment(layer + 1, f"S{layer + 1}")]))
    return volumes


@pytest.fixture(scope="module")
def series_case(tmp_path_factory):
    """A CT of 40x256x256 and two label files: 3 layers (old series) and 2 layers (new one)."""
    folder = tmp_path_factory.mktemp("series")
    geometry = axial_geometry(shape=(40, 256, 256))
    save(make_image_series(geometry), folder / "ct")
    old, new = folder / "old.seg.nrrd", folder / "new.seg.nrrd"
    write_label_file(old, _layers(geometry, 3, 1))
    write_label_file(new, _layers(geometry, 2, 2))
    return folder


def _series_state(folder: Path) -> tuple[set[str], list[str]]:
    """Series Instance UIDs of the SEG files in ``folder`` and anything else that is there."""
    uids = {str(pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID) for p in folder.glob("LabelMapSEG_*.dcm")}
    others = sorted(p.name for p in folder.iterdir() if not p.name.startswith("LabelMapSEG_"))
    return uids, others


def interruptible_logged(command: list[str], log: Path, new_group: bool = False) -> subprocess.Popen:
    """The command started as from a terminal, stdout and stderr into ``log`` (a file, so that a
    talkative ``-v`` never fills a pipe), in its own process group when asked (to send a
    terminal's Ctrl-C to the group)."""
    with open(log, "w") as handle:
        return subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, text=True, preexec_fn=_default_signals, start_new_session=new_group
        )  # noqa: PLW1509


def wait_until(condition, process: subprocess.Popen, limit: float = 60) -> bool:
    """Until ``condition()`` holds (True) or the process has ended (False); ``limit`` only guards
    against a hang."""
    deadline = time.monotonic() + limit
    while not condition():
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the awaited event did not come"
        time.sleep(0.005)
    return True


def _staging(out: Path) -> list[Path]:
    from dicomlabelmap.outputs import STAGING_PREFIX

    return [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX) and p.is_dir()]


#: When the signal is sent: each phase is awaited as an event (a line printed, a folder or file appearing).
PHASES = {
    "at start": lambda out, log: True,
    "labels read": lambda out, log: "INFO dicomlabelmap.files.labelfiles: read " in log.read_text(),
    "series staged": lambda out, log: bool(_staging(out)),
    "first layer verified": lambda out, log: any((staging / "LabelMapSEG_001.dcm").exists() for staging in _staging(out)),
}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", list(PHASES))
def test_an_interrupted_overwrite_leaves_the_old_series_or_the_new_one(series_case, tmp_path, signum, phase):
    out = tmp_path / "seg"
    assert main(["encode", str(series_case / "old.seg.nrrd"), "-r", str(series_case / "ct"), "-o", str(out)]) == EXIT_OK
    old_files = sorted(p.name for p in out.iterdir())
    assert old_files == ["LabelMapSEG_001.dcm", "LabelMapSEG_002.dcm", "LabelMapSEG_003.dcm"]
    log = tmp_path / "log.txt"
    command = [*CLI, "-v", "encode", str(series_case / "new.seg.nrrd"), "-r", str(series_case / "ct"), "-o", str(out), "--overwrite"]
    process = interruptible_logged(command, log)
    reached = wait_until(lambda: PHASES[phase](out, log), process)
    process.send_signal(signum)
    process.wait(timeout=60)
    stderr = log.read_text()
    uids, others = _series_state(out)
    assert others == [], others  # no staging folder, no temporary file
    assert len(uids) == 1, "a mixed series"
    names = sorted(p.name for p in out.glob("LabelMapSEG_*.dcm"))
    new_files = ["LabelMapSEG_001.dcm", "LabelMapSEG_002.dcm"]
    assert "Traceback" not in stderr, stderr
    if process.returncode == 0:
        assert names == new_files  # the new series, none of the old layers left
    elif process.returncode in (-signum, 130) and "interrupted" not in stderr:
        # the signal came while Python was starting (nothing touched) or exiting (all done)
        assert (phase == "at start" or not reached) and names in (old_files, new_files), stderr
    else:
        assert process.returncode == 130 and "interrupted" in stderr, stderr
        assert names in (old_files, new_files)


def _batch_input(folder: Path, count: int) -> Path:
    source = folder / "in"
    geometry = axial_geometry(shape=(30, 200, 200))
    for index in range(count):
        images = make_image_series(geometry)
        for image in images:
            image.PatientID = f"P{index:02d}"
        square = [[20.5, 20.5], [150.5, 20.5], [150.5, 150.5], [20.5, 150.5]]
        rois = [SyntheticRoi(f"R{r}", [SyntheticContour(k, np.array(square) + r) for k in range(30)]) for r in range(6)]
        (source / f"p{index}").mkdir(parents=True)
        make_rtstruct(images, geometry, rois).save_as(source / f"p{index}" / "RS.dcm", enforce_file_format=True)
        save(images, source / f"p{index}" / "ct")
    return source


def wait_for_first_result(target: Path, limit: float = 120) -> None:
    """Until the first input of a running batch is finished (its folder, renamed into place from
    its staging folder, holds result.json: a staging folder gets result.json before the rename,
    and an interrupt in between rightly leaves nothing); ``limit`` only guards against a hang."""
    from dicomlabelmap.batch.jobs import staging_folder

    staging_suffix = staging_folder(Path("x")).name.removeprefix("x")  # ".partial"

    def finished(folder: Path) -> bool:
        return not folder.name.endswith(staging_suffix) and (folder / "result.json").exists()

    deadline = time.monotonic() + limit
    while not (target.is_dir() and any(finished(p) for p in target.iterdir())):
        assert time.monotonic() < deadline, "no input of the batch finished"
        time.sleep(0.02)


#: How the batch is stopped: a terminal's Ctrl-C (SIGINT to the whole process group, workers
#: included), ``timeout``/``kill`` (SIGTERM to the batch process), Slurm (SIGTERM to every process).
STOPS = {"ctrl-c to the group": (signal.SIGINT, True), "SIGTERM": (signal.SIGTERM, False), "SIGTERM to the group": (signal.SIGTERM, True)}


@pytest.mark.parametrize("stop", list(STOPS))
def test_an_interrupted_batch_stops_at_once_quietly_and_a_rerun_completes_it(tmp_path, stop):
    """Deterministic: the signal is sent once the first input is finished (an event, not a
    delay); the batch then kills its workers instead of letting them finish (checked by their
    process ids, which are gone when it exits), writes the summary, prints one line and no
    library noise, and a second run converts exactly the rest."""
    signum, group = STOPS[stop]
    source = _batch_input(tmp_path, 12)
    target = tmp_path / "out"
    log = tmp_path / "log.txt"
    process = interruptible_logged([*CLI, "-v", "batch", str(source), str(target), "-j", "2"], log, new_group=group)
    wait_for_first_result(target)
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    process.wait(timeout=60)  # only a guard against a hang
    output = log.read_text()
    workers = [int(pid) for pid in re.findall(r"INFO dicomlabelmap\.batch\.pool: worker (\d+) converts ", output)]
    for pid in workers:  # none left running: killed (or finished) and reaped
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    if process.returncode == 0:
        pytest.skip("the batch finished before the signal (a very fast machine)")
    problems = [line for line in output.splitlines() if not line.startswith(("INFO dicomlabelmap.", "dicomlabelmap: interrupted; "))]
    assert process.returncode == 130 and problems == [], output[-3000:]  # no traceback, no leaked-semaphore warning
    assert "summary" in output
    summary = json.loads((target / "batch_summary.json").read_text())
    statuses = [r["status"] for r in summary["results"]]
    assert "not run (interrupted)" in statuses and len(statuses) == 12
    assert not [p for p in target.iterdir() if p.name.endswith(".partial")]
    finished = [r for r in summary["results"] if r["status"] == "ok"]
    for result in summary["results"]:
        folder = Path(result["output_dir"])
        assert (folder / "result.json").exists() if result["status"] == "ok" else not folder.exists()
    again = subprocess.run([*CLI, "batch", str(source), str(target), "-j", "2"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    rerun = json.loads((target / "batch_summary.json").read_text())
    assert sorted(r["status"] for r in rerun["results"]).count("skipped (done before)") == len(finished)
    assert all(r["status"] in ("ok", "skipped (done before)") for r in rerun["results"])


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_get_the_permissions_of_the_umask(tmp_path, umask, mode):
    ct, rtstruct = write_demo_case(tmp_path / "dicom")

    def run(*arguments):
        return subprocess.run([*CLI, *arguments], capture_output=True, text=True, preexec_fn=lambda: os.umask(umask))

    assert (
        run("rtstruct", str(rtstruct), "-r", str(ct), "-o", str(tmp_path / "x.seg.nrrd"), "--preview", str(tmp_path / "p.png")).returncode
        == 0
    )
    assert run("encode", str(tmp_path / "x.seg.nrrd"), "-r", str(ct), "-o", str(tmp_path / "seg")).returncode == 0
    written = [tmp_path / "x.seg.nrrd", tmp_path / "p.png", *sorted((tmp_path / "seg").glob("*.dcm"))]
    assert len(written) == 5
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(mode)}


def test_a_full_disk_is_one_sentence_and_leaves_nothing(tmp_path):
    """RLIMIT_FSIZE makes writes past 50 kB fail as on a full disk (EFBIG)."""
    ct, rtstruct = write_demo_case(tmp_path / "dicom")
    out = tmp_path / "out"
    out.mkdir()

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))

    result = subprocess.run(
        [*CLI, "encode", str(_labels(tmp_path, ct, rtstruct)), "-r", str(ct), "-o", str(out), "-t", "explicit"],
        capture_output=True,
        text=True,
        preexec_fn=limit,
    )
    assert result.returncode == EXIT_ERROR, result.stderr
    assert "file size limit" in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert list(out.iterdir()) == []


def _labels(tmp_path, ct, rtstruct):
    labels = tmp_path / "labels.seg.nrrd"
    if not labels.exists():
        assert main(["rtstruct", str(rtstruct), "-r", str(ct), "-o", str(labels)]) == EXIT_OK
    return labels


def test_a_read_only_output_folder_is_refused_before_any_work(tmp_path, read_only_folder):
    ct, rtstruct = write_demo_case(tmp_path / "dicom")
    result = subprocess.run(
        [*CLI, "rtstruct", str(rtstruct), "-r", str(ct), "-o", str(read_only_folder / "x.seg.nrrd")], capture_output=True, text=True
    )
    assert result.returncode == EXIT_ERROR and "cannot write there" in result.stderr and "Traceback" not in result.stderr
    assert "Reference:" not in result.stdout  # refused before converting


# -- decompression bombs --------------------------------------------------------------------------------
def _deflate_bomb(path: Path, seg: Path, inflated: int) -> None:
    """``seg`` rewritten as a Deflated data set whose Pixel Data claims ``inflated`` bytes of zeros."""
    dataset = pydicom.dcmread(seg)
    header = pydicom.filebase.DicomBytesIO()
    header.is_little_endian, header.is_implicit_VR = True, False
    del dataset.PixelData
    pydicom.filewriter.write_dataset(header, dataset)
    meta = pydicom.filebase.DicomBytesIO()
    meta.is_little_endian, meta.is_implicit_VR = True, False
    meta.write(b"\x00" * 128 + b"DICM")
    dataset.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1.99"
    pydicom.filewriter.write_file_meta_info(meta, dataset.file_meta, enforce_standard=True)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    with open(path, "wb") as handle:
        handle.write(meta.getvalue())
        handle.write(compressor.compress(header.getvalue() + b"\xe0\x7f\x10\x00OB\x00\x00" + inflated.to_bytes(4, "little")))
        zeros = b"\x00" * (1 << 22)
        for _ in range(inflated // len(zeros)):
            handle.write(compressor.compress(zeros))
        handle.write(compressor.flush())


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bomb")
    ct, rtstruct = write_demo_case(folder / "dicom")
    assert main(["rtstruct", str(rtstruct), "-r", str(ct), "-o", str(folder / "l.seg.nrrd")]) == EXIT_OK
    assert main(["encode", str(folder / "l.seg.nrrd"), "-r", str(ct), "-o", str(folder / "seg")]) == EXIT_OK
    (folder / "in").mkdir()
    path = folder / "in" / "bomb.dcm"
    _deflate_bomb(path, sorted((folder / "seg").glob("*.dcm"))[0], 2 << 30)
    assert path.stat().st_size < 4_000_000
    return path


@pytest.mark.parametrize("command", ["series", "info", "decode", "batch"])
def test_a_deflate_bomb_is_refused_within_a_memory_limit(bomb, tmp_path, command):
    """A 2 MB file that inflates to 2 GiB: every command refuses it (or skips it) under a
    600 MB address-space limit, with the reason, no traceback."""
    arguments = {
        "series": ["series", str(bomb.parent)],
        "info": ["info", str(bomb)],
        "decode": ["decode", str(bomb), "-o", str(tmp_path / "x.seg.nrrd")],
        "batch": ["batch", str(bomb.parent), str(tmp_path / "out"), "-j", "1"],
    }[command]

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))

    result = subprocess.run([*CLI, *arguments], capture_output=True, text=True, preexec_fn=limit, timeout=300)
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr, result.stderr
    text = result.stdout + result.stderr
    assert "inflates to more than" in text or "exceeds resource limits" in text, text
    if command in ("info", "decode"):
        assert result.returncode == EXIT_ERROR


# -- the command line's messages ------------------------------------------------------------------------------------
@pytest.fixture
def demo(tmp_path):
    return write_demo_case(tmp_path / "dicom")


def test_reference_option_in_any_order_and_repeated(demo, tmp_path, capsys):
    ct, rtstruct = demo
    assert main(["rtstruct", "-r", str(ct), str(rtstruct), "-o", str(tmp_path / "a.seg.nrrd")]) == EXIT_OK
    files = sorted(ct.glob("*"))
    half = len(files) // 2
    command = ["rtstruct", str(rtstruct), "-o", str(tmp_path / "b.seg.nrrd")]
    command += [a for f in files[:half] for a in ("-r", str(f))] + ["-r", str(files[half].parent)]
    assert main(command) == EXIT_OK
    np.testing.assert_array_equal(read_label_file(tmp_path / "a.seg.nrrd")[0].array, read_label_file(tmp_path / "b.seg.nrrd")[0].array)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda ct, rs, t: ["rtstruct", str(ct), "-r", str(ct), "-o", str(t / "x.seg.nrrd")],
            "is a folder; give the RT Structure Set file",
        ),
        (lambda ct, rs, t: ["rtstruct", str(rs), "-r", str(ct), "-o", str(t)], "is a folder; give a file name ending in .seg.nrrd"),
        (lambda ct, rs, t: ["rtstruct", str(rs), "-r", str(ct), "-o", str(t / "x.txt")], "unknown output type '.txt'"),
        (
            lambda ct, rs, t: ["rtstruct", str(rs), "-r", str(ct), "-o", str(t / "x.seg.nrrd"), "--preview", str(t / "p.txt")],
            "give a file name ending in .png",
        ),
        (lambda ct, rs, t: ["rtstruct", str(rs), "-r", str(ct), "-o", str(t / "x.nrrd")], "(--split-layers)"),
        (lambda ct, rs, t: ["encode", str(t), "-r", str(ct), "-o", str(t / "seg")], "is a folder; give the label file"),
        (lambda ct, rs, t: ["decode", str(rs), "-o", str(t / "x.seg.nrrd")], "not a Segmentation"),
    ],
)
def test_messages_name_the_problem_and_the_option(demo, tmp_path, capsys, build, message):
    ct, rtstruct = demo
    assert main(build(ct, rtstruct, tmp_path)) == EXIT_ERROR
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and "Traceback" not in error, error
    assert not (tmp_path / "seg").exists()  # a failed command leaves no empty output folder


def test_existing_output_names_the_overwrite_option(demo, tmp_path, capsys):
    ct, rtstruct = demo
    (tmp_path / "x.seg.nrrd").write_text("keep")
    assert main(["rtstruct", str(rtstruct), "-r", str(ct), "-o", str(tmp_path / "x.seg.nrrd")]) == EXIT_ERROR
    assert "use --overwrite" in capsys.readouterr().err and (tmp_path / "x.seg.nrrd").read_text() == "keep"


def test_missing_study_instance_uid_is_named(demo, tmp_path, capsys):
    ct, rtstruct = demo
    assert main(["rtstruct", str(rtstruct), "-r", str(ct), "-o", str(tmp_path / "x.seg.nrrd")]) == EXIT_OK
    for path in ct.glob("*"):
        dataset = pydicom.dcmread(path)
        dataset.StudyInstanceUID = ""
        dataset.save_as(path)
    capsys.readouterr()
    assert main(["encode", str(tmp_path / "x.seg.nrrd"), "-r", str(ct), "-o", str(tmp_path / "seg")]) == EXIT_ERROR
    assert "no Study Instance UID (0020,000D)" in capsys.readouterr().err and not (tmp_path / "seg").exists()


@pytest.mark.parametrize("flip", [(0,), (1,), (0, 2), ()], ids=["k", "j", "k-i", "transposed"])
def test_a_nifti_with_flipped_or_swapped_axes_is_reoriented_not_resampled(demo, tmp_path, capsys, flip):
    """The same voxel centres in another axis order or direction: encode swaps/reverses the
    array to the reference grid (exact voxels); another lattice is refused, saying what differs."""
    import nibabel

    ct, rtstruct = demo
    assert main(["rtstruct", str(rtstruct), "-r", str(ct), "-o", str(tmp_path / "x.nii.gz"), "--split-layers"]) == EXIT_OK
    (layer,) = read_label_file(tmp_path / "x_layer1.nii.gz")
    image = nibabel.load(str(tmp_path / "x_layer1.nii.gz"))
    data, affine = np.asarray(image.dataobj), image.affine.copy()
    for axis in flip:
        data = np.flip(data, axis=axis)
        affine[:3, 3] += affine[:3, axis] * (data.shape[axis] - 1)
        affine[:3, axis] *= -1
    if not flip:
        data = np.transpose(data, (1, 0, 2))
        affine[:3, [0, 1]] = affine[:3, [1, 0]]
    nibabel.save(nibabel.Nifti1Image(np.ascontiguousarray(data), affine), str(tmp_path / "odd.nii.gz"))
    capsys.readouterr()
    assert main(["encode", str(tmp_path / "odd.nii.gz"), "-r", str(ct), "-o", str(tmp_path / "seg")]) == EXIT_OK
    assert "swapped/reversed to match (no resampling)" in capsys.readouterr().err
    assert main(["decode", str(tmp_path / "seg"), "-r", str(ct), "-o", str(tmp_path / "back.nrrd")]) == EXIT_OK
    np.testing.assert_array_equal(read_label_file(tmp_path / "back.nrrd")[0].array, layer.array)
    affine[:3, 3] += 0.37  # now a different lattice
    nibabel.save(nibabel.Nifti1Image(np.ascontiguousarray(data), affine), str(tmp_path / "shifted.nii.gz"))
    capsys.readouterr()
    assert main(["encode", str(tmp_path / "shifted.nii.gz"), "-r", str(ct), "-o", str(tmp_path / "seg2")]) == EXIT_ERROR
    assert "origin" in capsys.readouterr().err


def test_series_lists_images_without_series_uid_and_every_skipped_file(tmp_path, capsys):
    geometry = axial_geometry(shape=(5, 8, 8))
    images = make_image_series(geometry)
    for image in images:
        image.SeriesInstanceUID = ""
        image.SOPInstanceUID = ""
    save(images, tmp_path / "ct")
    (tmp_path / "ct" / "notes.txt").write_text("not DICOM")
    os.symlink(tmp_path / "ct", tmp_path / "link")
    assert main(["series", str(tmp_path / "link")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "(no Series Instance UID)" in out and "5 image(s)" in out and "notes.txt: not a DICOM file" in out
    (tmp_path / "empty").mkdir()
    assert main(["series", str(tmp_path / "empty")]) == EXIT_ERROR
    assert "no image series found" in capsys.readouterr().err


def test_help_shows_every_subcommand_and_default(capsys):
    for command in ("rtstruct", "series", "encode", "decode", "convert", "info", "validate", "demo", "batch", "dataset"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "usage:" in text and len(text.splitlines()) > 4
    with pytest.raises(SystemExit):
        main(["batch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: labelmap-seg)" in text and "pixel encoding (default rle: " in text and "(default: rle)" not in text


def test_library_warnings_become_one_finding_naming_file_and_attribute(demo, tmp_path):
    """A Study ID longer than SH allows: pydicom would warn twice without naming the element;
    we report it once, naming the file and the attribute, and the SEG gets it empty (Type 2), so
    that what we write passes validation."""
    ct, rtstruct = demo
    assert main(["rtstruct", str(rtstruct), "-r", str(ct), "-o", str(tmp_path / "x.seg.nrrd")]) == EXIT_OK
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in ct.glob("*"):
            dataset = pydicom.dcmread(path)
            dataset.StudyID = "S" * 20
            dataset.save_as(path)
    result = subprocess.run(
        [*CLI, "encode", str(tmp_path / "x.seg.nrrd"), "-r", str(ct), "-o", str(tmp_path / "seg")], capture_output=True, text=True
    )
    assert result.returncode == EXIT_OK, result.stderr
    lines = [line for line in result.stderr.splitlines() if "StudyID" in line]
    assert len(lines) == 1 and lines[0].strip() == (
        "warning: StudyID: 'SSSSSSSSSSSSSSSSSSSS' in CT0001.dcm is 20 characters long, more than the 16 allowed for a short string "
        "(SH); DICOM written from this series leaves it empty"
    )
    assert "UserWarning" not in result.stderr and "pydicom" not in result.stderr
    seg = sorted((tmp_path / "seg").glob("*.dcm"))[0]
    assert pydicom.dcmread(seg, stop_before_pixels=True).StudyID == ""


JPEG2000_STOPPED = """
import os, sys
from dicomlabelmap.dicom.codecs import jpeg2000
encode, main_process = jpeg2000.encode, os.getpid()
def announced(frame):
    if os.getpid() == main_process:  # not in the forked helper
        os.write(1, b"encoding\\n")  # the test's event: OpenJPEG is at work here
    return encode(frame)
jpeg2000.encode = announced
from dicomlabelmap.cli.main import run
sys.argv = ["dicomlabelmap", *sys.argv[1:]]
sys.exit(run())
"""


def test_sigterm_while_openjpeg_encodes_ends_cleanly(tmp_path):
    """SIGTERM arrives while OpenJPEG encodes a 512x512 frame (an event: the first frame
    announced): it is held back until the frame is done, then the encode stops as any interrupt
    does: exit 130, one line, no crash (it ended in a segmentation fault, with the staging folder
    and the helper process left behind), no folder, no helper left."""
    pytest.importorskip("openjpeg")
    from dicomlabelmap.model.geometry import ImageGeometry
    from dicomlabelmap.synthetic import make_image_series, save

    geometry = ImageGeometry((20, 512, 512), [0.0, 0.0, 0.0], [1.0, 1.0, 2.0], np.eye(3), "1.2.826.0.1.3680043.8.498.7")
    ct = tmp_path / "ct"
    save(make_image_series(geometry), ct)
    rng = np.random.default_rng(3)  # frames that take OpenJPEG milliseconds each: the signal lands in one
    array = (rng.random(geometry.shape) > 0.5).astype(np.uint8) * rng.integers(1, 30, geometry.shape, dtype=np.uint8)
    labels = tmp_path / "labels.seg.nrrd"
    segments = [Segment(number, f"S{number}") for number in range(1, 30)]
    write_label_file(labels, [LabelVolume(array, geometry, segments)])
    out = tmp_path / "seg"
    stopped = [sys.executable, "-X", "faulthandler", "-c", JPEG2000_STOPPED]  # a crash prints where
    command = [*stopped, "encode", str(labels), "-r", str(ct), "-o", str(out), "-t", "jpeg2000"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals)  # noqa: PLW1509
    assert process.stdout.readline().strip() == "encoding"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)  # only a guard against a hang
    assert process.returncode == 130, stderr[-2000:]
    assert stderr.strip().splitlines()[-1].startswith("dicomlabelmap: interrupted; ") and "Fatal Python error" not in stderr
    left = [p for p in Path("/proc").glob("[0-9]*/cmdline") if _readable(p) and str(out).encode() in _readable(p)]
    assert not out.exists() and not left  # not even a helper process, orphaned


def _readable(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""

"""Coverage-guided fuzzing of the readers and codecs with atheris (libFuzzer).

    python Testing/Fuzz/fuzz_readers.py CORPUS_DIR [libFuzzer options, e.g. -max_total_time=3600]

CORPUS_DIR is seeded by ``--seed CORPUS_DIR`` (synthetic files in every transfer syntax, plus
the real SEG and RTSTRUCT files of ../shared/data when present). The first input byte picks the
target (SEG reader, RT Structure Set reader, series reader, RLE / deflate-frame / JPEG-LS /
JPEG 2000 frame decoders); any exception other than the core's DicomLabelMapError is a crash.
Pass ``-timeout=10`` so that a slow input is reported as a hang (libFuzzer's default is 20 minutes).

    python Testing/Fuzz/fuzz_readers.py --replay FILE_OR_DIR ...

runs saved inputs once each (crash-*, timeout-* files libFuzzer wrote) and exits non-zero on the
first that fails. Every input found this way is kept in Testing/Fuzz/regressions/ (our own
synthetic data only) and replayed by Testing/Python/test_robustness.py.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def seed(corpus: Path) -> None:
    from dicomlabelmap.dicom.codecs import TransferSyntax
    from dicomlabelmap.rtstruct.conversion import rtstruct_to_labels
    from dicomlabelmap.seg.writer import SegWriteOptions, write_label_map_segs
    from dicomlabelmap.synthetic import write_demo_case

    corpus.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        ct, rs = write_demo_case(folder)
        conversion = rtstruct_to_labels(rs, ct)
        (corpus / "rtstruct").write_bytes(bytes([1]) + rs.read_bytes())
        (corpus / "ct").write_bytes(bytes([2]) + sorted(ct.iterdir())[0].read_bytes())
        for syntax in TransferSyntax.writable_syntaxes():
            out = Path(folder) / syntax.value
            out.mkdir()
            (path,) = write_label_map_segs(conversion.label_volumes[:1], conversion.reference, out, SegWriteOptions(transfer_syntax=syntax))
            (corpus / f"seg-{syntax.value}").write_bytes(bytes([0]) + path.read_bytes())
    for name, target in (("highdicom/seg_image_ct_binary.dcm", 0), ("pydicom-data/liver_rle.dcm", 0), ("rt-utils/rt.dcm", 1)):
        if (SHARED / name).exists():
            (corpus / name.replace("/", "-")).write_bytes(bytes([target]) + (SHARED / name).read_bytes())


def one_input(data: bytes) -> None:
    from dicomlabelmap.dicom.codecs import TransferSyntax, decode_frame
    from dicomlabelmap.dicom.scan import read_reference_series
    from dicomlabelmap.errors import DicomLabelMapError
    from dicomlabelmap.rtstruct.reader import read_rtstruct
    from dicomlabelmap.seg.reader import read_seg

    if not data:
        return
    target, body = data[0] % 7, data[1:]
    try:
        if target < 3:
            with tempfile.NamedTemporaryFile(suffix=".dcm") as file:
                file.write(body)
                file.flush()
                (read_seg, read_rtstruct, lambda p: read_reference_series([p]))[target](file.name)
        else:
            syntax = (TransferSyntax.RLE, TransferSyntax.DEFLATED_FRAME, TransferSyntax.JPEG_LS, TransferSyntax.JPEG_2000)[target - 3]
            rows, columns, bits = 1 + body[:1][0] % 64 if body else 1, 1 + (body[1:2] or b"\0")[0] % 64, (8, 16, 1)[len(body) % 3]
            decode_frame(body[2:], rows, columns, bits, syntax)
    except DicomLabelMapError:
        pass


def replay(paths: list[Path]) -> None:
    """Run each saved input once (a hang shows as a run that does not end)."""
    import warnings

    warnings.simplefilter("ignore")
    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.iterdir()) if f.is_file())
    for path in files:
        print(path, flush=True)
        one_input(path.read_bytes())
    print(f"{len(files)} input(s) passed")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--seed":
        seed(Path(sys.argv[2]))
        return
    if len(sys.argv) > 2 and sys.argv[1] == "--replay":
        replay([Path(p) for p in sys.argv[2:]])
        return
    import logging
    import warnings

    import atheris

    warnings.simplefilter("ignore")  # pydicom warns on every malformed value
    logging.disable(logging.CRITICAL)
    with atheris.instrument_imports():
        import dicomlabelmap.dicom.codecs  # noqa: F401
        import dicomlabelmap.dicom.images  # noqa: F401
        import dicomlabelmap.rtstruct.reader  # noqa: F401
        import dicomlabelmap.seg.reader  # noqa: F401
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

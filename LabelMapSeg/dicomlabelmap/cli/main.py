"""The ``dicomlabelmap`` command line: a thin shell over the library, one module per subcommand
(its parser beside its run function).

Exit codes: 0 success; 1 error (one sentence on stderr, nothing written); 2 usage error;
3 output written but some ROIs could not be converted or another ERROR-level finding stands (see
the report); 130 interrupted; 141 standard output closed by its reader (``| head``), as a command
ended by SIGPIPE.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from .._version import __version__
from ..errors import DicomLabelMapError
from . import batch, contours, convert, dataset, decode, demo, encode, info, rtstruct, series, validate
from .common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OUTPUT_CLOSED, remove_created_folders
from .startup import defer_unused_imports

# Before anything imports pydicom (here, and in batch worker processes, which import this module).
defer_unused_imports()

#: In the order ``--help`` lists them.
SUBCOMMANDS = (rtstruct, contours, series, encode, decode, convert, info, validate, demo, batch, dataset)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    configure_logging(arguments.verbose + arguments.verbose_after)
    previous = _terminate_as_interrupt()
    try:
        return int(arguments.handler(arguments))
    except DicomLabelMapError as error:
        remove_created_folders()
        print(f"dicomlabelmap: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as interrupt:
        remove_created_folders()
        detail = interrupt.args[0] if interrupt.args else "every output is as it was before, or complete (never partial)"
        print(f"dicomlabelmap: interrupted; {detail}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        remove_created_folders()
        return _output_closed()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def configure_logging(verbosity: int) -> None:
    """Errors only by default; ``-v`` our own steps (INFO of ``dicomlabelmap.*``) and other
    libraries' warnings; ``-vv`` everything, other libraries' debug output included."""
    libraries = logging.ERROR if verbosity == 0 else logging.WARNING if verbosity == 1 else logging.DEBUG
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")  # a no-op when the host (a test) has handlers
    logging.getLogger().setLevel(libraries)
    ours = logging.NOTSET if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.getLogger("dicomlabelmap").setLevel(ours)


def run() -> None:
    """The console script: :func:`main`, then exit with its code. Once main has returned, the work
    is done or cleaned up, so an interrupt that arrives while Python shuts down (Dask's and the
    pools' exit handlers) no longer changes the outcome: it is ignored, not turned into a
    traceback or a death by signal."""
    try:
        code = main()
        sys.stdout.flush()  # a reader gone away is found here, not in Python's flush at exit
    except KeyboardInterrupt:  # arrived after main's own handler
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        code = _output_closed()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)


def _output_closed() -> int:
    """Standard output's reader went away (``dicomlabelmap ... | head``). What was written stays
    (outputs are complete or absent); quietly, as a command ended by SIGPIPE: no traceback, and
    nothing more goes to the closed pipe (Python would report its failed flush at exit)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_OUTPUT_CLOSED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicomlabelmap",
        description="DICOM RT Structure Sets and segmentations <-> label maps on the reference image grid.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="-v: log our steps to stderr (files read, series chosen, per-ROI timings, files written); "
        "-vv: also the debug output of every library (pydicom, pylibjpeg, matplotlib, dask)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(commands)
    for subcommand in commands.choices.values():  # -v after the subcommand counts as well
        subcommand.add_argument("-v", "--verbose", dest="verbose_after", action="count", default=0, help="as -v before the subcommand")
    return parser


def _terminate_as_interrupt() -> Any:
    """SIGTERM (timeout, Slurm, Docker) ends the command like Ctrl-C: cleanup runs, no partial
    file stays. Returns the previous handler (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)

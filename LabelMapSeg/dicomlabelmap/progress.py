"""Progress reporting shared by every long operation of the core.

A long operation takes an optional ``progress`` callback called as
``progress(fraction, message)`` with ``fraction`` in [0, 1]. To cancel, the callback raises
:class:`~dicomlabelmap.errors.OperationCancelled`; the operation then stops without writing
anything. The command line draws a progress bar from it, Slicer a progress dialog.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[float, str], None]


def report(progress: ProgressCallback | None, fraction: float, message: str) -> None:
    """Call ``progress`` when one is given, with ``fraction`` clipped to [0, 1]."""
    if progress is not None:
        progress(min(1.0, max(0.0, fraction)), message)


def scaled(progress: ProgressCallback | None, start: float, stop: float) -> ProgressCallback | None:
    """A callback mapping a sub-step's [0, 1] onto ``[start, stop]`` of ``progress``."""
    if progress is None:
        return None
    parent = progress

    def sub_progress(fraction: float, message: str) -> None:
        parent(start + (stop - start) * min(1.0, max(0.0, fraction)), message)

    return sub_progress

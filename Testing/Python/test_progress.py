"""Progress callbacks: ``report`` clips fractions to [0, 1] and ``scaled`` maps a sub-step's
[0, 1] onto a part of its parent's range, so nested steps report one rising fraction."""

from __future__ import annotations

import pytest
from dicomlabelmap.errors import OperationCancelled
from dicomlabelmap.progress import report, scaled


def recorder():
    calls: list[tuple[float, str]] = []

    def progress(fraction: float, message: str) -> None:
        calls.append((fraction, message))

    return calls, progress


@pytest.mark.parametrize("fraction, expected", [(0.25, 0.25), (-0.5, 0.0), (1.7, 1.0), (0.0, 0.0), (1.0, 1.0)])
def test_report_clips_to_unit_range(fraction, expected):
    calls, progress = recorder()
    report(progress, fraction, "reading")
    assert calls == [(expected, "reading")]


def test_report_and_scaled_without_callback():
    assert report(None, 0.5, "nobody listens") is None
    assert scaled(None, 0.2, 0.8) is None


@pytest.mark.parametrize("fraction, expected", [(0.0, 0.2), (0.5, 0.4), (1.0, 0.6), (2.0, 0.6), (-1.0, 0.2)])
def test_scaled_maps_onto_the_parent_range(fraction, expected):
    calls, progress = recorder()
    sub = scaled(progress, 0.2, 0.6)
    assert sub is not None
    sub(fraction, "slice 3")
    assert calls == [(pytest.approx(expected), "slice 3")]


def test_nested_scaling_composes():
    """Second half of the parent, then its first half: 0.5 of the innermost step is 0.625."""
    calls, progress = recorder()
    outer = scaled(progress, 0.5, 1.0)
    inner = scaled(outer, 0.0, 0.5)
    assert inner is not None
    for fraction in (0.0, 0.5, 1.0):
        inner(fraction, "x")
    assert [fraction for fraction, _ in calls] == [0.5, 0.625, 0.75]


def test_cancelling_through_a_scaled_callback_reaches_the_caller():
    def cancel(fraction: float, message: str) -> None:
        if fraction >= 0.5:
            raise OperationCancelled(f"cancelled at {message}")

    sub = scaled(cancel, 0.0, 0.5)
    assert sub is not None
    sub(0.9, "not yet")  # 0.45 of the whole
    with pytest.raises(OperationCancelled, match="cancelled at writing"):
        sub(1.0, "writing")

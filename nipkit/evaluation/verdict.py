"""The one-line verdict of an experiment: how far F+N's patch accuracy is above F's, and how sure.

The decisions of every repeat of a mode are pooled, and the difference's 95% interval is
Newcombe's (`nipkit.evaluation.confidence.difference_interval`), through the differentiable
channel and through the real channel.

Example:
    >>> verdict(fan_summaries, joint_summaries)  # doctest: +SKIP
    'F+N − F = +31.0 points (95% CI +27.1 … +34.8), real channel +29.5 points (95% CI +25.6 … +33.3)'
"""
from __future__ import annotations

from typing import Sequence

from nipkit.evaluation.confidence import difference_interval
from nipkit.evaluation.summary import RunSummary

__all__ = ["accuracy_difference", "verdict", "verdict_line"]


def _pooled(summaries: Sequence[RunSummary], real: bool) -> tuple[int, int]:
    counts = [s.counts(real) for s in summaries]
    return sum(c for c, _ in counts), sum(t for _, t in counts)


def accuracy_difference(fan: Sequence[RunSummary], joint: Sequence[RunSummary],
                        real: bool = False) -> tuple[float, float, float]:
    """(F+N − F, low, high): the difference of pooled patch accuracies and its 95% interval.

    Args:
        fan: the summaries of the F runs.
        joint: the summaries of the F+N runs.
        real: through the real channel instead of the differentiable one.
    """
    (correct_f, total_f), (correct_fn, total_fn) = _pooled(fan, real), _pooled(joint, real)
    if not (total_f and total_fn):
        nan = float("nan")
        return nan, nan, nan
    low, high = difference_interval(correct_fn, total_fn, correct_f, total_f)
    return correct_fn / total_fn - correct_f / total_f, low, high


def _points(difference: float, low: float, high: float) -> str:
    return f"{100 * difference:+.1f} points (95% CI {100 * low:+.1f} … {100 * high:+.1f})"


def verdict(fan: Sequence[RunSummary], joint: Sequence[RunSummary]) -> str:
    """The verdict line for F runs `fan` and F+N runs `joint` (both non-empty)."""
    return (f"F+N − F = {_points(*accuracy_difference(fan, joint))}, "
            f"real channel {_points(*accuracy_difference(fan, joint, real=True))}")


def verdict_line(summaries: Sequence[RunSummary]) -> str | None:
    """The verdict of an experiment's summaries; None unless both modes ran."""
    fan = [s for s in summaries if s.mode == "fan"]
    joint = [s for s in summaries if s.mode == "joint"]
    return verdict(fan, joint) if fan and joint else None

"""The one-line verdicts of an experiment: how far the patch accuracy of each jointly trained
mode (F+N, F+C, F+N+C) is above F's, and how sure.

The decisions of every repeat of a mode are pooled, and the difference's 95% interval is
Newcombe's (`nipkit.evaluation.confidence.difference_interval`), through the differentiable
channel and through the real channel.

Example:
    >>> verdict(fan_summaries, joint_summaries)  # doctest: +SKIP
    'F+N − F = +31.0 points (95% CI +27.1 … +34.8), real channel +29.5 points (95% CI +25.6 … +33.3)'
    >>> verdict(fan_summaries, codec_summaries, "F+C")  # doctest: +SKIP
    'F+C − F = +16.7 points (95% CI +12.5 … +20.8), real channel +16.7 points (95% CI +12.5 … +20.8)'
"""
from __future__ import annotations

from typing import Sequence

from nipkit.evaluation.confidence import difference_interval
from nipkit.evaluation.summary import RunSummary
from nipkit.options import MODE_LABELS, MODES

__all__ = ["accuracy_difference", "verdict", "verdict_lines"]


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


def verdict(fan: Sequence[RunSummary], joint: Sequence[RunSummary], label: str = "F+N") -> str:
    """The verdict line for F runs `fan` and the runs `joint` of the mode named `label` (both non-empty)."""
    return (f"{label} − F = {_points(*accuracy_difference(fan, joint))}, "
            f"real channel {_points(*accuracy_difference(fan, joint, real=True))}")


def verdict_lines(summaries: Sequence[RunSummary]) -> list[str]:
    """The verdicts of an experiment's summaries: one per mode that ran beside F, F+N first."""
    fan = [s for s in summaries if s.mode == "fan"]
    by_mode = {mode: [s for s in summaries if s.mode == mode] for mode in MODES if mode != "fan"}
    return [verdict(fan, runs, MODE_LABELS[mode]) for mode, runs in by_mode.items() if fan and runs]

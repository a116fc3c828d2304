"""How sure a measured accuracy is: the Wilson score interval, the interval of a difference, and the mean of the last checks.

A patch accuracy of 0.34 from 200 decisions is 0.28–0.41 at 95%; from 1,000 it is
0.31–0.37. `wilson_interval` gives that range (Wilson 1927; it keeps inside [0, 1] and
stays sensible near 0 and 1, unlike the normal approximation). `mean_of_last` averages
the last validations of a run, which is steadier than the last one alone.
`difference_interval` gives the range of a difference of two accuracies (Newcombe 1998).

Example:
    >>> [round(x, 4) for x in wilson_interval(81, 263)]
    [0.2553, 0.3662]
    >>> [round(x, 4) for x in difference_interval(56, 70, 48, 80)]
    [0.0524, 0.3339]
    >>> round(mean_of_last([{"accuracy": 0.5}, {"accuracy": 0.6}, {"accuracy": 0.7}], "accuracy", k=2), 4)
    0.65
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["wilson_interval", "difference_interval", "mean_of_last"]


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
    return int(value)


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion `correct / total`.

    Args:
        correct: decisions that were right.
        total: all decisions.
        z: the normal quantile of the confidence level (1.96: 95%, 2.576: 99%).

    Returns:
        (low, high) in [0, 1]; (nan, nan) when `total` is 0.
    """
    correct, total = _count(correct, "correct"), _count(total, "total")
    if correct > total:
        raise ValueError(f"correct ({correct}) cannot exceed total ({total})")
    if not z > 0:
        raise ValueError(f"z must be positive; got {z!r}")
    if total == 0:
        return float("nan"), float("nan")
    p, z2 = correct / total, z * z
    scale = 1.0 + z2 / total
    centre = (p + z2 / (2 * total)) / scale
    half = z * math.sqrt(p * (1.0 - p) / total + z2 / (4 * total * total)) / scale
    # exactly 0 and 1 at the ends (the formula gives them up to rounding)
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == total else min(1.0, centre + half)
    return low, high


def difference_interval(correct_a: int, total_a: int, correct_b: int, total_b: int,
                        z: float = 1.96) -> tuple[float, float]:
    """The interval of `correct_a / total_a − correct_b / total_b`, two independent proportions.

    Newcombe's hybrid score interval (R. G. Newcombe, "Interval estimation for the difference
    between independent proportions: comparison of eleven methods", Statistics in Medicine
    17:873–890, 1998, method 10): the difference's distance to each end is the root of the
    sum of squares of the two Wilson intervals' distances on the matching sides. For F and
    F+N scored on the same patches the decisions are paired; treating them as independent
    gives a wider interval when the two runs tend to be right on the same patches.

    Args:
        correct_a, total_a: the first proportion's counts (e.g. F+N).
        correct_b, total_b: the second's (e.g. F).
        z: the normal quantile of the confidence level (1.96: 95%).

    Returns:
        (low, high) in [-1, 1]; (nan, nan) when either total is 0.
    """
    low_a, high_a = wilson_interval(correct_a, total_a, z)
    low_b, high_b = wilson_interval(correct_b, total_b, z)
    if total_a == 0 or total_b == 0:
        return float("nan"), float("nan")
    p_a, p_b = correct_a / total_a, correct_b / total_b
    difference = p_a - p_b
    low = difference - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = difference + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return max(-1.0, low), min(1.0, high)


def mean_of_last(history: Sequence[Mapping[str, Any]], key: str, k: int = 5) -> float:
    """The mean of `key` over the last `k` records of a validation history that have it.

    Args:
        history: validation records, oldest first (as `history.jsonl` holds them).
        key: the metric, e.g. "accuracy".
        k: how many of the last records (fewer when the history is shorter).

    Returns:
        The mean; nan when no record has `key`, or when one of those averaged is null
        (a non-finite value was recorded).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    values = [record[key] for record in history if key in record][-k:]
    if not values or any(value is None for value in values):
        return float("nan")
    return float(np.mean(values))

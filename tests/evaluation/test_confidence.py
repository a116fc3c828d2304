"""The Wilson interval against published values, and the mean of the last validations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nipkit.evaluation.confidence import difference_interval, mean_of_last, wilson_interval


# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I,
# method 3 (Wilson score interval without continuity correction), 95%.
@pytest.mark.parametrize(
    "correct, total, low, high",
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_interval_matches_newcombe(correct, total, low, high):
    assert wilson_interval(correct, total) == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_is_symmetric_and_shrinks_with_more_decisions():
    low, high = wilson_interval(30, 100)
    assert wilson_interval(70, 100) == pytest.approx((1 - high, 1 - low))
    assert wilson_interval(100, 100)[1] == 1.0 and wilson_interval(0, 100)[0] == 0.0
    widths = [np.subtract(*wilson_interval(n // 3, n)[::-1]) for n in (200, 1000, 3000)]
    assert widths[0] > widths[1] > widths[2]
    # the numbers: 0.34 of 200 decisions cannot tell 0.32 from 0.34
    assert wilson_interval(68, 200)[0] < 0.32 < wilson_interval(68, 200)[1]
    assert wilson_interval(95, 100, z=2.576)[0] < wilson_interval(95, 100)[0]


# Newcombe (1998), "Interval estimation for the difference between independent proportions",
# Table II, method 10 (score interval from the two Wilson intervals), 95%.
@pytest.mark.parametrize(
    "a, m, b, n, low, high",
    [(56, 70, 48, 80, 0.0524, 0.3339), (9, 10, 3, 10, 0.1705, 0.8090), (5, 56, 0, 29, -0.0381, 0.1926),
     (0, 10, 0, 20, -0.1611, 0.2775)],
)
def test_difference_interval_matches_newcombe(a, m, b, n, low, high):
    assert difference_interval(a, m, b, n) == pytest.approx((low, high), abs=5e-5)


def test_difference_interval_is_antisymmetric_and_contains_the_difference():
    low, high = difference_interval(300, 1000, 610, 1000)
    assert difference_interval(610, 1000, 300, 1000) == pytest.approx((-high, -low))
    assert low < 0.30 - 0.61 < high and high < 0
    assert all(math.isnan(x) for x in difference_interval(3, 10, 0, 0))
    with pytest.raises(ValueError, match="cannot exceed"):
        difference_interval(11, 10, 1, 10)


def test_wilson_interval_covers_the_true_rate_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    rate, total = 0.35, 250
    hits = rng.binomial(total, rate, size=4000)
    covered = [low <= rate <= high for low, high in (wilson_interval(int(h), total) for h in hits)]
    assert np.mean(covered) == pytest.approx(0.95, abs=0.015)


def test_wilson_interval_checks():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    for correct, total in ((5, 3), (-1, 3), (1.5, 3), (True, 3)):
        with pytest.raises(ValueError):
            wilson_interval(correct, total)
    with pytest.raises(ValueError, match="z must be positive"):
        wilson_interval(1, 3, z=0)


def test_mean_of_last():
    history = [{"step": s, "accuracy": a} for s, a in zip(range(100, 800, 100), (0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9))]
    assert mean_of_last(history, "accuracy") == pytest.approx(0.7)
    assert mean_of_last(history, "accuracy", k=1) == pytest.approx(0.9)
    assert mean_of_last(history[:2], "accuracy") == pytest.approx(0.3)
    assert mean_of_last(history + [{"step": 800, "loss": 0.1}], "accuracy", k=2) == pytest.approx(0.85)
    assert math.isnan(mean_of_last(history, "psnr"))
    assert math.isnan(mean_of_last(history + [{"accuracy": None}], "accuracy"))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        mean_of_last(history, "accuracy", k=0)

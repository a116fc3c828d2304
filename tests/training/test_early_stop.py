"""The paper's early-stopping rule."""
from __future__ import annotations

import pytest

from nipkit.training.early_stop import EarlyStopping, relative_change


def test_relative_change_of_the_window_mean():
    losses = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]
    before, now = sum(losses[:5]) / 5, sum(losses[1:]) / 5
    assert relative_change(losses, 5) == pytest.approx(abs(now - before) / before)
    assert relative_change(losses[:5], 5) is None


def test_stops_when_the_mean_stops_moving():
    rule = EarlyStopping(checks=5, tolerance=1e-4)
    decisions = [rule.update(v) for v in [1.0, 0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]]
    assert decisions == [False] * 7 + [True]


def test_slow_but_steady_progress_does_not_stop():
    rule = EarlyStopping(checks=5, tolerance=1e-4)
    # 0.1% better per validation: the window mean moves by ~1e-3 relative, above 1e-4.
    assert not any(rule.update(0.01 * 0.999**k) for k in range(50))
    strict = EarlyStopping(checks=5, tolerance=1e-2)
    assert strict.update(0.0) is False
    assert any(strict.update(0.01 * 0.999**k) for k in range(10))


def test_resumed_rule_decides_like_an_uninterrupted_one():
    losses = [0.3, 0.2, 0.15, 0.149, 0.14899, 0.14899, 0.14899, 0.14899, 0.14899]
    whole = EarlyStopping(5, 1e-4)
    decisions = [whole.update(v) for v in losses]
    resumed = EarlyStopping(5, 1e-4, losses=losses[:6])
    assert [resumed.update(v) for v in losses[6:]] == decisions[6:]


@pytest.mark.parametrize("kwargs", [{"checks": 0}, {"tolerance": 0.0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        EarlyStopping(**kwargs)

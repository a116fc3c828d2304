"""The paper's stopping rule for NIP pre-training (Korus & Memon 2019, section 4.1).

Training stops when the relative change of the mean validation loss over the last
`checks` validations drops below `tolerance`: with L the validation losses so far,
m_now = mean(L[-checks:]) and m_before = mean(L[-checks-1:-1]) (the same window one
validation earlier), stop when |m_now − m_before| / m_before < tolerance. The paper uses
5 checks and 1e-4 (1e-5 for DNet, whose progress is slow).

Example:
    >>> rule = EarlyStopping(checks=5, tolerance=1e-4)
    >>> [rule.update(loss) for loss in [1.0, 0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]]
    [False, False, False, False, False, False, False, True]
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

__all__ = ["EarlyStopping", "relative_change"]


def relative_change(losses: Sequence[float], checks: int = 5) -> float | None:
    """|m_now − m_before| / m_before for the last `checks` losses; None until there are
    `checks` + 1 of them."""
    if len(losses) < checks + 1:
        return None
    now = sum(losses[-checks:]) / checks
    before = sum(losses[-checks - 1 : -1]) / checks
    if before == 0:
        return 0.0 if now == 0 else math.inf
    return abs(now - before) / abs(before)


class EarlyStopping:
    """Decides after each validation whether pre-training has converged.

    Args:
        checks: how many validations the mean covers.
        tolerance: the relative change below which training stops.
        losses: validation losses already seen (e.g. read back from `history.jsonl`
            when resuming).
    """

    def __init__(self, checks: int = 5, tolerance: float = 1e-4, losses: Iterable[float] = ()) -> None:
        if checks < 1:
            raise ValueError(f"checks must be a positive integer, got {checks}")
        if not tolerance > 0:
            raise ValueError(f"tolerance must be positive, got {tolerance}")
        self.checks = checks
        self.tolerance = tolerance
        self.losses = [float(v) for v in losses]

    def change(self) -> float | None:
        """The current relative change, or None before `checks` + 1 validations."""
        return relative_change(self.losses, self.checks)

    def converged(self) -> bool:
        """Whether the losses seen so far meet the rule."""
        change = self.change()
        return change is not None and change < self.tolerance

    def update(self, loss: float) -> bool:
        """Records one validation loss; True when training should stop."""
        self.losses.append(float(loss))
        return self.converged()

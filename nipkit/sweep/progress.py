"""The progress of a sweep as a whole: runs done, running and failed, and the time left.

Each event prints one line (readable in a terminal and in a log file), e.g.
`[sweep 5/12 done · 2 running · 1 failed · ETA 2 min 10 s] seed=3: done in 41 s`.
The ETA assumes the remaining runs take as long, per finished run, as those so far.

Example:
    >>> progress = SweepProgress(12, echo=print)
    >>> progress.started("seed=0")
    [sweep 0/12 done · 1 running · 0 failed · ETA ?] seed=0: started
"""
from __future__ import annotations

import time
from typing import Callable

from nipkit.sweep.task import RunOutcome

__all__ = ["SweepProgress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """42 -> "42 s", 130 -> "2 min 10 s", 7300 -> "2 h 1 min"."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class SweepProgress:
    """Counts a sweep's runs as they start and end, and prints one line per event.

    Args:
        total: the runs of the sweep.
        echo: where lines go.
    """

    def __init__(self, total: int, echo: Callable[[str], None]) -> None:
        self.total, self.echo = total, echo
        self.running: set[str] = set()
        self.outcomes: list[RunOutcome] = []
        self.clock = time.perf_counter()

    @property
    def done(self) -> int:
        return sum(outcome.ok for outcome in self.outcomes)

    @property
    def failed(self) -> list[RunOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.ok]

    def eta(self) -> str:
        """The time left, from the sweep's pace so far ("?" before the first run ends)."""
        ended = len(self.outcomes)
        if not ended:
            return "?"
        return format_seconds((time.perf_counter() - self.clock) / ended * (self.total - ended))

    def status(self) -> str:
        return (f"[sweep {self.done}/{self.total} done · {len(self.running)} running · {len(self.failed)} failed · "
                f"ETA {self.eta()}]")

    def started(self, name: str) -> None:
        self.running.add(name)
        self.echo(f"{self.status()} {name}: started")

    def finished(self, outcome: RunOutcome) -> None:
        self.running.discard(outcome.name)
        self.outcomes.append(outcome)
        what = f"done in {format_seconds(outcome.seconds)}" if outcome.ok else f"failed: {outcome.reason}"
        self.echo(f"{self.status()} {outcome.name}: {what}")

"""Watching a run folder from outside while another process trains it: who holds it, the step of
its last checkpoint, the steps its history recorded, and waiting for an event.

This is how a test or a benchmark finds the process (a Ray worker, a `nipkit run`) that trains
a run, so that it can kill it mid-run and check that the run resumed.

Example:
    >>> wait_for(lambda: checkpoint_step(run / "joint-r0") >= 2, sweep, "a checkpoint")  # doctest: +SKIP
    >>> os.kill(lock_holder(run), signal.SIGKILL)  # doctest: +SKIP
    >>> history_steps(run / "joint-r0")  # doctest: +SKIP
    [0, 4, 8]
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Callable

from nipkit.training.history import History
from nipkit.training.run_lock import LOCK_FILE

__all__ = ["lock_holder", "checkpoint_step", "history_steps", "wait_for"]


def lock_holder(folder: str | Path) -> int | None:
    """The process id written in a run folder's lock file; None while the file is empty.

    Raises:
        OSError: there is no lock file (yet).
        ValueError: the file is being written (half-read JSON).
    """
    text = (Path(folder) / LOCK_FILE).read_text()
    return json.loads(text)["pid"] if text.strip() else None


def checkpoint_step(experiment: str | Path) -> int:
    """The step of an experiment folder's (e.g. `run/joint-r0`) last checkpoint.

    Raises:
        OSError: no checkpoint yet.
        ValueError: the state file is being replaced.
    """
    return json.loads((Path(experiment) / "checkpoint" / "state.json").read_text())["step"]


def history_steps(experiment: str | Path) -> list[int]:
    """The steps of an experiment folder's validations, in the order `history.jsonl` has them."""
    return [record["step"] for record in History(Path(experiment) / "history.jsonl").records()]


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, what: str, timeout_s: float,
             poll_s: float = 0.005) -> None:
    """Waits until `condition()` holds while `process` runs: an event, not a duration.

    `condition` may raise OSError or ValueError (a file not there yet or being replaced):
    that counts as False.

    Args:
        condition: what to wait for.
        process: the process expected to bring it about.
        what: the event, for the error message.
        timeout_s: a limit against hangs only.
        poll_s: seconds between checks.

    Raises:
        RuntimeError: the process ended first (the message ends with its stderr).
        TimeoutError: no event after `timeout_s`.
    """
    hang_guard = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except (OSError, ValueError):
            pass
        if process.poll() is not None:
            tail = process.stderr.read()[-2000:] if process.stderr else ""
            raise RuntimeError(f"the process ended (exit {process.returncode}) before {what}: {tail!r}")
        if time.monotonic() > hang_guard:
            raise TimeoutError(f"no {what} after {timeout_s} s: the process hangs")
        time.sleep(poll_s)

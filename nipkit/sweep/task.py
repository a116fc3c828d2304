"""One run of a sweep, in the process that trains it: the unit every executor schedules.

The run is `nipkit run` of its combination's config (`RUN/run.yaml`) with `--resume`, in
its own folder: a run that was killed continues from its checkpoint, a finished one is
kept. The process first takes the folder's `RunLock`, waiting while another live process
holds it; a lock left by a killed process is taken over at once (the kernel released it),
so a retried run never trains its folder twice at once.

Example:
    >>> outcome = train_sweep_run("runs/sweep/seed=0/run.yaml", "runs/sweep/seed=0")  # doctest: +SKIP
    >>> outcome.ok, outcome.seconds  # doctest: +SKIP
    (True, 14.2)
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from nipkit.errors import NipkitError

__all__ = ["RUN_CONFIG", "RUN_LOG", "RunOutcome", "train_sweep_run", "first_line"]

RUN_CONFIG = "run.yaml"  # the combination's config, written by the sweep before it starts
RUN_LOG = "run.log"  # the run's messages, when it trains inside a Ray worker


@dataclass
class RunOutcome:
    """How one run of a sweep ended.

    Attributes:
        name: the run's folder name.
        ok: whether it finished (all its summaries written).
        seconds: its own wall time, from start to end in the process that ran it.
        reason: one line saying why it failed (None when ok).
        pid: the process that ran it.
    """

    name: str
    ok: bool
    seconds: float
    reason: str | None = None
    pid: int = 0


def first_line(error: BaseException) -> str:
    """`error` as one line: its message's first line, or its type's name."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def train_sweep_run(config_path: str | Path, folder: str | Path, cwd: str | None = None) -> RunOutcome:
    """Trains one run of a sweep in this process (waiting for its folder's lock), resuming it if it was started.

    Args:
        config_path: the run's config (`RUN/run.yaml`).
        folder: the run folder.
        cwd: the folder relative paths of the config are read from (the sweep's), when it exists here.

    Returns:
        The outcome; an error a user can act on (`NipkitError`) is its reason, not raised.
    """
    started = time.perf_counter()
    if cwd and Path(cwd).is_dir():
        os.chdir(cwd)
    folder = Path(folder)
    try:
        import keras

        from nipkit.config import load_config
        from nipkit.training.run_lock import RunLock
        from nipkit.training.runner import run_experiment

        keras.backend.clear_session()  # a Ray worker trains one run after another
        with RunLock(folder, wait=True), open(folder / RUN_LOG, "a", encoding="utf-8") as log:
            def echo(line: str) -> None:
                log.write(line + "\n")
                log.flush()

            run_experiment(load_config(config_path), out=folder, resume=True, echo=echo)
    except NipkitError as exc:
        return RunOutcome(folder.name, False, time.perf_counter() - started, first_line(exc), os.getpid())
    return RunOutcome(folder.name, True, time.perf_counter() - started, None, os.getpid())

"""The local executor: each run of a sweep is `nipkit run` in a process of its own, N at a time.

A run's process writes its output to `RUN/run.log`. A process killed by a signal (e.g.
SIGKILL, or the out-of-memory killer) is started again with `--resume`, up to
`resources.retries` times, and continues from the run's checkpoint; a run that ends with
an error is not retried, and the error line of its log is its reason.

Example:
    >>> outcomes = run_local(jobs, workers=2, retries=3, progress=SweepProgress(len(jobs), print))  # doctest: +SKIP
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from nipkit.sweep.progress import SweepProgress
from nipkit.sweep.task import RUN_LOG, RunOutcome

__all__ = ["SweepJob", "run_local", "error_reason"]


@dataclass
class SweepJob:
    """One run to schedule: its name, its config (`RUN/run.yaml`) and its folder."""

    name: str
    config: Path
    folder: Path


def error_reason(log: Path) -> str:
    """The last `error: ...` line of a run's log (without the prefix), else its last line."""
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log was written"
    errors = [line for line in lines if line.startswith("error: ")]
    if errors:
        return errors[-1][len("error: "):]
    return lines[-1] if lines else "it ended without a message"


@dataclass
class _Running:
    job: SweepJob
    process: subprocess.Popen
    started: float
    attempts: int
    spent: float  # seconds of the attempts before this one


def _start(job: SweepJob, attempts: int, spent: float = 0.0) -> _Running:
    command = [sys.executable, "-m", "nipkit.cli.main", "run", str(job.config), "--out", str(job.folder), "--resume"]
    job.folder.mkdir(parents=True, exist_ok=True)
    with open(job.folder / RUN_LOG, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")})
    return _Running(job, process, time.perf_counter(), attempts, spent)


def run_local(jobs: Sequence[SweepJob], workers: int, retries: int, progress: SweepProgress,
              poll_s: float = 0.2) -> list[RunOutcome]:
    """Runs `jobs` as `nipkit run` processes, at most `workers` at once.

    Args:
        jobs: the runs, in the order to start them.
        workers: how many processes run at once.
        retries: how often a run whose process was killed is started again.
        progress: counts and prints the runs' starts and ends.
        poll_s: seconds between looks at the running processes.

    Returns:
        Each run's outcome, in the order they ended.
    """
    queue, outcomes = list(jobs), []
    running: list[_Running] = []
    while queue or running:
        while queue and len(running) < workers:
            job = queue.pop(0)
            running.append(_start(job, 1))
            progress.started(job.name)
        time.sleep(poll_s)
        for entry in list(running):
            code = entry.process.poll()
            if code is None:
                continue
            running.remove(entry)
            seconds = entry.spent + time.perf_counter() - entry.started
            if code < 0 and entry.attempts <= retries:  # killed by a signal: continue from its checkpoint
                progress.echo(f"{progress.status()} {entry.job.name}: its process was killed (signal {-code}); "
                              f"resuming it (attempt {entry.attempts + 1})")
                running.append(_start(entry.job, entry.attempts + 1, seconds))
                continue
            if code == 0:
                outcome = RunOutcome(entry.job.name, True, seconds, None, entry.process.pid)
            elif code < 0:
                outcome = RunOutcome(entry.job.name, False, seconds,
                                     f"its process was killed (signal {-code}) {entry.attempts} times", entry.process.pid)
            else:
                outcome = RunOutcome(entry.job.name, False, seconds, error_reason(entry.job.folder / RUN_LOG),
                                     entry.process.pid)
            outcomes.append(outcome)
            progress.finished(outcome)
    return outcomes

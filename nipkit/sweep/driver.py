"""`nipkit sweep`: plan a sweep, check every combination, run them all, write one report.

```
OUTPUT/
  sweep.json                   the sweep's record: each run's outcome and time, the wall time
  fidelity_weight=0.1,seed=0/  one folder per combination: run.yaml, run.log, fan-r0/, joint-r0/, report/
  ...
  report/                      report.md over every finished run of the sweep (trade-off, Pareto front)
```

Example:
    >>> record = run_sweep(load_config("sweep.yaml"), executor="ray", workers=2)  # doctest: +SKIP
    >>> record["done"], record["wall_seconds"]  # doctest: +SKIP
    (12, 281.4)
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

from nipkit.config import Config
from nipkit.errors import SweepError
from nipkit.files import atomic_write
from nipkit.options import RunResources, parse_options
from nipkit.sweep.local import SweepJob, run_local
from nipkit.sweep.progress import SweepProgress, format_seconds
from nipkit.sweep.spec import RESOURCES_KEY, DEFAULT_MAX_RUNS, check_sweep, count_runs, sweep_axes
from nipkit.sweep.task import RUN_CONFIG

__all__ = ["SWEEP_RECORD", "EXECUTORS", "plan_sweep", "run_sweep"]

SWEEP_RECORD = "sweep.json"
EXECUTORS = ("local", "ray")


def plan_sweep(config: Config, options: Sequence[str], root: Path, max_runs: int = DEFAULT_MAX_RUNS,
               yes: bool = False) -> list[SweepJob]:
    """Checks every combination, then writes each one's `run.yaml` into its folder under `root`.

    Raises:
        SweepError: more than `max_runs` runs without `yes`.
        ConfigError: a combination is not a valid experiment.
    """
    count = count_runs(sweep_axes(config, options))
    if count > max_runs and not yes:
        raise SweepError(f"{config.source}: the sweep has {count:,} runs, more than --max-runs {max_runs}; "
                         f"add --yes to start them all, or raise --max-runs")
    jobs = []
    for run in check_sweep(config, options):
        folder = root / run.name
        folder.mkdir(parents=True, exist_ok=True)
        text = run.config.to_yaml()
        atomic_write(folder / RUN_CONFIG, lambda tmp: tmp.write_text(text, encoding="utf-8"))  # noqa: B023 (called at once)
        jobs.append(SweepJob(run.name, folder / RUN_CONFIG, folder))
    return jobs


def _write_record(root: Path, record: dict) -> None:
    atomic_write(root / SWEEP_RECORD, lambda tmp: tmp.write_text(json.dumps(record, indent=1), encoding="utf-8"))


def run_sweep(config: Config, options: Sequence[str] = (), root: str | Path = "runs/sweep", executor: str = "local",
              workers: int | None = None, address: str | None = None, max_runs: int = DEFAULT_MAX_RUNS,
              yes: bool = False, echo: Callable[[str], None] = print) -> dict:
    """Runs every combination of a sweep on `executor` and writes `report/` over the finished runs.

    Args:
        config: the experiment config with its `sweep:` section.
        options: `--sweep KEY=V1,V2` texts.
        root: the sweep's output folder.
        executor: "local" (`workers` processes, default 1) or "ray".
        workers: the most runs at once.
        address: the Ray cluster to join (Ray only).
        max_runs: the most runs a sweep may have without `yes`.
        yes: start a sweep larger than `max_runs`.
        echo: where progress lines go.

    Returns:
        The sweep's record (also written to `sweep.json`).

    Raises:
        SweepError: a run failed (after the others finished and the report was written),
            or the executor cannot start.
    """
    if executor not in EXECUTORS:
        raise SweepError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if address is not None and executor != "ray":
        raise SweepError("--address names a Ray cluster; add --executor ray")
    if executor == "ray":
        from nipkit.sweep.ray_executor import import_ray

        import_ray()  # before anything starts: a missing Ray is one line
    resources = parse_options(config, RunResources, RESOURCES_KEY)
    root = Path(root).absolute()
    jobs = plan_sweep(config, options, root, max_runs, yes)
    echo(f"sweep: {len(jobs)} runs on {executor} ({workers or ('1' if executor == 'local' else 'all')} at once) into {root}")
    progress = SweepProgress(len(jobs), echo)
    started = time.perf_counter()
    if executor == "ray":
        from nipkit.sweep.ray_executor import run_ray

        outcomes = run_ray(jobs, resources, progress, workers, address)
    else:
        outcomes = run_local(jobs, workers or 1, resources.retries, progress)
    record: dict[str, Any] = {"executor": executor, "workers": workers, "runs": len(jobs), "done": progress.done,
              "failed": len(progress.failed), "wall_seconds": round(time.perf_counter() - started, 2),
              "outcomes": [asdict(outcome) for outcome in outcomes]}
    finished = [root / o.name for o in outcomes if o.ok]
    if finished:
        from nipkit.evaluation.report import write_report

        report, _ = write_report(finished, root / "report")
        record["report"] = str(report)
        echo(f"report: {report}")
    total = time.perf_counter() - started
    record["total_seconds"] = round(total, 2)
    _write_record(root, record)
    echo(f"sweep: {progress.done} of {len(jobs)} runs done in {format_seconds(total)}")
    if progress.failed:
        reasons = "; ".join(f"{o.name}: {o.reason}" for o in progress.failed[:3])
        raise SweepError(f"{len(progress.failed)} of {len(jobs)} runs failed ({reasons}"
                         f"{'; ...' if len(progress.failed) > 3 else ''}); the same command retries them")
    return record

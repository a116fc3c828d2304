"""A sweep of tiny runs through Ray: its overhead with one worker, its speed-up with two, and
an estimate of the paper's 1,600-run grid on N GPUs.

Runs `nipkit sweep --executor ray` (Ray started by nipkit, as a user's command would) on a
12-run sweep (3 fidelity weights × 4 seeds of F+N, 20 steps each, on the demo camera),
first with `--workers 1`, then with `--workers 2`. A run's own time is measured inside the
process that trains it (from the task's start to its summary and figures); the sweep's
wall time is the executor's (Ray start, scheduling, every run); the command's time adds
reading and checking the config, TensorFlow's import and the report.

With `--kill`, only the `--workers 2` sweep runs (validating and checkpointing every 5 steps),
and one Ray worker process is SIGKILLed while it trains a run that has written a checkpoint:
the script checks that all 12 runs still end with summaries and one report, that the killed run
resumed from its checkpoint, and that its history has each step of the validation grid once.

Usage:
    python benchmarks/sweep.py --out benchmarks/results    # 2 sweeps of 12 runs
    python benchmarks/sweep.py --kill --out benchmarks/results    # 1 sweep, a worker killed
    python benchmarks/sweep.py --quick --out /tmp/bench    # 2 sweeps of 3 runs of 4 steps
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import format_table, machine_info, write_json  # noqa: E402

from nipkit.sweep.watch import checkpoint_step, history_steps, lock_holder, wait_for  # noqa: E402

HANG_GUARD_S = 1800  # a limit against hangs only

TINY = {
    "data": "demo",
    "nip": {"type": "inet"},
    "manipulations": ["sharpen", {"gaussian": {"sigma": 0.83}}],
    "channel": [{"downscale": {"factor": 2}}, {"jpeg": {"quality": 50, "rounding": "sin"}}],
    "fan": {"type": "fan", "filters": [8, 8, 8, 8], "dense": [16, 8]},
    "training": {"mode": "joint", "batch_size": 2, "patch_size": 48, "validation_patches": 2, "fidelity_patches": 1,
                 "lr_decay_every": 10},
}
PAPER_GRID = 1600  # 4 cameras × 2 NIPs × 2 modes × 10 repeats × 10 fidelity weights
PAPER_STEPS = 1000  # F+N steps of examples/paper/unet.yaml


def sweep_config(folder: Path, steps: int, seeds: int, **training) -> Path:
    document = json.loads(json.dumps(TINY))
    document["training"].update({"steps": steps, "validate_every": max(1, steps // 2), **training})
    document["sweep"] = {"training.fidelity_weight": [0.01, 0.1, 1.0], "training.seed": list(range(seeds))}
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def start_sweep(config: Path, out: Path, workers: int) -> subprocess.Popen:
    """Starts `nipkit sweep`; its output goes to `out`.log (a pipe nobody reads could fill)."""
    nipkit = Path(sys.executable).parent / "nipkit"
    with open(out.with_suffix(".log"), "w") as log:
        return subprocess.Popen([str(nipkit), "sweep", str(config), "--out", str(out), "--executor", "ray",
                                 "--workers", str(workers)], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def finish_sweep(sweep: subprocess.Popen, out: Path, workers: int, started: float) -> dict:
    """Waits for the sweep command; its figures from `sweep.json`, the summaries and the report."""
    sweep.wait(timeout=HANG_GUARD_S)
    command_s = time.perf_counter() - started
    if sweep.returncode != 0:
        raise SystemExit(f"nipkit sweep --workers {workers} failed:\n{out.with_suffix('.log').read_text()[-3000:]}")
    record = json.loads((out / "sweep.json").read_text())
    summaries = sorted(out.glob("*/joint-r0/summary.json"))
    run_s = [o["seconds"] for o in record["outcomes"]]
    return {
        "workers": workers, "runs": record["runs"], "done": record["done"], "summaries": len(summaries),
        "report": (out / "report" / "report.md").is_file(), "sweep_s": record["wall_seconds"],
        "command_s": round(command_s, 2), "runs_sum_s": round(sum(run_s), 2), "run_mean_s": round(sum(run_s) / len(run_s), 2),
        "run_min_s": round(min(run_s), 2), "run_max_s": round(max(run_s), 2),
        "overhead_ratio": round(record["wall_seconds"] / sum(run_s), 3),
        "command_ratio": round(command_s / sum(run_s), 3),
    }


def run_sweep(config: Path, out: Path, workers: int) -> dict:
    started = time.perf_counter()
    return finish_sweep(start_sweep(config, out, workers), out, workers, started)


def training_now(out: Path, checkpoint_every: int, steps: int) -> tuple[Path, int] | None:
    """A run whose worker holds its folder and has checkpointed, but not yet its last step."""
    for run in sorted(p for p in out.iterdir() if p.is_dir()):
        try:
            if checkpoint_every <= checkpoint_step(run / "joint-r0") < steps and (pid := lock_holder(run)):
                return run, pid
        except (OSError, ValueError, KeyError):
            continue
    return None


def run_killed_sweep(config: Path, out: Path, steps: int, validate_every: int, checkpoint_every: int) -> dict:
    """The `--workers 2` sweep with one Ray worker SIGKILLed while it trains a run that has
    written a checkpoint; checks that run's history against the validate_every grid."""
    started = time.perf_counter()
    sweep, found = start_sweep(config, out, workers=2), {}

    def a_run_mid_training() -> bool:
        found["run"] = training_now(out, checkpoint_every, steps)
        return found["run"] is not None

    try:
        wait_for(a_run_mid_training, sweep, "a checkpoint of a run mid-training", HANG_GUARD_S, poll_s=0.002)
        victim, worker = found["run"]
        killed_at_s = time.perf_counter() - started
        checkpoint_before = checkpoint_step(victim / "joint-r0")
        os.kill(worker, signal.SIGKILL)
        row = finish_sweep(sweep, out, 2, started)
    finally:
        sweep.kill()
    record = json.loads((out / "sweep.json").read_text())
    outcome = next(o for o in record["outcomes"] if o["name"] == victim.name)
    resumes = [int(line.rsplit(" ", 1)[1]) for line in (victim / "run.log").read_text().splitlines()
               if line.startswith("resuming ")]
    steps_seen = history_steps(victim / "joint-r0")
    grid = list(range(0, steps + 1, validate_every))
    row.update({
        "killed_run": victim.name, "killed_pid": worker, "killed_at_s": round(killed_at_s, 2),
        "checkpoint_step_at_kill": checkpoint_before, "retried_pid": outcome.get("pid"),
        "resumed_from_steps": resumes, "resumed": len(resumes) == 1 and resumes[0] >= checkpoint_every,
        "history_steps": steps_seen, "grid": grid, "history_matches_grid": steps_seen == grid,
        "all_histories_match_grid": all(history_steps(r.parent) == grid for r in out.glob("*/joint-r0/summary.json")),
    })
    return row


def paper_estimate(row: dict, step_s: float, gpus: int) -> float:
    """Hours for the paper's grid on `gpus` GPUs, one run per GPU at a time: waves of runs of
    PAPER_STEPS steps, each costing as much fixed time and sweep overhead as measured here."""
    fixed_s = row["run_mean_s"]  # build, evaluate, write: a tiny run is nearly all fixed cost
    overhead_s = (row["sweep_s"] - row["runs_sum_s"]) / row["runs"]
    return math.ceil(PAPER_GRID / gpus) * (PAPER_STEPS * step_s + fixed_s + overhead_s) / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs of 4 steps (checks the script)")
    parser.add_argument("--kill", action="store_true",
                        help="only the --workers 2 sweep, one Ray worker SIGKILLed mid-run (validate and checkpoint every 5)")
    parser.add_argument("--out", default="benchmarks/results", help="folder (or .json file) for the figures")
    parser.add_argument("--step-s", type=float, default=9.7,
                        help="seconds per F+N UNet step at the paper's sizes for the estimate "
                             "(default: this machine's CPU, BENCHMARKS.md)")
    args = parser.parse_args()
    steps, seeds = (4, 1) if args.quick else (20, 4)
    (kill if args.kill else measure)(args, steps, seeds)


def kill(args: argparse.Namespace, steps: int, seeds: int) -> None:
    every = 1 if args.quick else 5
    with tempfile.TemporaryDirectory(prefix="nipkit-sweep-kill-") as tmp:
        config = sweep_config(Path(tmp), steps, seeds, validate_every=every, checkpoint_every=every)
        load = os.getloadavg()[0]
        row = run_killed_sweep(config, Path(tmp) / "killed", steps, every, every)
        load_end = os.getloadavg()[0]
    write_json(args.out, "sweep-kill.json", {"machine": machine_info(), "load": [load, load_end], "quick": args.quick,
                                             "steps": steps, "validate_every": every, "checkpoint_every": every,
                                             "row": row})
    print(f"killed Ray worker {row['killed_pid']} training {row['killed_run']} at checkpoint step "
          f"{row['checkpoint_step_at_kill']} ({row['killed_at_s']:.1f} s into the command)")
    print(f"summaries {row['summaries']}/{row['runs']}, report {row['report']}, resumed from step(s) "
          f"{row['resumed_from_steps']} (retried in process {row['retried_pid']})")
    print(f"killed run's history steps {row['history_steps']} (grid {row['grid']}): "
          f"{'no gap, no duplicate' if row['history_matches_grid'] else 'MISMATCH'}; "
          f"every run on the grid: {row['all_histories_match_grid']}")
    print(f"sweep {row['sweep_s']:.1f} s, command {row['command_s']:.1f} s, Σ runs' own {row['runs_sum_s']:.1f} s")


def measure(args: argparse.Namespace, steps: int, seeds: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="nipkit-sweep-bench-") as tmp:
        config = sweep_config(Path(tmp), steps, seeds)
        load = os.getloadavg()[0]
        for workers in (1, 2):
            rows.append(run_sweep(config, Path(tmp) / f"workers-{workers}", workers))
        load_end = os.getloadavg()[0]
    one, two = rows
    speedup = round(one["sweep_s"] / two["sweep_s"], 2)
    print(format_table(
        [("workers", ">"), ("runs", ">"), ("summaries", ">"), ("sweep s", ">"), ("Σ runs s", ">"), ("sweep / Σ runs", ">"),
         ("command s", ">"), ("run s (min–max)", ">")],
        [[str(r["workers"]), str(r["runs"]), str(r["summaries"]), f"{r['sweep_s']:.1f}", f"{r['runs_sum_s']:.1f}",
          f"{r['overhead_ratio']:.3f}", f"{r['command_s']:.1f}", f"{r['run_mean_s']:.1f} ({r['run_min_s']:.1f}–{r['run_max_s']:.1f})"]
         for r in rows]))
    print(f"speed-up of --workers 2 over --workers 1: {speedup}x (sweep wall time)")
    estimate = {gpus: round(paper_estimate(one, args.step_s, gpus), 1) for gpus in (1, 8, 32, 160)}
    print(f"paper grid ({PAPER_GRID} runs × {PAPER_STEPS} steps at {args.step_s} s/step), hours on N devices: {estimate}")
    write_json(args.out, "sweep.json", {"machine": machine_info(), "load": [load, load_end], "quick": args.quick,
                                        "steps": steps, "rows": rows, "speedup": speedup, "step_s": args.step_s,
                                        "paper_grid_hours": estimate})


if __name__ == "__main__":
    main()

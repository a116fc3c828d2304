"""A sweep of tiny runs through Ray: its overhead with one worker, its speed-up with two, and
an estimate of the paper's 1,600-run grid on N GPUs.

Runs `nipkit sweep --executor ray` (Ray started by nipkit, as a user's command would) on a
12-run sweep (3 fidelity weights × 4 seeds of F+N, 20 steps each, on the demo camera),
first with `--workers 1`, then with `--workers 2`. A run's own time is measured inside the
process that trains it (from the task's start to its summary and figures); the sweep's
wall time is the executor's (Ray start, scheduling, every run); the command's time adds
reading and checking the config, TensorFlow's import and the report.

Usage:
    python benchmarks/sweep.py --out benchmarks/results    # 2 sweeps of 12 runs
    python benchmarks/sweep.py --quick --out /tmp/bench    # 2 sweeps of 4 runs of 4 steps
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import format_table, machine_info, write_json  # noqa: E402

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


def sweep_config(folder: Path, steps: int, seeds: int) -> Path:
    document = json.loads(json.dumps(TINY))
    document["training"].update({"steps": steps, "validate_every": max(1, steps // 2)})
    document["sweep"] = {"training.fidelity_weight": [0.01, 0.1, 1.0], "training.seed": list(range(seeds))}
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run_sweep(config: Path, out: Path, workers: int) -> dict:
    nipkit = Path(sys.executable).parent / "nipkit"
    started = time.perf_counter()
    done = subprocess.run([str(nipkit), "sweep", str(config), "--out", str(out), "--executor", "ray",
                           "--workers", str(workers)], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    command_s = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"nipkit sweep --workers {workers} failed:\n{done.stderr[-3000:]}")
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


def paper_estimate(row: dict, step_s: float, gpus: int) -> float:
    """Hours for the paper's grid on `gpus` GPUs, one run per GPU at a time: waves of runs of
    PAPER_STEPS steps, each costing as much fixed time and sweep overhead as measured here."""
    fixed_s = row["run_mean_s"]  # build, evaluate, write: a tiny run is nearly all fixed cost
    overhead_s = (row["sweep_s"] - row["runs_sum_s"]) / row["runs"]
    return math.ceil(PAPER_GRID / gpus) * (PAPER_STEPS * step_s + fixed_s + overhead_s) / 3600


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 runs of 4 steps (checks the script)")
    parser.add_argument("--out", default="benchmarks/results", help="folder (or .json file) for the figures")
    parser.add_argument("--step-s", type=float, default=9.7,
                        help="seconds per F+N UNet step at the paper's sizes for the estimate "
                             "(default: this machine's CPU, BENCHMARKS.md)")
    args = parser.parse_args()
    steps, seeds = (4, 1) if args.quick else (20, 4)
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

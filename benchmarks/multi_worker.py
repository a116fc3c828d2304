"""One run over two local workers (`training.distribute: multi_worker`) against one worker with
the same global batch and seed, and the same two-worker run killed and resumed.

A tiny F+N run (the sweep benchmark's config: INet, a FAN of 8 filters, 48² patches, global
batch 4, seed 5), 20 steps, validating and checkpointing every 5, on the demo camera, three times:
one `nipkit run`; two `nipkit run` processes with TF_CONFIG on free localhost ports; and two
processes of which one is SIGKILLed after the chief's first checkpoint, after which both are
stopped and started again with `--resume`, as a job manager would. The script prints and
saves each validation's loss, fidelity loss and PSNR, their largest relative differences from
the one-worker run, and the wall times. The one-worker run is made twice: CPU kernels are
not bit-reproducible from run to run, and the second run's difference is the scale for the others.

Usage:
    python benchmarks/multi_worker.py --out benchmarks/results
    python benchmarks/multi_worker.py --quick --out /tmp/bench    # 4 steps, every 2
"""
from __future__ import annotations

import argparse
import json
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
from sweep import HANG_GUARD_S, TINY  # noqa: E402

from nipkit.sweep.watch import checkpoint_step, wait_for  # noqa: E402
from nipkit.training.history import History  # noqa: E402
from nipkit.training.multi_worker import localhost_tf_configs  # noqa: E402

METRICS = ("loss", "fidelity_loss", "psnr")
NIPKIT = str(Path(sys.executable).parent / "nipkit")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def write_config(path: Path, steps: int, every: int, **training) -> Path:
    document = json.loads(json.dumps(TINY))
    document["training"].update({"steps": steps, "validate_every": every, "checkpoint_every": every,
                                 "batch_size": 4, "seed": 5, **training})
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def start_workers(config: Path, out: Path, *extra: str) -> list[subprocess.Popen]:
    return [subprocess.Popen([NIPKIT, "run", str(config), "--out", str(out), *extra],
                             env={**ENV, "TF_CONFIG": value}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for value in localhost_tf_configs(2)]


def finish(processes: list[subprocess.Popen], what: str) -> list[str]:
    """Waits for every process; their stdout. Stops the script if one failed."""
    results = [p.communicate(timeout=HANG_GUARD_S) for p in processes]
    for index, (process, (_, stderr)) in enumerate(zip(processes, results)):
        if process.returncode != 0:
            raise SystemExit(f"{what}, worker {index}: exit {process.returncode}\n{stderr[-3000:]}")
    return [stdout for stdout, _ in results]


def validations(out: Path) -> list[dict]:
    records = History(out / "joint-r0" / "history.jsonl").records()
    return [{"step": r["step"], **{m: r[m] for m in METRICS}} for r in records]


def one_worker(config: Path, out: Path) -> dict:
    started = time.perf_counter()
    finish([subprocess.Popen([NIPKIT, "run", str(config), "--out", str(out)], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)], "1 worker")
    return {"wall_s": round(time.perf_counter() - started, 2), "validations": validations(out)}


def two_workers(config: Path, out: Path) -> dict:
    started = time.perf_counter()
    finish(start_workers(config, out), "2 workers")
    return {"wall_s": round(time.perf_counter() - started, 2), "validations": validations(out)}


def two_workers_killed(config: Path, out: Path, steps: int, every: int) -> dict:
    """Worker 1 SIGKILLed once the chief has checkpointed (before the last step); both restarted."""
    started = time.perf_counter()
    chief, worker = start_workers(config, out)
    try:
        wait_for(lambda: every <= checkpoint_step(out / "joint-r0") < steps, chief, "a checkpoint of the chief",
                 HANG_GUARD_S)
        worker.send_signal(signal.SIGKILL)
    finally:
        for process in (worker, chief):  # the cluster cannot go on without a worker: stop it
            process.kill()
            process.communicate()
    killed_at = checkpoint_step(out / "joint-r0")
    killed_s = time.perf_counter() - started
    outputs = finish(start_workers(config, out, "--resume"), "2 workers resumed")
    return {"wall_s": round(time.perf_counter() - started, 2), "killed_after_s": round(killed_s, 2),
            "checkpoint_step_at_kill": killed_at,
            "both_resumed_from_it": all(f"from step {killed_at}" in stdout for stdout in outputs),
            "validations": validations(out)}


def max_relative_differences(run: dict, reference: dict) -> dict:
    """The largest |a − b| / |b| of each metric over the validations after step 0."""
    pairs = [(a, b) for a, b in zip(run["validations"], reference["validations"]) if b["step"] > 0]
    return {m: max(abs(a[m] - b[m]) / abs(b[m]) for a, b in pairs) for m in METRICS}


def figure(value: float | None) -> str:
    return "–" if value is None else f"{value:.6g}"  # step 0 has no fidelity loss yet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 steps, validating every 2 (checks the script)")
    parser.add_argument("--out", default="benchmarks/results", help="folder (or .json file) for the figures")
    args = parser.parse_args()
    steps, every = (4, 2) if args.quick else (20, 5)
    with tempfile.TemporaryDirectory(prefix="nipkit-multi-worker-bench-") as tmp:
        tmp = Path(tmp)
        load = os.getloadavg()[0]
        one = write_config(tmp / "one.yaml", steps, every)
        runs = {"1 worker": one_worker(one, tmp / "one"), "1 worker, again": one_worker(one, tmp / "again")}
        config = write_config(tmp / "mw.yaml", steps, every, distribute="multi_worker")
        runs["2 workers"] = two_workers(config, tmp / "two")
        runs["2 workers, killed and resumed"] = two_workers_killed(config, tmp / "killed", steps, every)
        load_end = os.getloadavg()[0]
    reference = runs["1 worker"]
    grid = [v["step"] for v in reference["validations"]]
    for run in runs.values():
        run["same_steps"] = [v["step"] for v in run["validations"]] == grid
        if run is not reference:
            run["max_relative_difference"] = max_relative_differences(run, reference)
    write_json(args.out, "multi-worker.json", {"machine": machine_info(), "load": [load, load_end], "quick": args.quick,
                                               "steps": steps, "validate_every": every, "runs": runs})
    rows = [[name, f"{run['wall_s']:.1f}", *(figure(v[m]) for m in METRICS), str(v["step"])]
            for name, run in runs.items() for v in run["validations"][-1:]]
    print(format_table([("run", "<"), ("wall s", ">"), ("loss", ">"), ("fidelity loss", ">"), ("PSNR", ">"),
                        ("at step", ">")], rows))
    for name, run in runs.items():
        for v in run["validations"]:
            print(f"  {name:31} step {v['step']:3}: " + ", ".join(f"{m} {figure(v[m])}" for m in METRICS))
        if "max_relative_difference" in run:
            diff = run["max_relative_difference"]
            print(f"  {name}: max relative difference from 1 worker: "
                  + ", ".join(f"{m} {diff[m]:.2e}" for m in METRICS) + f"; same steps {run['same_steps']}")
    killed = runs["2 workers, killed and resumed"]
    print(f"killed at checkpoint step {killed['checkpoint_step_at_kill']}; both workers resumed from it: "
          f"{killed['both_resumed_from_it']}")


if __name__ == "__main__":
    main()

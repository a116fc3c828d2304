"""Runs every nipkit benchmark (djpeg, models, data, training) and gathers their JSON.

Each script runs in turn as its own process, prints its table and writes its JSON into
`--out`; then benchmarks.json there collects the machine, every script's JSON and how long
each took. `--quick` passes `--quick` to every script (small sizes: a smoke test that the
benchmarks run, not figures to quote) and limits the training benchmark to INet.

Usage:
    python benchmarks/run_all.py [--out benchmarks/results] [--quick] [--scripts djpeg,models,data,training]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import machine_info, write_json

HERE = Path(__file__).resolve().parent
SCRIPTS = ("djpeg", "models", "data", "training")
QUICK_ARGS = {
    "djpeg": ["--quick"], "models": ["--quick"], "data": ["--quick"], "training": ["--quick", "--nip", "inet"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for every JSON file")
    parser.add_argument("--quick", action="store_true", help="small sizes in every script (a smoke test)")
    parser.add_argument("--scripts", default=",".join(SCRIPTS), help=f"comma-separated subset of {','.join(SCRIPTS)}")
    args = parser.parse_args()
    chosen = args.scripts.split(",")
    unknown = sorted(set(chosen) - set(SCRIPTS))
    if unknown:
        parser.error(f"unknown scripts {', '.join(unknown)}; choose from {', '.join(SCRIPTS)}")

    args.out.mkdir(parents=True, exist_ok=True)
    results, seconds, failed = {}, {}, []
    for name in chosen:
        command = [sys.executable, str(HERE / f"{name}.py"), "--out", str(args.out)]
        command += QUICK_ARGS[name] if args.quick else []
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        done = subprocess.run(command)
        seconds[name] = round(time.perf_counter() - started, 1)
        if done.returncode:
            failed.append(name)
            continue
        results[name] = json.loads((args.out / f"{name}.json").read_text())

    write_json(args.out, "benchmarks.json", {
        "machine": machine_info(), "quick": args.quick, "seconds": seconds, "failed": failed, **results,
    })
    if failed:
        raise SystemExit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()

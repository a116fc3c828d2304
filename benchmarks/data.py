"""Benchmarks nipkit's patch pipeline: training patches per second and peak memory.

Measures `train_batches` (tf.data, parallel map + prefetch) and, for comparison, the
same batches built one after another in plain numpy (`PatchSampler.batch`), on a
prepared dataset (the demo camera by default, built into the cache on first use).
Prints a table and writes JSON.

Usage:
    python benchmarks/data.py [--data demo] [--patch 128] [--batch 20] [--steps 200]
                              [--no-variance-rule] [--quick] [--out benchmarks/results]

`--quick` (a smoke test): 20 batches of 4 patches of 64².

Columns: patches/s (batch × batches / seconds, after 10 warm-up batches), resident memory
before the first batch and the process's peak resident set (both include TensorFlow
itself); the difference is what the pipeline's buffers and memory maps cost.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from common import current_rss_mib, fill_defaults, format_table, peak_rss_mib, write_json

WARMUP = 10
FULL = {"patch": 128, "batch": 20, "steps": 200}
QUICK = {"patch": 64, "batch": 4, "steps": 20}


def _patches_per_s(next_batch, batch: int, steps: int) -> float:
    for _ in range(WARMUP):
        next_batch()
    start = time.perf_counter()
    for _ in range(steps):
        next_batch()
    return batch * steps / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="demo", help="data spec: demo, demo:<camera> or a prepared folder")
    parser.add_argument("--patch", type=int, help="RGB patch side (128; --quick 64)")
    parser.add_argument("--batch", type=int, help="patches per batch (20; --quick 4)")
    parser.add_argument("--steps", type=int, help="timed batches (200; --quick 20)")
    parser.add_argument("--no-variance-rule", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 20 batches of 4 patches of 64²")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = fill_defaults(parser.parse_args(argv), FULL, QUICK)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from nipkit.data import Dataset, resolve_data
    from nipkit.data.patches import PatchSampler, train_batches

    data = Dataset(resolve_data(args.data))
    rule = not args.no_variance_rule
    rss_before = current_rss_mib() or peak_rss_mib()

    pipeline = iter(train_batches(data, args.patch, args.batch, seed=0, variance_rule=rule))
    tf_rate = _patches_per_s(lambda: next(pipeline), args.batch, args.steps)
    sampler = PatchSampler(data, data.train, args.patch, rule)
    step = iter(range(10**9))
    numpy_rate = _patches_per_s(lambda: sampler.batch(0, next(step), args.batch), args.batch, args.steps)

    result = {
        "data": args.data,
        "camera": data.camera,
        "train_photos": len(data.train),
        "patch": args.patch,
        "batch": args.batch,
        "steps": args.steps,
        "variance_rule": rule,
        "cpus": os.cpu_count(),
        "tensorflow": tf.__version__,
        "tf_data_patches_per_s": round(tf_rate, 1),
        "numpy_serial_patches_per_s": round(numpy_rate, 1),
        "rss_before_mib": round(rss_before, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    rows = [
        ("train_batches (tf.data)", f"{tf_rate:,.0f}"),
        ("PatchSampler.batch (serial numpy)", f"{numpy_rate:,.0f}"),
    ]
    print(f"{data.camera}: {len(data.train)} training photos, {args.patch}² patches, batch {args.batch}, {os.cpu_count()} CPUs")
    print(format_table([("pipeline", "<"), ("patches/s", ">")], rows))
    print(f"resident memory before the first batch {rss_before:,.0f} MiB, peak {result['peak_rss_mib']:,.0f} MiB")
    write_json(args.out, "data.json", result)


if __name__ == "__main__":
    main()

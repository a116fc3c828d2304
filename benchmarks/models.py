"""Benchmarks nipkit's models: parameters, forward time, training-step time, peak memory.

Each model runs in its own subprocess (so peak memory is that model's alone), built from
the registry with default parameters. NIPs develop (batch, 64, 64, 4) RAW stacks into
128×128 patches and train on L2; the FAN classifies (and ONet passes) 128×128×3 patches and trains on
cross-entropy; both with Adam, as in the paper. Prints a table and writes JSON.

Usage:
    python benchmarks/models.py [--out benchmarks/results] [--models inet,unet,dnet,onet,fan]
                                [--iters 5] [--batch 20]

Columns: forward ms per 128² patch (a batch of `--batch` patches, divided by the batch),
train-step ms at that batch size (and it/s; the paper's K80 figures: INet 8.80, UNet 1.75,
DNet 0.66 it/s), peak memory (the accelerator's peak allocation on GPU, the process's
peak resident set on CPU, which includes TensorFlow itself).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

PATCH = 128
PAPER_IT_S = {"inet": 8.80, "unet": 1.75, "dnet": 0.66}


def _median_ms(fn, iters: int) -> float:
    fn()  # trace / warm up
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[len(times) // 2]


def run_one(name: str, iters: int, batch: int) -> dict:
    """Measures one model in this process (TensorFlow backend)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from nipkit import registry

    gpus = tf.config.list_physical_devices("GPU")
    model = registry.models.build(name)
    rng = np.random.default_rng(0)
    if name in ("fan", "onet"):  # RGB input
        x = rng.uniform(size=(batch, PATCH, PATCH, 3)).astype("float32")
        y = tf.one_hot(rng.integers(0, 5, batch), 5)
        loss_fn = lambda out: keras.ops.mean(keras.losses.categorical_crossentropy(y, out))  # noqa: E731
    else:
        x = rng.uniform(size=(batch, PATCH // 2, PATCH // 2, 4)).astype("float32")
        y = rng.uniform(size=(batch, PATCH, PATCH, 3)).astype("float32")
        loss_fn = lambda out: keras.ops.mean((out - y) ** 2)  # noqa: E731
    x = tf.constant(x)
    model(x[:1])
    params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    optimizer = keras.optimizers.Adam(1e-4)

    @tf.function
    def forward():
        return model(x, training=False)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = loss_fn(model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    if gpus:
        tf.config.experimental.reset_memory_stats("GPU:0")
    forward_ms = _median_ms(lambda: forward().numpy(), iters)
    train_ms = _median_ms(lambda: train_step().numpy(), iters) if params else None
    if gpus:
        peak_mib = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
        device = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        device = f"CPU ({os.cpu_count()} cores)"
    return {
        "model": name,
        "trainable_params": params,
        "forward_ms_per_patch": forward_ms / batch,
        "train_step_ms": train_ms,
        "train_it_per_s": 1000 / train_ms if train_ms else None,
        "paper_k80_it_per_s": PAPER_IT_S.get(name),
        "peak_memory_mib": peak_mib,
        "device": device,
        "batch": batch,
        "iters": iters,
    }


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results", help="folder for models.json")
    parser.add_argument("--models", default="inet,unet,dnet,onet,fan")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations after a warm-up")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(run_one(args.worker, args.iters, args.batch)))
        return

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    rows = []
    for name in args.models.split(","):
        cmd = [sys.executable, __file__, "--worker", name, "--iters", str(args.iters), "--batch", str(args.batch)]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"measured {name}", file=sys.stderr)

    header = "| model | trainable params | forward ms / 128² patch | train step ms (batch {b}) | it/s | paper K80 it/s | peak MiB |"
    print(f"device: {rows[0]['device']}, {args.iters} timed iterations (median)")
    print(header.format(b=args.batch))
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['trainable_params']:,} | {r['forward_ms_per_patch']:.2f} | "
            f"{_fmt(r['train_step_ms'], '.0f')} | {_fmt(r['train_it_per_s'], '.2f')} | "
            f"{_fmt(r['paper_k80_it_per_s'], '.2f')} | {r['peak_memory_mib']:.0f} |"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "models.json").write_text(json.dumps(rows, indent=2))
    print(f"wrote {out / 'models.json'}")


if __name__ == "__main__":
    main()

"""Benchmarks nipkit's models: parameters, forward time, training-step time, peak memory.

Each model runs in its own subprocess (so peak memory is that model's alone), built from
the registry with default parameters. NIPs develop (batch, 64, 64, 4) RAW stacks into
128×128 patches and train on L2; the FAN classifies (and ONet passes) 128×128×3 patches and trains on
cross-entropy; both with Adam, as in the paper. Prints a table and writes JSON.

Usage:
    python benchmarks/models.py [--out benchmarks/results] [--models inet,unet,dnet,onet,fan]
                                [--iters 5] [--batch 20] [--quick]

`--quick` (a smoke test): INet only, batch 2, 1 timed iteration.

Columns: forward ms per 128² patch (a batch of `--batch` patches, divided by the batch),
train-step ms at that batch size (and it/s; the paper's K80 figures: INet 8.80, UNet 1.75,
DNet 0.66 it/s), peak memory (the accelerator's peak allocation on GPU, the process's
peak resident set on CPU, which includes TensorFlow itself).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from nipkit import registry  # metadata only: TensorFlow starts in the workers

from common import fill_defaults, format_table, peak_memory_mib, reset_peak_memory, run_worker, write_json

PATCH = 128
PAPER_IT_S = {"inet": 8.80, "unet": 1.75, "dnet": 0.66}
BUILT_IN_MODELS = ",".join(e.name for e in registry.models.entries() if e.distribution == "nipkit")
FULL = {"models": BUILT_IN_MODELS, "iters": 5, "batch": 20}
QUICK = {"models": "inet", "iters": 1, "batch": 2}


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

    model = registry.models.build(name)
    rng = np.random.default_rng(0)
    if "fan" in registry.models.roles(name) or getattr(model, "input_channels", 4) == 3:  # RGB input
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

    reset_peak_memory(tf)
    forward_ms = _median_ms(lambda: forward().numpy(), iters)
    train_ms = _median_ms(lambda: train_step().numpy(), iters) if params else None
    peak_mib, device = peak_memory_mib(tf)
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
    parser.add_argument("--models", help="comma-separated (inet,unet,dnet,onet,fan; --quick inet)")
    parser.add_argument("--iters", type=int, help="timed iterations after a warm-up (5; --quick 1)")
    parser.add_argument("--batch", type=int, help="patches per batch (20; --quick 2)")
    parser.add_argument("--quick", action="store_true", help="a smoke test: INet only, batch 2, 1 iteration")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    fill_defaults(args, FULL, QUICK)

    if args.worker:
        print(json.dumps(run_one(args.worker, args.iters, args.batch)))
        return

    rows = []
    for name in args.models.split(","):
        rows.append(run_worker(__file__, ["--worker", name, "--iters", str(args.iters), "--batch", str(args.batch)]))
        print(f"measured {name}", file=sys.stderr)

    columns = [("model", "<"), ("trainable params", ">"), ("forward ms / 128² patch", ">"),
               (f"train step ms (batch {args.batch})", ">"), ("it/s", ">"), ("paper K80 it/s", ">"), ("peak MiB", ">")]
    cells = [[
        r["model"], f"{r['trainable_params']:,}", f"{r['forward_ms_per_patch']:.2f}", _fmt(r["train_step_ms"], ".0f"),
        _fmt(r["train_it_per_s"], ".2f"), _fmt(r["paper_k80_it_per_s"], ".2f"), f"{r['peak_memory_mib']:.0f}",
    ] for r in rows]
    print(f"device: {rows[0]['device']}, {args.iters} timed iterations (median)")
    print(format_table(columns, cells))
    write_json(args.out, "models.json", rows)


if __name__ == "__main__":
    main()

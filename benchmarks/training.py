"""Benchmarks nipkit's training steps: NIP pre-training and the joint F+N step.

The steps are nipkit's own: the configs are the repository's examples (examples/nip/<nip>.yaml
for pre-training, examples/paper/unet.yaml with `nip` replaced for F+N) with the data and
sizes overridden, the models and optimisers are built and the steps compiled by nipkit's
public training API (`nipkit.training.NipTrainer` and `nipkit.training.Experiment`, each
`from_config`), on the runtime `select_runtime` picks, fed by their `batches()` (the demo
camera by default). Each configuration runs in
its own process, so its peak memory is its own.

Sizes: pre-training takes batches of `--batch` random `--patch`² patches (paper: 20 of 128²);
the F+N step develops `--batch` (2·patch)² patches, runs them through the 5 classes
(native + 4 manipulations) and the channel (1:2 downscale, then JPEG 50), and the FAN sees
5·batch patches of `--patch`² (paper: 20 NIP patches of 256², 100 FAN inputs of 128²).
`--quick` (a smoke test, e.g. on a CPU): batch 2, patch 32, 2 timed steps after 1 warm-up,
a 512² matmul reference; the full sizes: batch 20, patch 128, 20 timed steps after 3 warm-ups.

Measured per configuration, after the warm-up steps (which include tracing/compiling):
- step ms: median time of one step, from the call until its loss is on the host, without
  waiting for input; it/s and images/s (NIP patches per second) include that wait.
- input wait: the share of the timed loop spent in `next(iterator)` on the tf.data pipeline.
- GFLOP per step: TensorFlow's graph profiler (`tf.compat.v1.profiler`, float_operation) on
  the step's concrete function traced without XLA; it counts the ops TensorFlow has a
  FLOP cost for (convolutions, matrix products and their gradients, element-wise
  arithmetic) and leaves out the rest (e.g. sin, exp), so it is a slight undercount.
- GFLOP/s achieved (GFLOP per step / step time) and its ratio to a chained n×n matmul timed
  in the same process, in the step's compute dtype (float16 with mixed precision): how
  close the step comes to what this machine's matrix units deliver.
- peak memory: the GPU allocator's peak, else the process's peak resident set (which
  includes TensorFlow itself).

Usage:
    python benchmarks/training.py [--nip inet,unet,dnet] [--only pretrain|joint] [--batch 20]
        [--patch 128] [--steps 20] [--mixed-precision] [--xla] [--data demo] [--quick]
        [--out benchmarks/results]

`--nip` names the NIPs of both steps; without it pre-training runs INet, UNet and DNet and
F+N runs UNet. Mixed precision and XLA are GPU options; on a CPU nipkit turns them off (the
JSON records what was used).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

from common import (
    WorkerError, current_rss_mib, fill_defaults, format_table, machine_info, peak_memory_mib, reset_peak_memory,
    run_worker, write_json,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PRETRAIN_NIPS = ("inet", "unet", "dnet")
JOINT_NIP = "unet"
PAPER_K80_IT_S = {"inet": 8.80, "unet": 1.75, "dnet": 0.66}
INPUT_WAIT_TARGET = 0.05
FULL = {"batch": 20, "patch": 128, "steps": 20, "warmup": 3}
QUICK = {"batch": 2, "patch": 32, "steps": 2, "warmup": 1, "matmul": 512}
MATMUL_SIZE = {"GPU": 8192, "CPU": 2048}
MATMUL_CHAIN = 4
MATMUL_REPEATS = 3
FLOP_METHOD = ("tf.compat.v1.profiler float_operation on the step's concrete function graph (traced without XLA); "
               "counts ops with a registered FLOP cost, so a slight undercount")


def _overrides(job: dict, patch: int) -> list[str]:
    return [
        f"data={job['data']}", f"nip={job['nip']}", f"training.batch_size={job['batch']}",
        f"training.patch_size={patch}", f"training.mixed_precision={str(job['mixed_precision']).lower()}",
        f"training.xla={str(job['xla']).lower()}",
    ]


def _config(path: Path, overrides: list[str]):
    """An example config with the job's overrides, validated."""
    from nipkit.config import load_config
    from nipkit.schema import validate

    config = load_config(path, overrides)
    validate(config)
    return config


def _pretraining(job: dict):
    """(trainer, step factory, models, classes) of a NIP pre-training step."""
    from nipkit.training import NipTrainer

    trainer = NipTrainer.from_config(_config(EXAMPLES / "nip" / f"{job['nip']}.yaml", _overrides(job, job["patch"])))
    return trainer, trainer.train_step, [trainer.model], None


def _joint(job: dict):
    """(experiment, step factory, models, classes) of a joint F+N step (paper config)."""
    from nipkit.training import Experiment

    config = _config(EXAMPLES / "paper" / "unet.yaml", _overrides(job, 2 * job["patch"]) + ["training.mode=joint"])
    exp = Experiment.from_config(config, mode="joint")
    return exp, exp.train_step, [exp.nip, exp.fan], exp.joint.n_classes


def count_flops(tf, step, batch) -> int:
    """FLOPs of one call of the tf.function `step` on `batch`, by TensorFlow's graph profiler."""
    graph = step.get_concrete_function(batch).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    return int(tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops)


def matmul_gflop_s(tf, size: int, dtype: str) -> float:
    """Best rate of a chain of MATMUL_CHAIN size×size products (so none can be skipped)."""
    a = tf.random.normal((size, size), dtype=dtype)
    b = tf.cast(tf.random.normal((size, size)) / math.sqrt(size), dtype)  # keeps values ~N(0, 1)

    @tf.function
    def chain(x):
        for _ in range(MATMUL_CHAIN):
            x = tf.matmul(x, b)
        return tf.reduce_sum(tf.cast(x, tf.float32))

    chain(a).numpy()
    best = min(_seconds(lambda: chain(a).numpy()) for _ in range(MATMUL_REPEATS))
    return 2 * size**3 * MATMUL_CHAIN / best / 1e9


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def worker(job: dict) -> dict:
    """Builds and times one configuration in this process."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    reset_peak_memory(tf)
    rss_before = current_rss_mib()
    trainer, make_step, models, classes = (_joint if job["step"] == "joint" else _pretraining)(job)
    runtime, options = trainer.runtime, trainer.options
    step = make_step(runtime)
    batches = trainer.batches()
    for _ in range(job["warmup"]):
        step(next(batches))["loss"].numpy()

    waits, steps = [], []
    started = time.perf_counter()
    for _ in range(job["steps"]):
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        step(batch)["loss"].numpy()
        waits.append(t1 - t0)
        steps.append(time.perf_counter() - t1)
    models[0].trainable_variables[0].numpy()  # the last update has landed
    loop_s = time.perf_counter() - started
    peak_mib, device = peak_memory_mib(tf)

    counting = step if not runtime.xla else make_step(dataclasses.replace(runtime, xla=False))
    flops = count_flops(tf, counting, batch)
    kind = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    matmul_size = job["matmul"] or MATMUL_SIZE[kind]
    matmul_dtype = "float16" if runtime.mixed_precision else "float32"
    reference = matmul_gflop_s(tf, matmul_size, matmul_dtype)

    step_s = statistics.median(steps)
    iteration_s = loop_s / job["steps"]
    achieved = flops / step_s / 1e9
    return {
        "step": job["step"],
        "nip": job["nip"],
        "batch": options.batch_size,
        "patch": options.patch_size,
        "fan_input": job["patch"] if job["step"] == "joint" else None,
        "classes": classes,
        "device": device,
        "runtime": runtime.device,
        "mixed_precision": runtime.mixed_precision,
        "xla": runtime.xla,
        "trainable_params": int(sum(math.prod(w.shape) for m in models for w in m.trainable_weights)),
        "warmup": job["warmup"],
        "steps": job["steps"],
        "step_ms": step_s * 1000,
        "iteration_ms": iteration_s * 1000,
        "it_per_s": 1 / iteration_s,
        "images_per_s": options.batch_size / iteration_s,
        "input_wait_share": sum(waits) / loop_s,
        "paper_k80_it_per_s": PAPER_K80_IT_S.get(job["nip"]) if job["step"] == "pretrain" else None,
        "gflop_per_step": flops / 1e9,
        "achieved_gflop_s": achieved,
        "matmul_size": matmul_size,
        "matmul_dtype": matmul_dtype,
        "matmul_gflop_s": reference,
        "matmul_ratio": achieved / reference,
        "peak_memory_mib": peak_mib,
        "rss_before_mib": rss_before,
    }


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[dict]) -> str:
    columns = [("step", "<"), ("NIP", "<"), ("batch", ">"), ("patch", ">"), ("mixed", "<"), ("XLA", "<"),
               ("step ms", ">"), ("it/s", ">"), ("images/s", ">"), ("paper K80 it/s", ">"), ("GFLOP/step", ">"),
               ("GFLOP/s", ">"), ("/ matmul", ">"), ("input wait", ">"), ("peak MiB", ">")]
    cells = [[
        {"pretrain": "pre-training", "joint": "F+N"}[r["step"]], r["nip"], str(r["batch"]), f"{r['patch']}²",
        "yes" if r["mixed_precision"] else "no", "yes" if r["xla"] else "no",
        f"{r['step_ms']:.1f}", f"{r['it_per_s']:.2f}", f"{r['images_per_s']:.1f}",
        _fmt(r["paper_k80_it_per_s"], ".2f"), f"{r['gflop_per_step']:.2f}", f"{r['achieved_gflop_s']:.1f}",
        f"{r['matmul_ratio']:.2f}", f"{100 * r['input_wait_share']:.1f}%", f"{r['peak_memory_mib']:.0f}",
    ] for r in rows]
    return format_table(columns, cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nip", help="comma-separated NIPs (inet, unet, dnet) for both steps")
    parser.add_argument("--only", choices=("pretrain", "joint"), help="run one kind of step only")
    parser.add_argument("--batch", type=int, help="NIP patches per step (20; --quick 2)")
    parser.add_argument("--patch", type=int, help="pre-training patch and FAN input side (128; --quick 32)")
    parser.add_argument("--steps", type=int, help="timed steps (20; --quick 2)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (3; --quick 1)")
    parser.add_argument("--matmul", type=int,
                        help="side of the reference matmul (8192 on GPU, 2048 on CPU; --quick 512)")
    parser.add_argument("--mixed-precision", action="store_true", help="float16 compute (GPU)")
    parser.add_argument("--xla", action="store_true", help="XLA-compiled steps (GPU)")
    parser.add_argument("--data", default="demo", help="data spec: demo, demo:<camera> or a prepared folder")
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    parser.add_argument("--out", default="benchmarks/results", help="folder for training.json (or a .json file)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    fill_defaults(args, {**FULL, "matmul": None}, QUICK)
    for key in ("batch", "patch", "steps"):
        if getattr(args, key) < 1:
            parser.error(f"--{key} must be at least 1")
    if args.warmup < 1:
        parser.error("--warmup must be at least 1 (the first step traces the function)")

    named = args.nip.split(",") if args.nip else None
    if named and set(named) - set(PRETRAIN_NIPS):
        parser.error(f"--nip: choose from {', '.join(PRETRAIN_NIPS)}, got {args.nip}")
    jobs = [("pretrain", n) for n in (named or PRETRAIN_NIPS)] + [("joint", n) for n in (named or [JOINT_NIP])]
    settings = {"batch": args.batch, "patch": args.patch, "steps": args.steps, "warmup": args.warmup,
                "matmul": args.matmul, "mixed_precision": args.mixed_precision, "xla": args.xla, "data": args.data}
    rows, failed = [], []
    for kind, name in jobs:
        if args.only and kind != args.only:
            continue
        try:
            rows.append(run_worker(__file__, ["--worker", json.dumps({"step": kind, "nip": name, **settings})]))
        except WorkerError as exc:  # keep the other configurations' figures
            print(exc, file=sys.stderr)
            failed.append(f"{kind} {name}")
            continue
        print(f"  measured {kind} {name}", file=sys.stderr, flush=True)
    if not rows:
        raise SystemExit(f"every configuration failed: {', '.join(failed)}")

    machine = machine_info()
    print(f"device: {rows[0]['device']} ({machine['cpu']}, {machine['cpus']} CPUs), "
          f"TensorFlow {machine['tensorflow']}, {args.steps} timed steps after {args.warmup} warm-up, "
          f"load average {machine['load_average']:.1f}")
    print(table(rows))
    worst = max(r["input_wait_share"] for r in rows)
    print(f"input wait: at most {100 * worst:.1f}% of the loop (target < {100 * INPUT_WAIT_TARGET:.0f}%: "
          f"{'met' if worst < INPUT_WAIT_TARGET else 'MISSED'})")
    print(f"FLOPs: {FLOP_METHOD}")
    write_json(args.out, "training.json", {
        "machine": machine, "settings": {**settings, "quick": args.quick}, "flop_method": FLOP_METHOD,
        "input_wait_target": INPUT_WAIT_TARGET, "rows": rows, "failed": failed,
    })
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)} (see above)")


if __name__ == "__main__":
    main()

"""DifferentiableJPEG: throughput and memory on the CPU, and agreement with libjpeg.

Throughput: a batch of 128×128 photo crops through the layer compiled with
`tf.function(jit_compile=True)` (forward, and forward + backward w.r.t. the input), beside
Pillow's libjpeg encode + decode of the same images (one thread, as Pillow runs). Each
configuration runs in its own process, so its peak resident memory (`ru_maxrss`) is its
own; the baseline is that process's memory before the first call. Times are the best of
`--repeats` runs (the least disturbed by other processes).

Accuracy (the paper's Fig. 3): for 128² and 256² centre crops of the bundled photos and
qualities 10..90, mean PSNR of "round" vs Pillow (targets: ≥ 50 dB for 4:4:4, ≥ 47 dB for
4:2:0) and PSNR vs the original of libjpeg and of each rounding mode.

Usage:
    python benchmarks/djpeg.py [--out benchmarks/results/djpeg.json] [--batch 64] [--repeats 10]
                               [--skip-accuracy] [--quick]

`--quick` (a smoke test): 4:2:0 with `sin` rounding beside Pillow only, batch 8, best of 2,
no accuracy tables.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

from common import current_rss_mib, fill_defaults, format_table, machine_info, peak_rss_mib, run_worker, write_json

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SPEED_CONFIGS = [
    {"subsampling": sub, "rounding": mode} for sub in ("4:4:4", "4:2:0") for mode in ("ste", "sin", "harmonic")
]
ACCURACY_SIZES = (128, 256)
TARGET_AGREEMENT_DB = {"4:4:4": 50.0, "4:2:0": 47.0}
TARGET_TRAIN_RATE = 600.0
FULL = {"batch": 64, "repeats": 10}
QUICK = {"batch": 8, "repeats": 2}
QUICK_CONFIGS = [{"subsampling": "4:2:0", "rounding": "sin"}]


def _crops(batch: int, size: int):
    """`batch` size×size crops tiled over the bundled photos (deterministic)."""
    import numpy as np

    from nipkit.cli.jpeg_check import photo_crops

    _, big = photo_crops(256)
    rng = np.random.default_rng(0)
    picks = [(rng.integers(len(big)), *rng.integers(0, 256 - size + 1, 2)) for _ in range(batch)]
    return np.stack([big[i, y : y + size, x : x + size] for i, y, x in picks])


def _best(fn, repeats: int) -> dict:
    fn()  # compile / warm up
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"wall_s": min(wall), "cpu_s": min(cpu)}


def worker(config: dict) -> dict:
    """Measures one configuration in this process; returns rates and memory."""
    import numpy as np

    images = _crops(config["batch"], config["size"])
    baseline = peak_rss_mib()
    n = len(images)
    if config["rounding"] == "pillow":
        from nipkit.evaluation.libjpeg import roundtrip

        t = _best(lambda: roundtrip(images, 50, config["subsampling"]), config["repeats"])
        return {**config, "forward": n / t["wall_s"], "forward_cpu": n / t["cpu_s"],
                "peak_rss_mib": peak_rss_mib(), "baseline_rss_mib": baseline, "final_rss_mib": current_rss_mib()}

    import tensorflow as tf

    from nipkit.layers.jpeg import DifferentiableJPEG

    layer = DifferentiableJPEG(50, config["rounding"], config["subsampling"])
    x = tf.constant(images)
    forward = tf.function(lambda x: layer(x), jit_compile=True)

    @tf.function(jit_compile=True)
    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_mean(tf.square(layer(x) - x))
        return tape.gradient(loss, x)

    t_fwd = _best(lambda: forward(x).numpy(), config["repeats"])
    t_train = _best(lambda: forward_backward(x).numpy(), config["repeats"])
    assert np.all(np.isfinite(forward_backward(x).numpy()))
    return {**config, "forward": n / t_fwd["wall_s"], "forward_cpu": n / t_fwd["cpu_s"],
            "forward_backward": n / t_train["wall_s"], "forward_backward_cpu": n / t_train["cpu_s"],
            "peak_rss_mib": peak_rss_mib(), "baseline_rss_mib": baseline, "final_rss_mib": current_rss_mib()}


def speed_table(rows: list[dict]) -> str:
    pillow = {r["subsampling"]: r["forward"] for r in rows if r["rounding"] == "pillow"}
    columns = [("subsampling", "<"), ("rounding", "<"), ("fwd img/s", ">"), ("fwd/Pillow", ">"), ("fwd+bwd img/s", ">"),
               ("peak RSS MiB", ">"), ("(+ over start)", ">"), ("RSS after MiB", ">")]
    cells = [[
        r["subsampling"], r["rounding"], f"{r['forward']:.0f}", f"{r['forward'] / pillow[r['subsampling']]:.2f}",
        f"{r['forward_backward']:.0f}" if "forward_backward" in r else "-", f"{r['peak_rss_mib']:.0f}",
        f"{r['peak_rss_mib'] - r['baseline_rss_mib']:.0f}", f"{r['final_rss_mib'] or math.nan:.0f}",
    ] for r in rows]
    return format_table(columns, cells)


def accuracy(progress: bool) -> list[dict]:
    from nipkit.cli.jpeg_check import fig3_rows, photo_crops

    results = []
    for size in ACCURACY_SIZES:
        _, images = photo_crops(size)
        for sub in TARGET_AGREEMENT_DB:
            results.append({"size": size, "subsampling": sub, "rows": fig3_rows(images, sub, progress=progress)})
    return results


def _finite(value):
    return None if isinstance(value, float) and math.isinf(value) else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/djpeg.json",
                        help="JSON file, or a folder to write djpeg.json into")
    parser.add_argument("--batch", type=int, help="images per batch (64; --quick 8)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, help="timed runs, the best is kept (10; --quick 2)")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 4:2:0 sin rounding and Pillow only, small batch, no accuracy tables")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    fill_defaults(args, FULL, QUICK)

    from nipkit.cli.jpeg_check import format_rows

    common = {"batch": args.batch, "size": args.size, "repeats": args.repeats}
    configs = QUICK_CONFIGS if args.quick else SPEED_CONFIGS
    subsamplings = sorted({c["subsampling"] for c in configs}, key=list(TARGET_AGREEMENT_DB).index)
    speed = []
    for config in [{"subsampling": s, "rounding": "pillow"} for s in subsamplings] + configs:
        speed.append(run_worker(__file__, ["--worker", json.dumps({**config, **common})]))
        print(f"  measured {config['subsampling']} {config['rounding']}", file=sys.stderr, flush=True)
    print(f"Throughput, batch {args.batch} of {args.size}x{args.size}, {os.cpu_count()} CPUs, "
          f"XLA-compiled (tf.function(jit_compile=True)); Pillow: encode+decode q50, one thread; "
          f"load average at end {os.getloadavg()[0]:.1f}")
    print(speed_table(speed))

    tables = [] if args.skip_accuracy or args.quick else accuracy(progress=sys.stderr.isatty())
    for table in tables:
        agreement = min(r["agreement"] for r in table["rows"])
        target = TARGET_AGREEMENT_DB[table["subsampling"]]
        print(f"\nAccuracy {table['subsampling']}, {table['size']}x{table['size']} crops of 6 photos: min over q of "
              f"mean PSNR(round, Pillow) = {agreement:.2f} dB (target >= {target:.0f} dB: "
              f"{'met' if agreement >= target else 'MISSED'})")
        print(format_rows(table["rows"]))

    payload = {
        "machine": {**machine_info(), "load_average_end": os.getloadavg()[0]},
        "targets": {"agreement_db": TARGET_AGREEMENT_DB, "forward_backward_img_s": TARGET_TRAIN_RATE,
                    "forward_vs_pillow": 1 / 3},
        "speed": speed,
        "accuracy": [{**t, "rows": [{k: _finite(v) for k, v in r.items()} for r in t["rows"]]} for t in tables],
    }
    print()
    write_json(args.out, "djpeg.json", payload)


if __name__ == "__main__":
    main()

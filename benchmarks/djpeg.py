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
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SPEED_CONFIGS = [
    {"subsampling": sub, "rounding": mode} for sub in ("4:4:4", "4:2:0") for mode in ("ste", "sin", "harmonic")
]
ACCURACY_SIZES = (128, 256)
TARGET_AGREEMENT_DB = {"4:4:4": 50.0, "4:2:0": 47.0}
TARGET_TRAIN_RATE = 600.0


def _rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mib() -> float | None:
    """Resident memory now (after the runs: without the XLA compiler's transient peak)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


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
    baseline = _rss_mib()
    n = len(images)
    if config["rounding"] == "pillow":
        from nipkit.evaluation.libjpeg import roundtrip

        t = _best(lambda: roundtrip(images, 50, config["subsampling"]), config["repeats"])
        return {**config, "forward": n / t["wall_s"], "forward_cpu": n / t["cpu_s"],
                "peak_rss_mib": _rss_mib(), "baseline_rss_mib": baseline, "final_rss_mib": _current_rss_mib()}

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
            "peak_rss_mib": _rss_mib(), "baseline_rss_mib": baseline, "final_rss_mib": _current_rss_mib()}


def run_worker(config: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(config)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def speed_table(rows: list[dict]) -> str:
    pillow = {r["subsampling"]: r["forward"] for r in rows if r["rounding"] == "pillow"}
    lines = [f"{'subsampling':<11}  {'rounding':<8}  {'fwd img/s':>9}  {'fwd/Pillow':>10}  {'fwd+bwd img/s':>13}"
             f"  {'peak RSS MiB':>12}  {'(+ over start)':>14}  {'RSS after MiB':>13}"]
    for r in rows:
        train = f"{r['forward_backward']:>13.0f}" if "forward_backward" in r else f"{'-':>13}"
        lines.append(f"{r['subsampling']:<11}  {r['rounding']:<8}  {r['forward']:>9.0f}  "
                     f"{r['forward'] / pillow[r['subsampling']]:>10.2f}  {train}  {r['peak_rss_mib']:>12.0f}  "
                     f"{r['peak_rss_mib'] - r['baseline_rss_mib']:>14.0f}  {r['final_rss_mib'] or math.nan:>13.0f}")
    return "\n".join(lines)


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
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    from nipkit.cli.jpeg_check import format_rows

    common = {"batch": args.batch, "size": args.size, "repeats": args.repeats}
    speed = []
    for config in [{"subsampling": s, "rounding": "pillow"} for s in TARGET_AGREEMENT_DB] + SPEED_CONFIGS:
        speed.append(run_worker({**config, **common}))
        print(f"  measured {config['subsampling']} {config['rounding']}", file=sys.stderr, flush=True)
    print(f"Throughput, batch {args.batch} of {args.size}x{args.size}, {os.cpu_count()} CPUs, "
          f"XLA-compiled (tf.function(jit_compile=True)); Pillow: encode+decode q50, one thread; "
          f"load average at end {os.getloadavg()[0]:.1f}")
    print(speed_table(speed))

    tables = [] if args.skip_accuracy else accuracy(progress=sys.stderr.isatty())
    for table in tables:
        agreement = min(r["agreement"] for r in table["rows"])
        target = TARGET_AGREEMENT_DB[table["subsampling"]]
        print(f"\nAccuracy {table['subsampling']}, {table['size']}x{table['size']} crops of 6 photos: min over q of "
              f"mean PSNR(round, Pillow) = {agreement:.2f} dB (target >= {target:.0f} dB: "
              f"{'met' if agreement >= target else 'MISSED'})")
        print(format_rows(table["rows"]))

    out = Path(args.out)
    out = out if out.suffix == ".json" else out / "djpeg.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_end": os.getloadavg()[0]},
        "targets": {"agreement_db": TARGET_AGREEMENT_DB, "forward_backward_img_s": TARGET_TRAIN_RATE,
                    "forward_vs_pillow": 1 / 3},
        "speed": speed,
        "accuracy": [{**t, "rows": [{k: _finite(v) for k, v in r.items()} for r in t["rows"]]} for t in tables],
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

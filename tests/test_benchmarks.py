"""The benchmark scripts run end to end and write their JSON (timings are never asserted)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import HANG_GUARD_S

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
TRAINING_FIGURES = ("step_ms", "iteration_ms", "it_per_s", "images_per_s", "gflop_per_step", "achieved_gflop_s",
                    "matmul_gflop_s", "matmul_ratio", "peak_memory_mib")

pytestmark = pytest.mark.slow


def _run(script: str, *args: str) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert done.returncode == 0, done.stderr[-3000:]


def _positive(row: dict, keys) -> None:
    for key in keys:
        assert isinstance(row[key], (int, float)) and math.isfinite(row[key]) and row[key] > 0, (key, row[key])


def _check_training(payload: dict, expected: list[tuple[str, str]]) -> None:
    assert [(r["step"], r["nip"]) for r in payload["rows"]] == expected
    assert payload["machine"]["cpus"] > 0 and payload["machine"]["tensorflow"]
    for row in payload["rows"]:
        _positive(row, TRAINING_FIGURES)
        assert 0 <= row["input_wait_share"] < 1
        assert row["steps"] == 2 and row["batch"] == 2
    joint = [r for r in payload["rows"] if r["step"] == "joint"]
    assert all(r["classes"] == 5 and r["patch"] == 2 * r["fan_input"] for r in joint)


def test_training_benchmark_writes_its_figures(tmp_path):
    _run("training.py", "--quick", "--steps", "2", "--out", str(tmp_path))
    payload = json.loads((tmp_path / "training.json").read_text())
    _check_training(payload, [("pretrain", "inet"), ("pretrain", "unet"), ("pretrain", "dnet"), ("joint", "unet")])
    # the same mathematics costs more with a larger model: UNet's step outweighs INet's
    flops = {r["nip"]: r["gflop_per_step"] for r in payload["rows"] if r["step"] == "pretrain"}
    assert flops["unet"] > 10 * flops["inet"]


def test_codec_benchmark_times_the_codec_beside_libjpeg(tmp_path):
    _run("codec.py", "--quick", "--out", str(tmp_path))
    payload = json.loads((tmp_path / "codec.json").read_text())
    assert [r["codec"].split(" (")[0] for r in payload["rows"]] == [
        "LearnedCodec(32, untrained)", "libjpeg q50 4:4:4", "libjpeg q50 4:2:0"]
    for row in payload["rows"]:
        _positive(row, ("encode_mp_s", "decode_mp_s", "bpp", "psnr"))


def test_run_all_gathers_every_benchmark(tmp_path):
    started = time.perf_counter()
    _run("run_all.py", "--quick", "--out", str(tmp_path))
    elapsed = time.perf_counter() - started
    gathered = json.loads((tmp_path / "benchmarks.json").read_text())
    assert gathered["failed"] == [] and gathered["quick"] is True
    names = ("djpeg", "models", "data", "training")
    for name in names:
        assert json.loads((tmp_path / f"{name}.json").read_text()) == gathered[name]
    # Each benchmark's time is its own share of the run: together they fit in the run's.
    assert set(gathered["seconds"]) == set(names)
    assert 0 < sum(gathered["seconds"].values()) <= elapsed + 0.05 * len(names)  # each rounded to 0.1 s

    speed = {(r["subsampling"], r["rounding"]): r for r in gathered["djpeg"]["speed"]}
    assert set(speed) == {("4:2:0", "pillow"), ("4:2:0", "sin")}
    _positive(speed["4:2:0", "pillow"], ("forward", "peak_rss_mib"))
    _positive(speed["4:2:0", "sin"], ("forward", "forward_backward", "peak_rss_mib"))
    models = {r["model"]: r for r in gathered["models"]}
    assert set(models) == {"inet"}
    for row in models.values():
        _positive(row, ("forward_ms_per_patch", "train_step_ms", "train_it_per_s", "peak_memory_mib"))
    _positive(gathered["data"], ("tf_data_patches_per_s", "numpy_serial_patches_per_s", "peak_rss_mib"))
    _check_training(gathered["training"], [("pretrain", "inet"), ("joint", "inet")])


def test_gpu_script_is_valid_bash():
    done = subprocess.run(["bash", "-n", str(BENCHMARKS / "gpu.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_gpu_script_quick_mode_runs_without_a_gpu(tmp_path):
    """`gpu.sh --quick` takes every path of the GPU script, with this environment's nipkit."""
    env = {**os.environ, "NIPKIT_NO_INSTALL": "1", "VENV": sys.prefix, "OUT": str(tmp_path / "gpu")}
    done = subprocess.run(["bash", str(BENCHMARKS / "gpu.sh"), "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    for variant in ("float32", "mixed", "xla", "mixed-xla"):
        rows = json.loads((tmp_path / "gpu" / f"training-{variant}.json").read_text())
        assert rows, variant
    assert (tmp_path / "gpu" / "fplusn" / "report" / "report.md").is_file()
    assert "F+N run took" in (tmp_path / "gpu" / "gpu.log").read_text()


@pytest.mark.parametrize("script, option", [("sweep.py", "--kill"), ("multi_worker.py", "--quick")])
def test_scale_benchmarks_load_their_helpers(script, option):
    # Their full runs take minutes (BENCHMARKS.md has the figures); this checks that each
    # script imports nipkit's helpers it needs and offers its options.
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=HANG_GUARD_S)
    assert done.returncode == 0, done.stderr[-3000:]
    assert option in done.stdout

"""`nipkit train nip` end to end on the demo camera: a short INet run, a run killed with
SIGKILL and resumed, a damaged checkpoint, a diverging run, and a mirrored run on two
logical CPU devices."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

import nipkit
from nip_runs import SMALL_TRAINING, error_lines, invoke, write_config
from support import HANG_GUARD_S, wait_for
from nipkit.data import Dataset, validation_patches
from nipkit.training.checkpoints import read_state

STEPS = SMALL_TRAINING["steps"]
VALIDATED = list(range(0, STEPS + 1, SMALL_TRAINING["validate_every"]))
DECAY = {"lr_decay": 0.5, "lr_decay_every": 8}  # the runs killed and resumed cross a decay


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def weights(path: Path) -> list[np.ndarray]:
    return nipkit.load_model(path).get_weights()


@pytest.fixture(scope="module")
def run_a(tmp_path_factory, demo_data) -> tuple[Path, str]:
    """An uninterrupted short INet run; returns (run folder, stdout)."""
    root = tmp_path_factory.mktemp("run_a")
    config = write_config(root / "inet.yaml", **DECAY)
    code, out, err = invoke("train", "nip", config, "--out", root / "A")
    assert code == 0, err
    return root / "A", out


def test_augmented_patches_train_and_leave_validation_alone(run_a, tmp_path):
    code, _, err = invoke("train", "nip", write_config(tmp_path / "inet.yaml", augment="dihedral", **DECAY),
                          "--out", tmp_path / "aug")
    assert code == 0, err
    plain, augmented = history(run_a[0]), history(tmp_path / "aug")
    assert [r["step"] for r in augmented] == VALIDATED and augmented[-1]["loss"] < augmented[1]["loss"]
    assert augmented[1]["loss"] != plain[1]["loss"]  # other patches: flipped and turned
    assert augmented[0]["val_loss"] == plain[0]["val_loss"]  # the validation patches are never augmented


def test_short_run_lowers_the_loss_and_fills_the_run_folder(run_a, demo_data):
    run, out = run_a
    records = history(run)
    assert [r["step"] for r in records] == VALIDATED
    assert set(records[-1]) >= {"step", "loss", "val_loss", "psnr", "ssim", "learning_rate", "time"}
    rate, every = SMALL_TRAINING["learning_rate"], DECAY["lr_decay_every"]
    assert [r["learning_rate"] for r in records] == pytest.approx([rate * 0.5 ** (s // every) for s in VALIDATED])
    assert records[-1]["loss"] < records[1]["loss"]  # mean training loss, last vs first interval
    for name in ("config.yaml", "best.keras", "last.keras", "checkpoint/state.json"):
        assert (run / name).is_file(), name
    assert yaml.safe_load((run / "config.yaml").read_text())["training"] == {**SMALL_TRAINING, **DECAY}
    figure = Image.open(run / "validation" / f"step_{STEPS:06d}.png")
    assert figure.format == "PNG" and figure.width > 3 * 64
    assert any((run / "tensorboard").iterdir())
    assert f"{run / 'best.keras'}" in out and f"PSNR {records[-1]['psnr']:.2f} dB" in out
    assert f"on {len(Dataset(demo_data).train)} training images of" in out

    # The recorded PSNR is what the saved model gives on the validation patches.
    patches = validation_patches(Dataset(demo_data), 64, 2, SMALL_TRAINING["seed"])
    developed = np.asarray(nipkit.load_model(run / "last.keras")(patches["raw"]))
    expected = np.mean([peak_signal_noise_ratio(t, o, data_range=1.0) for t, o in zip(patches["rgb"], developed)])
    assert records[-1]["psnr"] == pytest.approx(expected, abs=1e-3)
    best = min(records, key=lambda r: r["val_loss"])
    assert f"(step {best['step']}, {best['psnr']:.2f} dB)" in out


def test_sigkill_then_resume_matches_the_uninterrupted_run(run_a, tmp_path):
    config = write_config(tmp_path / "inet.yaml", **DECAY)
    run_b = tmp_path / "B"
    command = [str(Path(sys.executable).parent / "nipkit"), "train", "nip", str(config), "--out", str(run_b)]
    process = subprocess.Popen(command, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = run_b / "checkpoint" / "state.json"
    try:
        wait_for(state.exists, process, "its first checkpoint", poll_s=0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate()
    assert process.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    killed_at = read_state(run_b / "checkpoint")["step"]  # also finishes a swap the kill interrupted
    assert 0 < killed_at < STEPS

    refused, _, err = invoke("train", "nip", config, "--out", run_b)
    assert refused == 2 and "--resume" in error_lines(err)[0]

    code, out, err = invoke("train", "nip", config, "--out", run_b, "--resume")
    assert code == 0, err
    assert f"from step {killed_at}" in out
    resumed, uninterrupted = history(run_b), history(run_a[0])
    assert [r["step"] for r in resumed] == VALIDATED  # no gap, no step twice
    assert resumed[0]["loss"] is None and uninterrupted[0]["loss"] is None  # step 0: no training yet
    for b, a in zip(resumed, uninterrupted):
        for key in ("loss", "val_loss", "psnr", "ssim", "learning_rate") if b["step"] else ("val_loss", "psnr", "ssim"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-9), (b["step"], key)
    for b, a in zip(weights(run_b / "last.keras"), weights(run_a[0] / "last.keras")):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)


def test_damaged_checkpoint_is_a_one_line_error(run_a, tmp_path):
    run = tmp_path / "C"
    shutil.copytree(run_a[0], run)
    config = write_config(tmp_path / "inet.yaml", **DECAY)
    model = run / "checkpoint" / "nip.keras"
    data = bytearray(model.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    model.write_bytes(bytes(data))
    code, _, err = invoke("train", "nip", config, "--out", run, "--resume", "--set", f"training.steps={STEPS + 6}")
    assert code == 2
    assert error_lines(err) == [f"error: {model}: damaged checkpoint file (checksum mismatch); start again with another --out"]
    assert "Traceback" not in err


def test_diverging_loss_stops_naming_the_step_and_keeps_the_checkpoint(tmp_path, demo_data):
    config = write_config(tmp_path / "inet.yaml", learning_rate=1.0e30, checkpoint_every=1, validate_every=10, steps=6)
    code, _, err = invoke("train", "nip", config, "--out", tmp_path / "run")
    assert code == 2
    (line,) = error_lines(err)
    assert "training diverged at step 2: loss is nan" in line
    assert f"last good checkpoint (step 1) is kept in {tmp_path / 'run' / 'checkpoint'}" in line
    assert json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())["step"] == 1
    assert all(np.all(np.isfinite(w)) for w in weights(tmp_path / "run" / "last.keras"))


MIRRORED = textwrap.dedent(
    """
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from nipkit.cli.main import main
    main(sys.argv[1:])
    """
)


@pytest.mark.parametrize("ema", [None, 0.9], ids=["weights", "moving_average"])
def test_mirrored_strategy_on_two_logical_cpus_matches_one_device(tmp_path, demo_data, ema):
    config = write_config(tmp_path / "inet.yaml", steps=6, validate_every=3, ema=ema)
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED, "train", "nip", str(config), "--out", str(tmp_path / "mirrored"),
         "--set", "training.distribute=mirrored"],
        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=HANG_GUARD_S,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 × CPU (mirrored)" in result.stdout
    code, _, err = invoke("train", "nip", config, "--out", tmp_path / "single")
    assert code == 0, err
    mirrored, single = history(tmp_path / "mirrored"), history(tmp_path / "single")
    assert [r["step"] for r in mirrored] == [0, 3, 6]
    for m, s in zip(mirrored[1:], single[1:]):
        assert m["loss"] == pytest.approx(s["loss"], rel=1e-4)
        assert m["psnr"] == pytest.approx(s["psnr"], abs=1e-3)
    saved = weights(tmp_path / "mirrored" / "last.keras")
    for m, s in zip(saved, weights(tmp_path / "single" / "last.keras")):
        np.testing.assert_allclose(m, s, rtol=1e-4, atol=1e-6)
    raw = weights(tmp_path / "mirrored" / "checkpoint" / "nip.keras")
    averaged = any(not np.allclose(a, r) for a, r in zip(saved, raw))
    assert averaged == (ema is not None)  # with an average, last.keras holds it and the checkpoint the weights


def test_weights_start_from_a_trained_model(run_a, tmp_path):
    best = run_a[0] / "best.keras"
    document = yaml.safe_load(write_config(tmp_path / "inet.yaml", steps=1).read_text())
    document["nip"] = {"inet": {"weights": str(best)}}
    (tmp_path / "inet.yaml").write_text(yaml.safe_dump(document))
    code, _, err = invoke("train", "nip", tmp_path / "inet.yaml", "--out", tmp_path / "run")
    assert code == 0, err
    best_record = min(history(run_a[0]), key=lambda r: r["val_loss"])
    assert history(tmp_path / "run")[0]["psnr"] == pytest.approx(best_record["psnr"], abs=1e-4)

    document["nip"]["inet"]["weights"] = str(tmp_path / "missing.keras")
    (tmp_path / "inet.yaml").write_text(yaml.safe_dump(document))
    code, _, err = invoke("train", "nip", tmp_path / "inet.yaml", "--out", tmp_path / "other")
    assert code == 2
    (line,) = error_lines(err)
    assert "inet.yaml:2: nip.weights: no such file" in line and "missing.keras" in line

"""`nipkit run`: the joint experiment end to end through the CLI, on tiny patches."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import yaml
from PIL import Image

from nipkit.evaluation.confidence import difference_interval, wilson_interval
from support import kill_at_checkpoint, nipkit_executable

TINY = {
    "data": "demo",
    "nip": {"type": "inet"},
    "manipulations": ["sharpen", {"gaussian": {"sigma": 0.83}}],
    "channel": [{"downscale": {"factor": 2}}, {"jpeg": {"quality": 50, "rounding": "sin"}}],
    "fan": {"type": "fan", "filters": [8, 8, 8, 8], "dense": [16, 8]},
    "training": {
        "mode": ["fan", "joint"], "steps": 4, "batch_size": 2, "patch_size": 48, "validate_every": 2,
        "validation_patches": 2, "fidelity_patches": 1, "lr_decay_every": 2, "seed": 3,
    },
}
SUMMARY_KEYS = {
    "mode", "classes", "accuracy", "accuracy_real", "confusion", "confusion_real", "image_accuracy",
    "nip", "steps", "seed", "seconds", "real_channel", "config_digest",
}


def write_config(tmp_path, name="exp.yaml", **changes):
    config = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            config[section][field] = value
        else:
            config[section] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory, demo_data, nipkit_cli):
    tmp = tmp_path_factory.mktemp("joint")
    out = tmp / "runs"
    result = nipkit_cli("run", write_config(tmp), "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_both_modes_write_complete_summaries(finished):
    out, result = finished
    for mode in ("fan", "joint"):
        summary = json.loads((out / f"{mode}-r0" / "summary.json").read_text())
        assert SUMMARY_KEYS <= set(summary)
        assert summary["mode"] == mode and summary["classes"] == ["native", "sharpen", "gaussian"]
        assert summary["steps"] == 4 and summary["seed"] == 3
        for key in ("accuracy", "accuracy_real", "image_accuracy"):
            assert 0.0 <= summary[key] <= 1.0
        for key in ("confusion", "confusion_real"):
            matrix = np.array(summary[key])
            assert matrix.shape == (3, 3)
            # every validation patch is counted once per class
            assert (matrix.sum(axis=1) == matrix.sum() // 3).all()
        assert np.trace(np.array(summary["confusion"])) / np.sum(summary["confusion"]) == pytest.approx(summary["accuracy"])
        assert 15 < summary["nip"]["psnr"] < 80 and 0 < summary["nip"]["ssim"] <= 1
        assert 15 < summary["nip"]["psnr_initial"] < 80
        history = [json.loads(line) for line in (out / f"{mode}-r0" / "history.jsonl").read_text().splitlines()]
        assert [r["step"] for r in history] == [0, 2, 4]
        # the summary's differentiable-channel figures are the last validation's
        assert {k: summary[k] for k in ("accuracy", "image_accuracy")} == {k: history[-1][k] for k in ("accuracy", "image_accuracy")}
        assert {k: summary["nip"][k] for k in ("psnr", "ssim")} == {k: history[-1][k] for k in ("psnr", "ssim")}
        # the real channel ran DifferentiableJPEG as libjpeg and the downscale as itself
        assert [s["ran_as"] for s in summary["real_channel"]] == ["itself", "reference"]
        assert summary["real_channel"][1]["step"].startswith("DifferentiableJPEG(")
        for name in ("nip.keras", "fan.keras", "progress.png", "confusion.png", "examples.png"):
            assert (out / f"{mode}-r0" / name).is_file(), name
    fan = json.loads((out / "fan-r0" / "summary.json").read_text())
    assert fan["nip"]["psnr"] == pytest.approx(fan["nip"]["psnr_initial"], abs=1e-4), "mode fan must freeze the NIP"
    assert "report:" in result.stdout and "fan-r0" in result.stdout


def test_summaries_hold_intervals_and_the_mean_of_the_last_validations(finished):
    out, _ = finished
    for mode in ("fan", "joint"):
        summary = json.loads((out / f"{mode}-r0" / "summary.json").read_text())
        history = [json.loads(line) for line in (out / f"{mode}-r0" / "history.jsonl").read_text().splitlines()]
        for key, matrix in (("accuracy_interval", "confusion"), ("accuracy_real_interval", "confusion_real")):
            confusion = np.array(summary[matrix])
            assert summary[key] == pytest.approx(wilson_interval(int(np.trace(confusion)), int(confusion.sum())))
            assert summary[key][0] <= summary[key.replace("_interval", "")] <= summary[key][1]
        # three validations (steps 0, 2, 4): all of them are among the last 5
        assert summary["accuracy_last_mean"] == pytest.approx(np.mean([r["accuracy"] for r in history]))


def test_printed_table_ends_with_the_verdict(finished):
    out, result = finished
    lines = result.stdout.splitlines()
    parts = []
    for key in ("confusion", "confusion_real"):
        f, fn = (np.array(json.loads((out / f"{mode}-r0" / "summary.json").read_text())[key]) for mode in ("fan", "joint"))
        low, high = difference_interval(int(np.trace(fn)), int(fn.sum()), int(np.trace(f)), int(f.sum()))
        difference = np.trace(fn) / fn.sum() - np.trace(f) / f.sum()
        parts.append(f"{100 * difference:+.1f} points (95% CI {100 * low:+.1f} … {100 * high:+.1f})")
    assert lines[-2] == f"F+N − F = {parts[0]}, real channel {parts[1]}"
    assert lines[-1].startswith("report:")
    header = next(line for line in lines if line.startswith("run ") and "95% CI" in line)
    assert "last 5" in header


def test_report_renders(finished):
    out, _ = finished
    report = (out / "report" / "report.md").read_text()
    assert "F+N" in report and "fan-r0" in report
    with Image.open(out / "report" / "progress.png") as image:
        assert image.size[0] > 200


def test_saved_models_load_with_nipkit(finished):
    import nipkit

    out, _ = finished
    fan = nipkit.load_model(out / "joint-r0" / "fan.keras")
    assert fan.count_params() > 0


def test_rerun_keeps_finished_runs(finished, nipkit_cli, tmp_path):
    out, _ = finished
    before = (out / "joint-r0" / "summary.json").read_text()
    result = nipkit_cli("run", write_config(tmp_path), "--out", out, "--resume")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "already finished" in result.stdout
    assert (out / "joint-r0" / "summary.json").read_text() == before


def test_killed_run_resumes_without_gaps(tmp_path, demo_data):
    config = write_config(tmp_path, training__mode="joint", training__steps=40, training__validate_every=4)
    out = tmp_path / "runs"
    kill_at_checkpoint(["run", config, "--out", out], out / "joint-r0" / "checkpoint" / "state.json", 8)
    assert not (out / "joint-r0" / "summary.json").exists()

    again = subprocess.run([nipkit_executable(), "run", str(config), "--out", str(out)], capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in again.stderr

    resumed = subprocess.run([nipkit_executable(), "run", str(config), "--out", str(out), "--resume"],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    steps = [json.loads(line)["step"] for line in (out / "joint-r0" / "history.jsonl").read_text().splitlines()]
    assert steps == list(range(0, 41, 4))
    assert json.loads((out / "joint-r0" / "summary.json").read_text())["steps"] == 40


@pytest.mark.parametrize(
    "change, where",
    [
        ({"manipulations": ["sharpen", "gausian"]}, "manipulations[1]"),
        ({"manipulations": ["sharpen", {"gaussian": {"sigmaa": 1.0}}]}, "manipulations[1].gaussian.sigmaa"),
        ({"channel": [{"downscale": {"factor": 2}}, {"jpeg": {"quality": 0}}]}, "channel[1].jpeg.quality"),
    ],
)
def test_bad_config_is_one_located_line(tmp_path, nipkit_cli, change, where):
    path = write_config(tmp_path, **change)
    result = nipkit_cli("run", path, "--out", tmp_path / "runs")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and where in lines[0], result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_default_fan_resumes_in_every_mode(tmp_path, demo_data, nipkit_cli):
    """A config without `fan:` stores the default FAN in every run, so each one resumes."""
    config = json.loads(json.dumps(TINY))
    del config["fan"]
    config["training"].update(steps=2, validate_every=2, mode=["fan", "joint"])
    path = tmp_path / "nofan.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    out = tmp_path / "runs"
    assert nipkit_cli("run", path, "--out", out).returncode == 0
    for mode in ("fan", "joint"):
        assert yaml.safe_load((out / f"{mode}-r0" / "config.yaml").read_text())["fan"] == "fan"
    (out / "joint-r0" / "summary.json").unlink()  # as if the last run had been killed
    resumed = nipkit_cli("run", path, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]


def test_finished_run_continues_when_steps_grow(tmp_path, demo_data, nipkit_cli):
    config = write_config(tmp_path, training__mode="joint", training__steps=2, training__validate_every=2)
    out = tmp_path / "runs"
    assert nipkit_cli("run", config, "--out", out).returncode == 0
    longer = nipkit_cli("run", config, "--out", out, "--resume", "--set", "training.steps=4")
    assert longer.returncode == 0, longer.stderr[-2000:]
    steps = [json.loads(line)["step"] for line in (out / "joint-r0" / "history.jsonl").read_text().splitlines()]
    assert steps == [0, 2, 4]
    assert json.loads((out / "joint-r0" / "summary.json").read_text())["steps"] == 4


def test_onet_runs_the_experiment_on_rgb_photos(tmp_path, demo_data, nipkit_cli):
    """ONet feeds the target photos themselves to the manipulations, channel and FAN."""
    path = write_config(tmp_path, nip="onet", training__mode="fan", training__steps=2, training__validate_every=2)
    result = nipkit_cli("run", path, "--out", tmp_path / "runs")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "runs" / "fan-r0" / "summary.json").read_text())
    assert summary["nip"]["psnr"] == 100.0  # identical to the target, shown at the cap


@pytest.mark.parametrize("mode,optimisers", [("fan", {"fan"}), ("joint", {"fan", "nip"})])
def test_clip_norm_reaches_every_optimiser(tmp_path, demo_data, mode, optimisers):
    from nipkit.config import load_config
    from nipkit.training import Experiment

    exp = Experiment.from_config(load_config(write_config(tmp_path, training__clip_norm=2.5)), mode=mode)
    assert set(exp.optimizers) == optimisers and all(o.global_clipnorm == 2.5 for o in exp.optimizers.values())


def test_ema_scores_and_saves_the_average_of_the_fan_and_nip(tmp_path, demo_data, nipkit_cli):
    """`training.ema` in `nipkit run`: step 0 scores the initial models, later checks and the
    saved models the first optimiser's moving average, which covers the NIP in F+N."""
    import nipkit

    runs = {}
    for name, ema in (("plain", None), ("averaged", 0.5)):
        path = write_config(tmp_path, f"{name}.yaml", training__mode="joint", training__ema=ema)
        result = nipkit_cli("run", path, "--out", tmp_path / name)
        assert result.returncode == 0, result.stderr[-2000:]
        runs[name] = tmp_path / name / "joint-r0"
    first = [json.loads((run / "history.jsonl").read_text().splitlines()[0]) for run in runs.values()]
    assert first[0]["accuracy"] == first[1]["accuracy"] and first[0]["psnr"] == first[1]["psnr"]
    averaged = runs["averaged"]
    for model in ("fan", "nip"):
        saved = nipkit.load_model(averaged / f"{model}.keras").get_weights()
        trained = nipkit.load_model(averaged / "checkpoint" / f"{model}.keras").get_weights()
        assert any(not np.array_equal(a, b) for a, b in zip(saved, trained)), model
    summary = json.loads((averaged / "summary.json").read_text())
    last = json.loads((averaged / "history.jsonl").read_text().splitlines()[-1])
    assert summary["accuracy"] == last["accuracy"] and summary["nip"]["psnr"] == pytest.approx(last["psnr"])

"""The channel-step contract, end to end through `nipkit run` with an installed plugin step.

The fixture plugin's `fixture_learned_gain` has weights (a per-channel gain), adds a loss
(`penalty · mean(gain)`) and offers a real counterpart (`reference`).
"""
from __future__ import annotations

import importlib
import json
import sys

import numpy as np
import pytest
import yaml

from support import pythonpath

TINY = {
    "data": "demo",
    "nip": "onet",  # no weights: the FAN and the step train, at a high learning rate
    "manipulations": ["sharpen"],
    "channel": [{"downscale": {"factor": 2}}, {"fixture_learned_gain": {"penalty": 100.0, "trainable": ["joint"]}},
                {"jpeg": {"quality": 50}}],
    "fan": {"type": "fan", "filters": [8, 8, 8, 8], "dense": [16, 8]},
    "training": {"mode": "joint", "steps": 4, "batch_size": 2, "patch_size": 48, "validate_every": 2,
                 "validation_patches": 1, "fidelity_patches": 1, "learning_rate": 0.01, "seed": 5},
}


def write(tmp_path, name: str, penalty: float = 100.0, **training) -> str:
    config = json.loads(json.dumps(TINY))
    config["channel"][1]["fixture_learned_gain"]["penalty"] = penalty
    config["training"].update(training)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def gain(run) -> np.ndarray:
    """The step's weights as the run saved them, read back through nipkit.load_model."""
    import nipkit

    model = nipkit.load_model(run / "channel-1.keras")
    return np.asarray(model.layers[-1].get_weights()[0])


@pytest.fixture(scope="module")
def plugin_env(fixture_plugins):
    """The environment of a user who installed the plugin; this process can load its `.keras` files too."""
    sys.path.insert(0, str(fixture_plugins["channel"]))
    importlib.import_module("nipkit_fixture_channel")
    return pythonpath(fixture_plugins["channel"])


@pytest.fixture(scope="module")
def penalised(tmp_path_factory, nipkit_cli, plugin_env, demo_data):
    tmp = tmp_path_factory.mktemp("steps")
    result = nipkit_cli("run", write(tmp, "penalised"), "--out", tmp / "runs", env=plugin_env)
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp / "runs" / "joint-r0"


def test_a_trainable_step_trains_and_its_added_loss_moves_it(penalised, tmp_path, nipkit_cli, plugin_env):
    trained = gain(penalised)
    # Adam at lr 0.01 for 4 steps on a loss dominated by penalty·mean(gain): every gain falls by ~0.04.
    assert np.all(trained < 0.97) and np.all(trained > 0.9), trained
    free = tmp_path / "free"
    result = nipkit_cli("run", write(tmp_path, "free", penalty=0.0), "--out", free, env=plugin_env)
    assert result.returncode == 0, result.stderr[-3000:]
    unpenalised = gain(free / "joint-r0")
    assert not np.allclose(unpenalised, 1.0), "the step must train in F+N"
    assert np.abs(unpenalised - trained).min() > 0.01, "the added loss must change the update"


def with_trainable(tmp_path, name: str, trainable, mode: str) -> str:
    """The penalised config in `mode`, its step's `trainable:` set to `trainable` (None: left out)."""
    path = write(tmp_path, name, mode=mode)
    config = yaml.safe_load(path.read_text())
    options = config["channel"][1]["fixture_learned_gain"]
    options.pop("trainable")
    if trainable is not None:
        options["trainable"] = trainable
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_trainable_true_trains_in_mode_f_and_an_unmarked_step_stays_frozen_in_f_n(tmp_path, nipkit_cli, plugin_env):
    always = nipkit_cli("run", with_trainable(tmp_path, "always", True, "fan"), "--out", tmp_path / "always",
                        env=plugin_env)
    assert always.returncode == 0, always.stderr[-3000:]
    assert np.all(gain(tmp_path / "always" / "fan-r0") < 0.97), "`trainable: true` trains in mode F too"

    frozen = nipkit_cli("run", with_trainable(tmp_path, "frozen", None, "joint"), "--out", tmp_path / "frozen",
                        env=plugin_env)
    assert frozen.returncode == 0, frozen.stderr[-3000:]
    # The added loss would pull the gains down; frozen, they keep their initial value.
    np.testing.assert_array_equal(gain(tmp_path / "frozen" / "joint-r0"), np.ones(3, "float32"))


def test_the_real_channel_runs_each_step_as_its_counterpart(penalised):
    summary = json.loads((penalised / "summary.json").read_text())
    ran = [(step["step"].split("(")[0], step["ran_as"]) for step in summary["real_channel"]]
    assert ran == [("Downscale", "itself"), ("LearnedGain", "reference"), ("DifferentiableJPEG", "reference")]
    assert 0 <= summary["accuracy_real"] <= 1


def test_a_step_resumes_exactly_and_loads_with_weights(penalised, tmp_path, nipkit_cli, plugin_env):
    out = tmp_path / "runs"
    path = write(tmp_path, "penalised")
    first = nipkit_cli("run", path, "--out", out, "--set", "training.steps=2", env=plugin_env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (out / "joint-r0" / "checkpoint" / "channel-1.keras").is_file()
    resumed = nipkit_cli("run", path, "--out", out, "--resume", env=plugin_env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # As exact as the project's resume of the NIP: the same updates, up to float32 reduction order.
    np.testing.assert_allclose(gain(out / "joint-r0"), gain(penalised), rtol=1e-5, atol=1e-7)

    # `weights:` starts a step from a saved run; frozen in mode F, it stays as loaded.
    config = yaml.safe_load(path.read_text())
    config["channel"][1]["fixture_learned_gain"]["weights"] = str(penalised / "channel-1.keras")
    config["training"].update(mode="fan", steps=2)
    loaded = tmp_path / "loaded.yaml"
    loaded.write_text(yaml.safe_dump(config, sort_keys=False))
    result = nipkit_cli("run", loaded, "--out", tmp_path / "loaded", env=plugin_env)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(gain(tmp_path / "loaded" / "fan-r0"), gain(penalised))


def test_bad_step_options_are_one_located_line(tmp_path, nipkit_cli, plugin_env):
    config = yaml.safe_load(write(tmp_path, "bad").read_text())
    config["channel"][1]["fixture_learned_gain"]["trainable"] = ["sometimes"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = nipkit_cli("validate", path, env=plugin_env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path}:10: channel[1].fixture_learned_gain.trainable: must be true, false or a list of modes "
        "(fan, joint, codec, joint_codec), got ['sometimes']"]

"""Checkpoints are only written with finite weights and optimiser states: a diverging run
keeps a checkpoint that can really be resumed, and names the step it holds."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from nip_runs import error_lines, invoke
from nipkit.training.checkpoints import (
    STATE_FILE,
    NonFiniteWeightsError,
    load_checkpoint,
    read_state,
    save_checkpoint,
)
from test_checkpoints import model_and_optimizer, train, values
from test_joint_experiment import TINY

# A FAN-mode run whose learning rate makes the update non-finite while the loss is finite.
DIVERGING = {
    **TINY,  # the tiny experiment's components, with its own training section
    "training": {
        "mode": "fan", "steps": 12, "batch_size": 2, "patch_size": 48, "validate_every": 2, "checkpoint_every": 1,
        "validation_patches": 2, "fidelity_patches": 1, "seed": 3, "learning_rate": 1000.0,
    },
}


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    model, optimizer = model_and_optimizer(0)
    train(model, optimizer, 2)
    save_checkpoint(tmp_path / "checkpoint", {"nip": model}, {"nip": optimizer}, {"step": 2})
    kept = values(model.weights) + values(optimizer.variables)
    kernel = model.weights[0]
    kernel.assign(np.where(np.arange(kernel.numpy().size).reshape(kernel.shape) == 0, np.nan, kernel.numpy()))
    with pytest.raises(NonFiniteWeightsError, match=r"step 3 not written: 1 of 2 weights of 'nip' are NaN or infinite"):
        save_checkpoint(tmp_path / "checkpoint", {"nip": model}, {"nip": optimizer}, {"step": 3})
    assert read_state(tmp_path / "checkpoint")["step"] == 2
    assert not (tmp_path / "checkpoint.new").exists()
    other, other_optimizer = model_and_optimizer(5)
    load_checkpoint(tmp_path / "checkpoint", {"nip": other}, {"nip": other_optimizer})
    for a, b in zip(kept, values(other.weights) + values(other_optimizer.variables)):
        np.testing.assert_array_equal(a, b)


def test_a_poisoned_checkpoint_of_an_older_version_is_refused_on_resume(tmp_path):
    model, optimizer = model_and_optimizer(0)
    train(model, optimizer, 1)
    folder = tmp_path / "checkpoint"
    save_checkpoint(folder, {"nip": model}, {"nip": optimizer}, {"step": 1})
    # What older versions wrote: a checkpoint whose weights hold NaN, with valid checksums.
    model.weights[1].assign(np.full(model.weights[1].shape, np.inf, "float32"))
    model.save(folder / "nip.keras")
    state = json.loads((folder / STATE_FILE).read_text())
    state["files"]["nip.keras"] = hashlib.sha256((folder / "nip.keras").read_bytes()).hexdigest()
    (folder / STATE_FILE).write_text(json.dumps(state))
    other, other_optimizer = model_and_optimizer(5)
    with pytest.raises(NonFiniteWeightsError, match=r"checkpoint of step 1 cannot be resumed: 1 of 2 weights of 'nip'"):
        load_checkpoint(folder, {"nip": other}, {"nip": other_optimizer})


def _finite_checkpoint(folder: Path) -> None:
    for path in folder.glob("*.keras"):
        model = keras.saving.load_model(path, compile=False)
        assert all(np.all(np.isfinite(w)) for w in model.get_weights()), path
    for path in folder.glob("*.optimizer.npz"):
        with np.load(path) as stored:
            assert all(np.all(np.isfinite(stored[name])) for name in stored.files), path


def test_a_diverging_run_keeps_the_last_truly_good_checkpoint(tmp_path, demo_data):
    config = tmp_path / "diverging.yaml"
    config.write_text(yaml.safe_dump(DIVERGING, sort_keys=False))
    code, _, err = invoke("run", config, "--out", tmp_path / "runs")
    assert code == 2, err[-3000:]
    (line,) = error_lines(err)
    assert "Traceback" not in err
    checkpoint = tmp_path / "runs" / "fan-r0" / "checkpoint"
    found = re.search(r"training diverged at step (\d+): .* of 'fan' are NaN or infinite .*although the loss was "
                      r"finite; the last good checkpoint \(step (\d+)\) is kept in (\S+); try a lower", line)
    assert found, line
    diverged, good = int(found[1]), int(found[2])
    assert Path(found[3]) == checkpoint and good == diverged - 1  # checkpoint_every: 1
    assert read_state(checkpoint)["step"] == good
    _finite_checkpoint(checkpoint)
    # The kept checkpoint loads; the same learning rate then diverges at the same step again.
    code, out, err = invoke("run", config, "--out", tmp_path / "runs", "--resume")
    assert code == 2
    assert f"from step {good}" in out
    assert f"training diverged at step {diverged}:" in error_lines(err)[0]
    _finite_checkpoint(checkpoint)

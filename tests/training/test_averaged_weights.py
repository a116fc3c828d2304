"""`training.ema`: the optimiser's moving average of the weights, used for validation,
best.keras and last.keras, and carried through a resume."""
from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from nip_runs import error_lines, invoke, write_config
from nipkit.data import Dataset
from nipkit.data.patches import validation_patches
from nipkit.evaluation.metrics import mean_psnr
from nipkit.training.averaged_weights import averaged_weights
from nipkit.training.runtime import select_runtime

CODEC = Path(__file__).parents[2] / "examples" / "codec" / "tiny.yaml"
MOMENTUM = 0.5


def test_the_average_follows_its_formula_inside_the_block_and_the_weights_return_after():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = select_runtime("none", False, False).adam(0.1, ema=MOMENTUM)
    optimizer.build(model.trainable_variables)
    x, y = np.random.default_rng(0).normal(size=(8, 3)).astype("float32"), np.ones((8, 2), "float32")
    average = None
    for _ in range(4):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean((model(x) - y) ** 2)
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        weights = [v.numpy() for v in model.trainable_variables]
        # Keras starts the average at the first update's weights
        average = weights if average is None else [MOMENTUM * a + (1 - MOMENTUM) * w for a, w in zip(average, weights)]
    with averaged_weights(optimizer, model.trainable_variables):
        for variable, expected in zip(model.trainable_variables, average):
            np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-6)
    for variable, trained in zip(model.trainable_variables, weights):
        np.testing.assert_array_equal(variable.numpy(), trained)


def test_without_an_average_the_block_changes_nothing():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = select_runtime("none", False, False).adam(0.1)
    optimizer.build(model.trainable_variables)
    before = [v.numpy() for v in model.trainable_variables]
    with averaged_weights(optimizer, model.trainable_variables):
        after = [v.numpy() for v in model.trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_before_the_first_update_the_block_keeps_the_weights():
    """Keras's averages are zeros until the first update: step 0 scores the initial weights."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer = select_runtime("none", False, False).adam(0.1, ema=MOMENTUM)
    optimizer.build(model.trainable_variables)
    before = [v.numpy() for v in model.trainable_variables]
    with averaged_weights(optimizer, model.trainable_variables):
        inside = [v.numpy() for v in model.trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, inside))


@pytest.fixture(scope="module")
def averaged_run(tmp_path_factory, demo_data) -> Path:
    """The tiny codec with an average, 6 steps."""
    run = tmp_path_factory.mktemp("ema") / "straight"
    code, _, err = invoke("train", "codec", CODEC, "--out", run, "--set", f"training.ema={MOMENTUM}")
    assert code == 0, err
    return run


def test_last_keras_holds_the_average_and_validation_scores_it(averaged_run, demo_data):
    raw = [np.asarray(w) for w in keras.saving.load_model(averaged_run / "checkpoint" / "codec.keras").get_weights()]
    codec = keras.saving.load_model(averaged_run / "last.keras")
    averaged = [np.asarray(w) for w in codec.get_weights()]
    assert any(not np.array_equal(a, r) for a, r in zip(averaged, raw))  # the checkpoint keeps the trained weights
    patches = validation_patches(Dataset(demo_data), 64, 1, 0)["rgb"]  # examples/codec/tiny.yaml's validation set
    recorded = json.loads((averaged_run / "history.jsonl").read_text().splitlines()[-1])
    assert mean_psnr(patches, np.asarray(codec(patches))) == pytest.approx(recorded["psnr"], abs=1e-4)


def test_a_resumed_run_continues_the_average_exactly(tmp_path, demo_data):
    """(On a NIP: its training resumes bit for bit; the codec's quantisation noise does not.)"""
    def last(run: Path) -> list[np.ndarray]:
        return [np.asarray(w) for w in keras.saving.load_model(run / "last.keras").get_weights()]

    config = write_config(tmp_path / "inet.yaml", ema=MOMENTUM, steps=6, validate_every=3)
    assert invoke("train", "nip", config, "--out", tmp_path / "straight")[0] == 0
    assert invoke("train", "nip", config, "--out", tmp_path / "resumed", "--set", "training.steps=3")[0] == 0
    code, _, err = invoke("train", "nip", config, "--out", tmp_path / "resumed", "--resume")
    assert code == 0, err
    for resumed, straight in zip(last(tmp_path / "resumed"), last(tmp_path / "straight")):
        np.testing.assert_array_equal(resumed, straight)


@pytest.mark.parametrize("value", ["1", "0", "-0.5", "fast"])
def test_a_momentum_outside_0_1_is_a_one_line_error(tmp_path, value, demo_data):
    code, _, err = invoke("train", "codec", CODEC, "--out", tmp_path / "bad", "--set", f"training.ema={value}")
    assert code != 0
    [line] = error_lines(err)
    assert "training.ema" in line and "(0, 1)" in line


def test_a_resume_may_not_change_the_momentum(averaged_run):
    code, _, err = invoke("train", "codec", CODEC, "--out", averaged_run, "--set", "training.steps=9", "--resume")
    assert code != 0
    [line] = error_lines(err)
    assert "training.ema differs from the run's" in line

"""Atomic checkpoints: round trip, damage detection, and a process killed while saving."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from nipkit.errors import TrainingError
from nipkit.training.checkpoints import STATE_FILE, has_checkpoint, load_checkpoint, save_checkpoint


def model_and_optimizer(seed: int = 0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8, 8, 4)), keras.layers.Conv2D(3, 3, padding="same")])
    optimizer = keras.optimizers.Adam(1e-2)
    optimizer.build(model.trainable_variables)
    return model, optimizer


def train(model, optimizer, steps: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(2, 8, 8, 4)).astype("float32")
    y = rng.uniform(size=(2, 8, 8, 3)).astype("float32")
    import tensorflow as tf

    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))


def values(variables):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def test_round_trip_restores_weights_and_optimizer(tmp_path):
    model, optimizer = model_and_optimizer(0)
    train(model, optimizer, 3)
    save_checkpoint(tmp_path / "checkpoint", {"nip": model}, {"nip": optimizer}, {"step": 3, "extra": [1, 2]})
    assert has_checkpoint(tmp_path / "checkpoint")
    other, other_optimizer = model_and_optimizer(5)
    state = load_checkpoint(tmp_path / "checkpoint", {"nip": other}, {"nip": other_optimizer})
    assert state["step"] == 3 and state["extra"] == [1, 2]
    for a, b in zip(values(model.weights) + values(optimizer.variables), values(other.weights) + values(other_optimizer.variables)):
        np.testing.assert_array_equal(a, b)
    # Restored Adam continues exactly as the original.
    train(model, optimizer, 2)
    train(other, other_optimizer, 2)
    for a, b in zip(values(model.weights), values(other.weights)):
        np.testing.assert_array_equal(a, b)


def test_second_save_replaces_the_first(tmp_path):
    model, optimizer = model_and_optimizer()
    folder = tmp_path / "checkpoint"
    save_checkpoint(folder, {"nip": model}, {"nip": optimizer}, {"step": 1})
    train(model, optimizer, 1)
    save_checkpoint(folder, {"nip": model}, {"nip": optimizer}, {"step": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    assert json.loads((folder / STATE_FILE).read_text())["step"] == 2


@pytest.mark.parametrize("damaged", ["nip.keras", "nip.optimizer.npz"])
def test_damaged_file_is_detected(tmp_path, damaged):
    model, optimizer = model_and_optimizer()
    folder = tmp_path / "checkpoint"
    save_checkpoint(folder, {"nip": model}, {"nip": optimizer}, {"step": 1})
    data = bytearray((folder / damaged).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / damaged).write_bytes(bytes(data))
    with pytest.raises(TrainingError, match=f"{damaged}: damaged checkpoint file"):
        load_checkpoint(folder, {"nip": model}, {"nip": optimizer})


def test_damaged_state_and_missing_checkpoint(tmp_path):
    model, optimizer = model_and_optimizer()
    with pytest.raises(TrainingError, match="no checkpoint"):
        load_checkpoint(tmp_path / "checkpoint", {"nip": model}, {"nip": optimizer})
    save_checkpoint(tmp_path / "checkpoint", {"nip": model}, {"nip": optimizer}, {"step": 1})
    (tmp_path / "checkpoint" / STATE_FILE).write_text('{"step": 1, "fil')
    with pytest.raises(TrainingError, match="damaged checkpoint state"):
        load_checkpoint(tmp_path / "checkpoint", {"nip": model}, {"nip": optimizer})


def test_optimizer_of_another_model_is_refused(tmp_path):
    model, optimizer = model_and_optimizer()
    save_checkpoint(tmp_path / "checkpoint", {"nip": model}, {"nip": optimizer}, {"step": 1})
    bigger = keras.Sequential([keras.Input((8, 8, 4)), keras.layers.Conv2D(3, 3), keras.layers.Conv2D(3, 1)])
    adam = keras.optimizers.Adam()
    adam.build(bigger.trainable_variables)
    with pytest.raises(TrainingError):
        load_checkpoint(tmp_path / "checkpoint", {"nip": bigger}, {"nip": adam})


def test_swap_interrupted_between_renames_is_recovered(tmp_path):
    """A kill after `checkpoint` became `checkpoint.old` but before `checkpoint.new` moved in."""
    model, optimizer = model_and_optimizer()
    folder = tmp_path / "checkpoint"
    save_checkpoint(folder, {"nip": model}, {"nip": optimizer}, {"step": 7})
    os.replace(folder, tmp_path / "checkpoint.old")
    (tmp_path / "checkpoint.new").mkdir()
    (tmp_path / "checkpoint.new" / "nip.keras").write_bytes(b"half written")
    assert has_checkpoint(folder)
    assert load_checkpoint(folder, {"nip": model}, {"nip": optimizer})["step"] == 7
    save_checkpoint(folder, {"nip": model}, {"nip": optimizer}, {"step": 8})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


SAVER = textwrap.dedent(
    """
    import sys, keras, numpy as np
    from nipkit.training.checkpoints import save_checkpoint
    model = keras.Sequential([keras.Input((8, 8, 4)), keras.layers.Conv2D(16, 3, padding="same")])
    adam = keras.optimizers.Adam()
    adam.build(model.trainable_variables)
    step = 0
    while True:
        step += 1
        for v in model.weights + adam.variables[2:]:
            v.assign(np.full(v.shape, step, "float32"))
        save_checkpoint(sys.argv[1], {"nip": model}, {"nip": adam}, {"step": step})
        print(step, flush=True)
    """
)


def test_sigkill_while_saving_leaves_a_whole_checkpoint(tmp_path):
    folder = tmp_path / "checkpoint"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, "-c", SAVER, str(folder)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The saver prints each step it has saved; right after the third it is inside the
        # fourth save, which is where the kill should land (no sleep: the machine's speed
        # must not decide where).
        for _ in range(3):
            assert process.stdout.readline(), process.stderr.read()[-2000:]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    model = keras.Sequential([keras.Input((8, 8, 4)), keras.layers.Conv2D(16, 3, padding="same")])
    adam = keras.optimizers.Adam()
    adam.build(model.trainable_variables)
    state = load_checkpoint(folder, {"nip": model}, {"nip": adam})
    assert state["step"] >= 3
    for variable in model.weights + adam.variables[2:]:
        assert np.all(values([variable])[0] == state["step"])

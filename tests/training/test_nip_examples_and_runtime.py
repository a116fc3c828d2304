"""The example NIP configs are valid; runtime options: CPU fallback, mixed precision and XLA."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from nipkit.config import load_config
from nipkit.models import UNet
from nipkit.schema import NIP_TRAINING, training_options, validate
from nipkit.training.checkpoints import load_checkpoint, save_checkpoint
from nipkit.training.nip import _train_step
from nipkit.training.runtime import Runtime, select_runtime

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "nip"


@pytest.mark.parametrize("name", ["inet", "unet", "dnet"])
def test_example_configs_are_valid_nip_configs(name):
    config = load_config(EXAMPLES / f"{name}.yaml")
    assert validate(config) == "nip" and config.get("nip") == name and config.get("data") == "demo"
    options = training_options(config, NIP_TRAINING)
    assert (options["batch_size"], options["patch_size"], options["loss"]) == (20, 128, "l2")
    assert options["early_stop_tolerance"] == (1e-5 if name == "dnet" else 1e-4)


@pytest.mark.skipif(bool(tf.config.list_logical_devices("GPU")), reason="checks the CPU fallback")
def test_gpu_only_options_are_switched_off_on_cpu():
    with pytest.warns(UserWarning, match="mixed_precision needs a GPU"):
        runtime = select_runtime("none", mixed_precision=True, xla=False)
    assert not runtime.mixed_precision and runtime.device == "CPU" and runtime.replicas == 1
    with pytest.warns(UserWarning, match="xla needs a GPU"):
        assert not select_runtime("none", mixed_precision=False, xla=True).xla



def train_unet(runtime: Runtime, steps: int = 12):
    keras.utils.set_random_seed(1)
    with runtime.build_scope():
        model = UNet(levels=3, filters=4)
        model(np.zeros((1, 16, 16, 4), "float32"))
        optimizer = runtime.optimizer(keras.optimizers.Adam(1e-3))
        optimizer.build(model.trainable_variables)
    step = _train_step(runtime, model, optimizer, "l2", 4)
    rng = np.random.default_rng(0)
    batch = (tf.constant(rng.uniform(size=(4, 16, 16, 4)), tf.float32), tf.constant(rng.uniform(size=(4, 32, 32, 3)), tf.float32))
    return model, optimizer, [float(step(batch)["loss"]) for _ in range(steps)]


@pytest.mark.parametrize("mixed_precision,xla", [(True, False), (False, True), (True, True)])
def test_mixed_precision_and_xla_steps_train_like_float32(tmp_path, mixed_precision, xla):
    """The GPU-only paths, forced on the CPU (both work there, only slower)."""
    strategy = tf.distribute.get_strategy()
    _, _, reference = train_unet(Runtime(strategy, False, False, "CPU"))
    model, optimizer, losses = train_unet(Runtime(strategy, mixed_precision, xla, "CPU (forced)"))
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after building
    assert model.dtype_policy.name == ("mixed_float16" if mixed_precision else "float32")
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(losses, reference, rtol=2e-2 if mixed_precision else 1e-4)
    save_checkpoint(tmp_path / "checkpoint", {"nip": model}, {"nip": optimizer}, {"step": len(losses)})
    again, again_optimizer, _ = train_unet(Runtime(strategy, mixed_precision, xla, "CPU (forced)"), steps=0)
    load_checkpoint(tmp_path / "checkpoint", {"nip": again}, {"nip": again_optimizer})
    for a, b in zip(optimizer.variables, again_optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))

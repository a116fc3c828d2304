"""The example NIP configs are valid; runtime options: CPU fallback, mixed precision and XLA."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from nipkit.config import load_config
from nipkit.errors import ConfigError
from nipkit.models import UNet
from nipkit.schema import NIP_TRAINING, training_options, validate
from nipkit.training.checkpoints import load_checkpoint, save_checkpoint
from nipkit.training.steps import nip_step
from nipkit.training.runtime import Runtime, select_runtime

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "nip"


@pytest.mark.parametrize("name", ["inet", "unet", "dnet"])
def test_example_configs_are_valid_nip_configs(name):
    config = load_config(EXAMPLES / f"{name}.yaml")
    assert validate(config) == "nip" and config.get("nip") == name and config.get("data") == "demo"
    options = training_options(config, NIP_TRAINING)
    assert (options.batch_size, options.patch_size, options.loss) == (20, 128, "l2")
    assert options.early_stop_tolerance == (1e-5 if name == "dnet" else 1e-4)


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
    step = nip_step(runtime, model, optimizer, "l2", 4)
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


def numpy_adam(gradients: list[np.ndarray], rate: float, clip_norm: float | None) -> np.ndarray:
    """Keras' Adam update rule in numpy, each gradient first clipped to `clip_norm`."""
    x, m, v = np.zeros(2), np.zeros(2), np.zeros(2)
    for t, g in enumerate(gradients, start=1):
        if clip_norm is not None:
            g = g * min(1.0, clip_norm / np.linalg.norm(g))
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g**2
        x = x - rate * np.sqrt(1 - 0.999**t) / (1 - 0.9**t) * m / (np.sqrt(v) + 1e-7)
    return x


@pytest.mark.parametrize("clip_norm", [None, 1.0])
@pytest.mark.parametrize("mixed_precision", [False, True])
def test_adam_clips_the_global_gradient_norm(clip_norm, mixed_precision):
    # A small gradient, then a spike: clipped, the spike cannot swamp Adam's moments.
    gradients = [np.array([0.3, -0.4]), np.array([300.0, 40.0]), np.array([0.1, 0.2])]
    runtime = Runtime(tf.distribute.get_strategy(), mixed_precision, False, "CPU")
    optimizer = runtime.adam(0.01, clip_norm)
    x = keras.Variable(np.zeros(2, "float32"))
    optimizer.build([x])
    for g in gradients:  # under mixed precision the optimiser expects loss-scaled gradients
        optimizer.apply_gradients([(optimizer.scale_loss(tf.constant(g, tf.float32)), x)])
    np.testing.assert_allclose(x.numpy(), numpy_adam(gradients, 0.01, clip_norm), rtol=1e-4, atol=1e-7)
    assert not np.allclose(numpy_adam(gradients, 0.01, 1.0), numpy_adam(gradients, 0.01, None))


@pytest.mark.parametrize("value", [0, -1.0, "big"])
def test_clip_norm_must_be_positive(tmp_path, value):
    path = tmp_path / "nip.yaml"
    path.write_text(f"data: demo\nnip: inet\ntraining:\n  clip_norm: {value}\n")
    with pytest.raises(ConfigError, match=r"nip.yaml:4: training.clip_norm: must be a positive number up to 1e\+30 or null"):
        training_options(load_config(path), NIP_TRAINING)


def test_nip_training_passes_clip_norm_to_its_optimiser(demo_data):
    from nipkit.training import NipTrainer

    trainer = NipTrainer.from_config(load_config(EXAMPLES / "inet.yaml", ["training.clip_norm=0.5"]))
    assert trainer.optimizer.global_clipnorm == 0.5

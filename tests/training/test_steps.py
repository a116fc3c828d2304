"""The train steps add every loss a model adds (`model.losses`) to the loss they minimise."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from nipkit.layers import DepthToSpace
from nipkit.training.runtime import Runtime
from nipkit.training.steps import added_losses, nip_step


class PenalisedNip(keras.Model):
    """A 1×1 conv NIP that adds `penalty · sum(kernel)` in its forward pass."""

    def __init__(self, penalty: float, **kwargs):
        super().__init__(**kwargs)
        self.penalty = penalty
        self.conv = keras.layers.Conv2D(12, 1, use_bias=False, kernel_initializer="ones")
        self.to_rgb = DepthToSpace(2)

    def call(self, raw):
        out = self.conv(raw)
        if self.penalty:
            self.add_loss(self.penalty * keras.ops.sum(self.conv.kernel))
        return self.to_rgb(out)


def one_step(penalty: float):
    runtime = Runtime(tf.distribute.get_strategy(), False, False, "CPU")
    model = PenalisedNip(penalty)
    model(np.zeros((1, 4, 4, 4), "float32"))
    optimizer = runtime.adam(0.1)
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    batch = (tf.constant(rng.uniform(size=(2, 4, 4, 4)), tf.float32),
             tf.constant(rng.uniform(size=(2, 8, 8, 3)), tf.float32))
    loss = float(nip_step(runtime, model, optimizer, "l2", 2)(batch)["loss"])
    return loss, model.conv.kernel.numpy()


def test_nip_pretraining_minimises_the_added_loss_too():
    plain_loss, plain_kernel = one_step(0.0)
    loss, kernel = one_step(-1e4)  # rewards a larger kernel, against the L2 loss
    # the added loss is in the step's loss (the kernel starts at ones: sum = 48) ...
    assert loss == pytest.approx(plain_loss - 1e4 * 48, rel=1e-6)
    # ... and in its gradient: Adam's first step moves each weight by the learning rate, up
    # where the added loss dominates, down where only the L2 loss acts
    np.testing.assert_allclose(kernel, 1.1, rtol=1e-4)
    np.testing.assert_allclose(plain_kernel, 0.9, rtol=1e-4)


def test_added_losses_include_weight_regularisers():
    layer = keras.layers.Dense(2, kernel_initializer="ones", kernel_regularizer=keras.regularizers.L2(0.5))
    model = keras.Sequential([keras.Input((3,)), layer])
    model(np.zeros((1, 3), "float32"))
    assert float(added_losses(model)) == pytest.approx(0.5 * 6)
    assert float(added_losses(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))) == 0.0

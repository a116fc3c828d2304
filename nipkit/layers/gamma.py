"""Gamma: a gamma-adjustment manipulation with a bounded gradient near black."""
from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["Gamma"]


@keras.saving.register_keras_serializable(package="nipkit")
class Gamma(keras.layers.Layer):
    """Applies y = x ** gamma to images clipped to [0, 1].

    For gamma < 1 the exact derivative gamma·x^(gamma−1) is unbounded at 0. The forward
    value stays exact, but below `eps` the gradient is held at its value at `eps`
    (gamma·eps^(gamma−1), e.g. ≈ 19.6 for gamma = 1/2.2 and eps = 1e-3).

    Args:
        gamma: the exponent, a finite number > 0; < 1 brightens, > 1 darkens.
        eps: the input level below which the gradient is held constant, 0 < eps < 1.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, height, width, channels) images; values are clipped to [0, 1].
        gamma: optional per-image exponents, a (batch,) tensor (drawn values).

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(size=(2, 16, 16, 3)).astype("float32")
        >>> tuple(Gamma(gamma=0.8)(images).shape)
        (2, 16, 16, 3)
    """

    def __init__(self, gamma: float = 0.8, eps: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not (math.isfinite(gamma) and gamma > 0):
            raise ValueError(f"Gamma: gamma must be a finite number > 0; got {gamma!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
            raise ValueError(f"Gamma: eps must be a number with 0 < eps < 1; got {eps!r}")
        self.gamma = float(gamma)
        self.eps = float(eps)

    # Arguments a config may draw at random (see `nipkit.random_values`), given to `call` per image.
    RANDOM_ARGUMENTS = {"gamma": "image"}

    def call(self, inputs, gamma=None):
        x = ops.clip(inputs, 0.0, 1.0)
        exponent = self.gamma if gamma is None else ops.reshape(ops.cast(gamma, x.dtype), (-1, 1, 1, 1))
        exact = ops.power(x, exponent)
        # A surrogate equal to x**gamma above eps and linear below it; its gradient is used,
        # the exact value is kept through stop_gradient.
        slope = exponent * ops.power(ops.cast(self.eps, x.dtype), exponent - 1.0)
        surrogate = ops.power(ops.maximum(x, self.eps), exponent) + slope * ops.minimum(x - self.eps, 0.0)
        return surrogate + ops.stop_gradient(exact - surrogate)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(gamma=self.gamma, eps=self.eps)
        return config

"""Sharpen: the paper's unsharp-mask manipulation on the V channel of HSV."""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from nipkit.ops.color import hsv_to_rgb, rgb_to_hsv
from nipkit.ops.filtering import check_padding, filter2d

__all__ = ["Sharpen", "UNSHARP_KERNEL"]

# Korus & Memon 2019, eq. (3); its entries sum to 1, so flat areas are left unchanged.
UNSHARP_KERNEL = np.array([[-1, -4, -1], [-4, 26, -4], [-1, -4, -1]], dtype="float32") / 6.0
_IDENTITY = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype="float32")


@keras.saving.register_keras_serializable(package="nipkit")
class Sharpen(keras.layers.Layer):
    """Sharpens RGB images with an unsharp mask applied to the V (value) channel of HSV.

    RGB is converted to HSV (differentiably), V is filtered with
    (1 − strength)·δ + strength·(1/6)·[[−1,−4,−1],[−4,26,−4],[−1,−4,−1]], clipped to [0, 1],
    and converted back with the original hue and saturation. The output is in [0, 1].

    Args:
        strength: blend between the identity (0) and the paper's kernel (1); values above
            1 over-sharpen. Must be finite and >= 0.
        padding: border mode, "reflect" (default, mirror without repeating the edge),
            "symmetric" (mirror repeating the edge) or "constant" (zeros).
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, height, width, 3) RGB images in [0, 1]; height and width >= 2
            with "reflect" padding.
        strength: optional per-image strengths, a (batch,) tensor (drawn values).

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
        >>> tuple(Sharpen()(images).shape)
        (2, 32, 32, 3)
    """

    def __init__(self, strength: float = 1.0, padding: str = "reflect", **kwargs):
        super().__init__(**kwargs)
        if isinstance(strength, bool) or not isinstance(strength, (int, float)):
            raise ValueError(f"Sharpen: strength must be a number >= 0; got {strength!r}")
        if not (math.isfinite(strength) and strength >= 0):
            raise ValueError(f"Sharpen: strength must be a finite number >= 0; got {strength}")
        self.strength = float(strength)
        self.padding = check_padding(padding, "Sharpen")

    def build(self, input_shape) -> None:
        if len(input_shape) != 4 or input_shape[-1] != 3:
            raise ValueError(f"Sharpen: expects (batch, height, width, 3) RGB input; got shape {tuple(input_shape)}")
        super().build(input_shape)

    # Arguments a config may draw at random (see `nipkit.random_values`), given to `call` per image.
    RANDOM_ARGUMENTS = {"strength": "image"}

    def call(self, inputs, strength=None):
        hsv = rgb_to_hsv(inputs)
        if strength is None:
            kernel = (1.0 - self.strength) * _IDENTITY + self.strength * UNSHARP_KERNEL
            value = filter2d(hsv[..., 2:3], kernel, self.padding)
        else:  # the same blend, (1 − s)·V + s·(K ⋆ V), with one s per image
            weight = ops.reshape(ops.cast(strength, hsv.dtype), (-1, 1, 1, 1))
            original = hsv[..., 2:3]
            value = original + weight * (filter2d(original, UNSHARP_KERNEL, self.padding) - original)
        value = ops.clip(value, 0.0, 1.0)
        rgb = hsv_to_rgb(ops.concatenate([hsv[..., :2], value], axis=-1))
        return ops.clip(rgb, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(strength=self.strength, padding=self.padding)
        return config

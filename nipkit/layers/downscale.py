"""Downscale: the distribution channel's down-scaling step (1:2 in the paper)."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from nipkit.ops.filtering import resize_images, spatial_size

__all__ = ["Downscale"]

METHODS = ("area", "bilinear")


@keras.saving.register_keras_serializable(package="nipkit")
class Downscale(keras.layers.Layer):
    """Shrinks images by an integer factor: (h, w) → (h // factor, w // factor).

    When a side is not divisible by `factor`, the last h % factor rows and w % factor
    columns are dropped first (with both methods), so output pixel (i, j) always covers
    input rows factor·i … factor·i + factor − 1 and the same columns.

    Args:
        factor: the integer down-scaling factor, >= 1. The paper's channel uses 2.
        method: "area" averages each factor × factor block; "bilinear" samples the
            cropped image at the block centres with bilinear interpolation (half-pixel
            centres, no antialiasing), which at factor 2 is the same 2 × 2 average and
            at odd factors picks the block's centre pixel.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, height, width, channels) images with height, width >= factor.

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(size=(2, 33, 32, 3)).astype("float32")
        >>> tuple(Downscale(factor=2)(images).shape)
        (2, 16, 16, 3)
    """

    def __init__(self, factor: int = 2, method: str = "area", **kwargs):
        super().__init__(**kwargs)
        if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
            raise ValueError(f"Downscale: factor must be an integer >= 1; got {factor!r}")
        if method not in METHODS:
            raise ValueError(f"Downscale: method must be one of {', '.join(METHODS)}; got {method!r}")
        self.factor = int(factor)
        self.method = method

    def call(self, inputs):
        f = self.factor
        if self.method == "area":
            return ops.average_pool(inputs, pool_size=f, strides=f, padding="valid", data_format="channels_last")
        height, width = spatial_size(inputs)
        cropped = inputs[:, : (height // f) * f, : (width // f) * f, :]
        return resize_images(cropped, (height // f, width // f), "bilinear")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (
            batch,
            None if height is None else height // self.factor,
            None if width is None else width // self.factor,
            channels,
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(factor=self.factor, method=self.method)
        return config

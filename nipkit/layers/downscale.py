"""Downscale: the distribution channel's down-scaling step (1:2 in the paper)."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from nipkit.ops.antialias import FILTERS, antialiased_resize, scaled_side
from nipkit.ops.filtering import resize_images, spatial_size

__all__ = ["Downscale"]

METHODS = ("area", "bilinear")  # with an integer `factor`
SCALE_METHODS = tuple(FILTERS)  # with a `scale`: Pillow's antialiased filters


@keras.saving.register_keras_serializable(package="nipkit")
class Downscale(keras.layers.Layer):
    """Shrinks images by an integer factor, (h, w) → (h // factor, w // factor), or by a scale.

    With `factor`: when a side is not divisible by it, the last h % factor rows and
    w % factor columns are dropped first (with both methods), so output pixel (i, j)
    always covers input rows factor·i … factor·i + factor − 1 and the same columns.

    With `scale` (0 < scale <= 1): the output is (round(h·scale), round(w·scale)),
    resized with one of Pillow's antialiased filters (see `nipkit.ops.antialias`). A
    config may draw the scale at random (`scale: {uniform: [0.5, 1.0]}`): one scale per
    batch, since a batch has one image size.

    Args:
        factor: the integer down-scaling factor, >= 1. The paper's channel uses 2.
        method: with `factor`, "area" averages each factor × factor block; "bilinear"
            samples the cropped image at the block centres with bilinear interpolation
            (half-pixel centres, no antialiasing), which at factor 2 is the same 2 × 2
            average and at odd factors picks the block's centre pixel. With `scale`:
            "area", "bilinear", "bicubic" or "lanczos", antialiased as in Pillow.
        scale: the output/input size ratio in (0, 1]; replaces `factor` when given.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, height, width, channels) images with height, width >= factor.
        scale: optional drawn scales, a (batch,) tensor whose first value applies to the
            whole batch (the layer needs a `scale` of its own).

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(size=(2, 33, 32, 3)).astype("float32")
        >>> tuple(Downscale(factor=2)(images).shape)
        (2, 16, 16, 3)
        >>> tuple(Downscale(scale=0.75, method="bicubic")(images).shape)
        (2, 25, 24, 3)
    """

    # Arguments a config may draw at random (see `nipkit.random_values`).
    RANDOM_ARGUMENTS = {"scale": "batch"}
    RESIZES = True  # a resizing step (a battery entry with its own keeps none of the run's)

    def __init__(self, factor: int = 2, method: str = "area", scale: float | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
            raise ValueError(f"Downscale: factor must be an integer >= 1; got {factor!r}")
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))
                                  or not 0 < scale <= 1):
            raise ValueError(f"Downscale: scale must be a number in (0, 1]; got {scale!r}")
        allowed = METHODS if scale is None else SCALE_METHODS
        if method not in allowed:
            raise ValueError(f"Downscale: method must be one of {', '.join(allowed)}"
                             f"{' with a scale' if scale is not None else ''}; got {method!r}")
        self.factor = int(factor)
        self.method = method
        self.scale = None if scale is None else float(scale)

    def call(self, inputs, scale=None):
        if self.scale is not None:
            ratio = self.scale if scale is None else ops.reshape(ops.cast(scale, "float32"), (-1,))[0]
            height, width = spatial_size(inputs)
            return antialiased_resize(inputs, (scaled_side(height, ratio), scaled_side(width, ratio)), self.method)
        if scale is not None:
            raise ValueError("Downscale: a drawn scale needs the layer to have a scale (not a factor)")
        f = self.factor
        if self.method == "area":
            return ops.average_pool(inputs, pool_size=f, strides=f, padding="valid", data_format="channels_last")
        height, width = spatial_size(inputs)
        cropped = inputs[:, : (height // f) * f, : (width // f) * f, :]
        return resize_images(cropped, (height // f, width // f), "bilinear")

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        if self.scale is not None:
            return (batch, None if height is None else scaled_side(height, self.scale),
                    None if width is None else scaled_side(width, self.scale), channels)
        return (
            batch,
            None if height is None else height // self.factor,
            None if width is None else width // self.factor,
            channels,
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(factor=self.factor, method=self.method)
        if self.scale is not None:  # kept out otherwise, so a factor's description stays as it was
            config.update(scale=self.scale)
        return config

"""Resample: the paper's resampling manipulation (1:2 down, then 2:1 up, bilinear)."""
from __future__ import annotations

import keras
from keras import ops

from nipkit.ops.filtering import RESIZE_METHODS, interpolation_matrices, resize_images, scaled_size, spatial_size

__all__ = ["Resample"]


@keras.saving.register_keras_serializable(package="nipkit")
class Resample(keras.layers.Layer):
    """Resizes images down by `factor`, then back up to their input size.

    The intermediate size is max(1, floor(height · factor)) × max(1, floor(width · factor)),
    so odd sizes round down (33 → 16 → 33 at factor 0.5). Both steps interpolate with
    half-pixel centres and no antialiasing, as TensorFlow 2's `tf.image.resize` does;
    samples beyond the border take the edge value. Height and width may be unknown until
    run time.

    Args:
        factor: the down-scaling factor, 0 < factor < 1. The paper uses 0.5.
        method: interpolation of both steps, "bilinear" (default) or "nearest".
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, height, width, channels) images.
        factor: optional per-image factors, a (batch,) tensor (drawn values); each image
            is resampled as the layer with its own factor would resample it.

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(size=(2, 33, 32, 3)).astype("float32")
        >>> tuple(Resample(factor=0.5)(images).shape)
        (2, 33, 32, 3)
    """

    def __init__(self, factor: float = 0.5, method: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < 1:
            raise ValueError(f"Resample: factor must be a number with 0 < factor < 1; got {factor!r}")
        if method not in RESIZE_METHODS:
            raise ValueError(f"Resample: method must be one of {', '.join(RESIZE_METHODS)}; got {method!r}")
        self.factor = float(factor)
        self.method = method

    # Arguments a config may draw at random (see `nipkit.random_values`), given to `call` per image.
    RANDOM_ARGUMENTS = {"factor": "image"}

    def call(self, inputs, factor=None):
        height, width = spatial_size(inputs)
        if factor is None:
            small = resize_images(inputs, (scaled_size(height, self.factor), scaled_size(width, self.factor)),
                                  self.method)
            return resize_images(small, (height, width), self.method)
        factor = ops.reshape(ops.cast(factor, "float32"), (-1,))
        rows, cols = self._round_trip(height, factor), self._round_trip(width, factor)
        resized = ops.einsum("boh,bhwc->bowc", ops.cast(rows, inputs.dtype), inputs)
        return ops.einsum("bpw,bowc->bopc", ops.cast(cols, inputs.dtype), resized)

    def _round_trip(self, size, factor):
        """(batch, size, size): down to each image's size, then back up, as one matrix per image."""
        small = ops.maximum(ops.floor(ops.cast(size, "float32") * factor + 1e-6), 1.0)  # as `scaled_size`
        down = interpolation_matrices(size, small, size, size, self.method)
        up = interpolation_matrices(small, size, size, size, self.method)
        return ops.matmul(up, down)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(factor=self.factor, method=self.method)
        return config

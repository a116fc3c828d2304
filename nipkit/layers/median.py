"""Median: a median-filter manipulation."""
from __future__ import annotations

import keras
from keras import ops

from nipkit.ops.filtering import check_border_fits, check_kernel_size, check_padding, pad_borders

__all__ = ["Median"]


@keras.saving.register_keras_serializable(package="nipkit")
class Median(keras.layers.Layer):
    """Replaces every pixel of every channel by the median of its k × k neighbourhood.

    The k² neighbours are sorted and the middle one is taken, so the gradient flows to
    the selected input value (the median pixel) only, as for max-pooling.

    Args:
        kernel_size: the neighbourhood side k, a positive odd integer (default 3).
        padding: border mode, "reflect" (default, mirror without repeating the edge),
            "symmetric" (mirror repeating the edge) or "constant" (zeros).
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, height, width, channels) images; height and width larger than
            kernel_size // 2 with "reflect" padding.

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
        >>> tuple(Median(kernel_size=3)(images).shape)
        (2, 32, 32, 3)
    """

    def __init__(self, kernel_size: int = 3, padding: str = "reflect", **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = check_kernel_size(kernel_size, "Median")
        self.padding = check_padding(padding, "Median")

    def call(self, inputs):
        k = self.kernel_size
        padded = pad_borders(inputs, k // 2, k // 2, self.padding)
        # Slice ends count from the end, so this works when height/width are unknown.
        windows = [
            padded[:, i : (i - k + 1) or None, j : (j - k + 1) or None, :]
            for i in range(k)
            for j in range(k)
        ]
        return ops.sort(ops.stack(windows, axis=-1), axis=-1)[..., (k * k) // 2]

    def compute_output_shape(self, input_shape):
        return check_border_fits(input_shape, self.kernel_size // 2, self.padding, "Median")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(kernel_size=self.kernel_size, padding=self.padding)
        return config

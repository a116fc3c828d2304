"""Median: a median-filter manipulation."""
from __future__ import annotations

import keras
from keras import ops

from nipkit.ops.filtering import check_border_fits, check_kernel_size, check_padding, kernel_radii, pad_borders

__all__ = ["Median"]


def _median(padded, k: int, border: int):
    """The k × k median of images padded by `border` ≥ k // 2 on every side."""
    offset = border - k // 2
    # Slice ends count from the end, so this works when height/width are unknown.
    windows = [
        padded[:, offset + i : (offset + i - 2 * border) or None, offset + j : (offset + j - 2 * border) or None, :]
        for i in range(k)
        for j in range(k)
    ]
    return ops.sort(ops.stack(windows, axis=-1), axis=-1)[..., (k * k) // 2]


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
        kernel_size: optional per-image neighbourhood sides up to the layer's kernel_size,
            a (batch,) tensor (drawn values, rounded to odd sides; see `kernel_radii`).

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

    # Arguments a config may draw at random (see `nipkit.random_values`), given to `call` per image.
    RANDOM_ARGUMENTS = {"kernel_size": "image"}
    BUILT_WITH_LARGEST = ("kernel_size",)  # a drawn size is built at its largest: the border it pads

    def call(self, inputs, kernel_size=None):
        largest, border = self.kernel_size, self.kernel_size // 2
        padded = pad_borders(inputs, border, border, self.padding)
        if kernel_size is None:
            return _median(padded, largest, border)
        radii = ops.reshape(kernel_radii(kernel_size), (-1, 1, 1, 1))
        output = ops.zeros_like(inputs)
        for k in range(1, largest + 1, 2):
            output = ops.where(radii == k // 2, _median(padded, k, border), output)
        return output

    def compute_output_shape(self, input_shape):
        return check_border_fits(input_shape, self.kernel_size // 2, self.padding, "Median")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(kernel_size=self.kernel_size, padding=self.padding)
        return config

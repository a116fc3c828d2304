"""Gaussian: the paper's Gaussian-blur manipulation (5×5 kernel, σ = 0.83)."""
from __future__ import annotations

import math

import keras
from keras import ops

from nipkit.ops.filtering import (
    check_border_fits,
    check_kernel_size,
    check_padding,
    filter2d,
    gaussian_kernel,
    gaussian_profiles,
    separable_filter_per_image,
)

__all__ = ["Gaussian"]


@keras.saving.register_keras_serializable(package="nipkit")
class Gaussian(keras.layers.Layer):
    """Blurs every channel with a fixed, normalised kernel_size × kernel_size Gaussian.

    The kernel is exp(−(x² + y²) / (2σ²)) sampled at integer offsets from the centre and
    divided by its sum, so flat areas are unchanged.

    Args:
        sigma: standard deviation in pixels, > 0. The paper uses 0.83.
        kernel_size: side of the kernel, a positive odd integer. The paper uses 5.
        padding: border mode, "reflect" (default, mirror without repeating the edge),
            "symmetric" (mirror repeating the edge) or "constant" (zeros).
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, height, width, channels) images; height and width larger than
            kernel_size // 2 with "reflect" padding.
        sigma: optional per-image standard deviations, a (batch,) tensor (drawn values).
        kernel_size: optional per-image kernel sides up to the layer's kernel_size, a
            (batch,) tensor (drawn values, rounded to odd sides; see `kernel_radii`).

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
        >>> tuple(Gaussian(sigma=0.83, kernel_size=5)(images).shape)
        (2, 32, 32, 3)
    """

    def __init__(self, sigma: float = 0.83, kernel_size: int = 5, padding: str = "reflect", **kwargs):
        super().__init__(**kwargs)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"Gaussian: sigma must be a finite number > 0; got {sigma!r}")
        self.sigma = float(sigma)
        self.kernel_size = check_kernel_size(kernel_size, "Gaussian")
        self.padding = check_padding(padding, "Gaussian")

    # Arguments a config may draw at random (see `nipkit.random_values`), given to `call` per image.
    RANDOM_ARGUMENTS = {"sigma": "image", "kernel_size": "image"}
    BUILT_WITH_LARGEST = ("kernel_size",)  # a drawn size is built at its largest: the border it pads

    def call(self, inputs, sigma=None, kernel_size=None):
        if sigma is None and kernel_size is None:
            return filter2d(inputs, gaussian_kernel(self.sigma, self.kernel_size), self.padding)
        if sigma is None:
            sigma = ops.full((ops.shape(inputs)[0],), self.sigma)
        profiles = gaussian_profiles(sigma, self.kernel_size, kernel_size)
        return separable_filter_per_image(inputs, profiles, self.padding)

    def compute_output_shape(self, input_shape):
        return check_border_fits(input_shape, self.kernel_size // 2, self.padding, "Gaussian")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(sigma=self.sigma, kernel_size=self.kernel_size, padding=self.padding)
        return config

"""Contrast: a differentiable contrast and saturation adjustment, as a photo editor makes it."""
from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["Contrast", "LUMA_WEIGHTS"]

# ITU-R BT.601 luma, the grey level Pillow's `convert("L")` uses.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def _check_factor(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"Contrast: {name} must be a finite number >= 0; got {value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="nipkit_contrast")
class Contrast(keras.layers.Layer):
    """Changes the saturation, then the contrast, of RGB images; the output is in [0, 1].

    With L(x) = 0.299·R + 0.587·G + 0.114·B (BT.601 luma):

    1. saturation: x₁ = clip(L(x) + saturation·(x − L(x)), 0, 1), a blend with the grey image;
    2. contrast: y = clip(m + contrast·(x₁ − m), 0, 1), where m is the mean of L(x₁) over the
       image (one value per image), a blend with a flat grey image.

    These are the definitions of Pillow's `ImageEnhance.Color` and `ImageEnhance.Contrast`,
    computed in floating point instead of 8-bit integers. A factor of 1 leaves the image
    unchanged; 0 gives a grey (saturation) or flat (contrast) image; above 1 enhances.

    Args:
        contrast: the contrast factor, a finite number >= 0.
        saturation: the saturation factor, a finite number >= 0.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, height, width, 3) RGB images in [0, 1].

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(size=(2, 16, 16, 3)).astype("float32")
        >>> tuple(Contrast(contrast=1.5, saturation=1.2)(images).shape)
        (2, 16, 16, 3)
    """

    def __init__(self, contrast: float = 1.5, saturation: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.contrast = _check_factor(contrast, "contrast")
        self.saturation = _check_factor(saturation, "saturation")

    def build(self, input_shape) -> None:
        if len(input_shape) != 4 or input_shape[-1] != 3:
            raise ValueError(f"Contrast: expects (batch, height, width, 3) RGB input; got shape {tuple(input_shape)}")
        super().build(input_shape)

    @staticmethod
    def _luma(images):
        weights = ops.convert_to_tensor(LUMA_WEIGHTS, dtype=images.dtype)
        return ops.sum(images * weights, axis=-1, keepdims=True)

    def call(self, inputs):
        grey = self._luma(inputs)
        saturated = ops.clip(grey + self.saturation * (inputs - grey), 0.0, 1.0)
        mean = ops.mean(self._luma(saturated), axis=(1, 2, 3), keepdims=True)
        return ops.clip(mean + self.contrast * (saturated - mean), 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(contrast=self.contrast, saturation=self.saturation)
        return config

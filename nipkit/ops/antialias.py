"""Antialiased resizing with Pillow's filters, as differentiable `keras.ops`.

Pillow (`Image.resize`) resizes each axis with a filter whose support widens by the
down-scaling factor, so every input pixel contributes (antialiasing). `filter_matrix`
builds the same weights as Pillow's `precompute_coeffs` (same window, same
normalisation); `antialiased_resize` applies them to float images. Pillow itself works
on 8-bit pixels in fixed point with an 8-bit intermediate between the two passes, so its
output differs from this by rounding (at most a few levels of 255).

Example:
    >>> import numpy as np
    >>> images = np.random.default_rng(0).uniform(size=(1, 32, 24, 3)).astype("float32")
    >>> tuple(antialiased_resize(images, (16, 12), "lanczos").shape)
    (1, 16, 12, 3)
"""
from __future__ import annotations

import math

import numpy as np
from keras import ops

from nipkit.ops.filtering import spatial_size

__all__ = ["FILTERS", "filter_matrix", "antialiased_resize", "scaled_side"]


def _box(x):
    return ops.cast(ops.logical_and(x > -0.5, x <= 0.5), "float32")


def _triangle(x):
    return ops.relu(1.0 - ops.abs(x))


def _bicubic(x, a: float = -0.5):
    x = ops.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return ops.where(x < 1.0, near, ops.where(x < 2.0, far, 0.0))


def _sinc(x):
    safe = ops.where(ops.abs(x) < 1e-12, 1.0, x)
    return ops.where(ops.abs(x) < 1e-12, 1.0, ops.sin(math.pi * safe) / (math.pi * safe))


def _lanczos(x):
    return ops.where(ops.abs(x) < 3.0, _sinc(x) * _sinc(x / 3.0), 0.0)


# Pillow's filter name -> (kernel, support)
FILTERS = {"area": (_box, 0.5), "bilinear": (_triangle, 1.0), "bicubic": (_bicubic, 2.0), "lanczos": (_lanczos, 3.0)}


def filter_matrix(in_size, out_size, method: str):
    """The (out_size, in_size) matrix of Pillow's resampling weights along one axis (sizes may be tensors)."""
    kernel, support = FILTERS[method]
    scale = ops.cast(in_size, "float32") / ops.cast(out_size, "float32")
    filterscale = ops.maximum(scale, 1.0)
    support = support * filterscale
    centres = (ops.cast(ops.arange(out_size), "float32") + 0.5) * scale
    inputs = ops.cast(ops.arange(in_size), "float32")
    first = ops.maximum(ops.floor(centres - support + 0.5), 0.0)
    end = ops.minimum(ops.floor(centres + support + 0.5), ops.cast(in_size, "float32"))
    inside = ops.logical_and(inputs[None, :] >= first[:, None], inputs[None, :] < end[:, None])
    weights = kernel((inputs[None, :] - centres[:, None] + 0.5) / filterscale)
    weights = ops.where(inside, weights, 0.0)
    total = ops.sum(weights, axis=1, keepdims=True)
    return weights / ops.where(total == 0.0, 1.0, total)


def antialiased_resize(images, size, method: str = "bicubic"):
    """Resizes NHWC `images` in [0, 1] to `size` = (height, width) with one of `FILTERS` (sizes may be tensors)."""
    height, width = spatial_size(images)
    rows = ops.cast(filter_matrix(height, size[0], method), images.dtype)
    cols = ops.cast(filter_matrix(width, size[1], method), images.dtype)
    # Pillow resizes the width first and clips each pass to the pixel range (bicubic and
    # Lanczos overshoot at edges).
    resized = ops.clip(ops.einsum("pw,bhwc->bhpc", cols, images), 0.0, 1.0)
    return ops.clip(ops.einsum("oh,bhpc->bopc", rows, resized), 0.0, 1.0)


def scaled_side(size, scale):
    """max(1, round(size · scale)) for ints or tensors: the side of an image resized by `scale`."""
    if isinstance(size, (int, np.integer)) and isinstance(scale, (int, float)):
        return max(1, int(round(size * scale)))
    scaled = ops.round(ops.cast(size, "float32") * ops.cast(scale, "float32"))
    return ops.maximum(ops.cast(scaled, "int32"), 1)

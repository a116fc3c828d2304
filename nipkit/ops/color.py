"""Differentiable RGB <-> HSV conversions written with `keras.ops`.

Both follow the usual hexcone model (as Python's `colorsys` and scikit-image do): every
channel is in [0, 1], hue is a fraction of a turn in [0, 1) and is 0 for grey pixels,
saturation is 0 for black. Divisions are guarded, so gradients stay finite on grey and
black pixels.

Example:
    >>> import keras, numpy as np
    >>> hsv = rgb_to_hsv(np.array([[1.0, 0.5, 0.0]], "float32"))
    >>> [round(float(c), 4) for c in keras.ops.convert_to_numpy(hsv)[0]]
    [0.0833, 1.0, 1.0]
"""
from __future__ import annotations

from keras import ops

__all__ = ["rgb_to_hsv", "hsv_to_rgb"]


def _safe_divide(numerator, denominator):
    """numerator / denominator where denominator > 0, else 0 (with a finite gradient)."""
    positive = denominator > 0
    return ops.where(positive, numerator / ops.where(positive, denominator, 1.0), 0.0)


def rgb_to_hsv(rgb):
    """Converts RGB values in [0, 1] to HSV.

    Args:
        rgb: a tensor whose last axis holds (R, G, B).

    Returns:
        A tensor of the same shape holding (H, S, V), each in [0, 1] (H < 1).
    """
    rgb = ops.convert_to_tensor(rgb)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = ops.maximum(ops.maximum(r, g), b)
    chroma = value - ops.minimum(ops.minimum(r, g), b)
    saturation = _safe_divide(chroma, value)

    safe_chroma = ops.where(chroma > 0, chroma, 1.0)
    sector = ops.where(
        r == value,
        (g - b) / safe_chroma,
        ops.where(g == value, (b - r) / safe_chroma + 2.0, (r - g) / safe_chroma + 4.0),
    )
    hue = ops.where(chroma > 0, ops.mod(sector / 6.0, 1.0), 0.0)
    return ops.stack([hue, saturation, value], axis=-1)


def hsv_to_rgb(hsv):
    """Converts HSV values in [0, 1] to RGB.

    Uses the branch-free form c_n = V - V·S·clip(min(k, 4 - k), 0, 1), k = (n + 6H) mod 6,
    with n = 5, 3, 1 for R, G, B, so the result is differentiable almost everywhere.

    Args:
        hsv: a tensor whose last axis holds (H, S, V).

    Returns:
        A tensor of the same shape holding (R, G, B).
    """
    hsv = ops.convert_to_tensor(hsv)
    hue, saturation, value = hsv[..., 0], hsv[..., 1], hsv[..., 2]

    def channel(n: float):
        k = ops.mod(n + 6.0 * hue, 6.0)
        return value - value * saturation * ops.clip(ops.minimum(k, 4.0 - k), 0.0, 1.0)

    return ops.stack([channel(5.0), channel(3.0), channel(1.0)], axis=-1)

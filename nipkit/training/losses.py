"""Fidelity losses between target and developed images, one value per image.

Per-image values let a distributed step divide by the global batch size
(`tf.nn.compute_average_loss`). Written with `keras.ops`.

Example:
    >>> per_image = FIDELITY_LOSSES["l2"](target, output)  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Callable

from keras import ops

from nipkit.evaluation.metrics import ssim

__all__ = ["FIDELITY_LOSSES", "l2_loss", "l1_loss", "ssim_loss"]


def _pair(target, output):
    return ops.cast(target, "float32"), ops.cast(output, "float32")


def l2_loss(target, output):
    """Mean squared error of each image (the paper's NIP loss)."""
    target, output = _pair(target, output)
    return ops.mean(ops.square(target - output), axis=(1, 2, 3))


def l1_loss(target, output):
    """Mean absolute error of each image."""
    target, output = _pair(target, output)
    return ops.mean(ops.abs(target - output), axis=(1, 2, 3))


def ssim_loss(target, output):
    """1 − SSIM of each image (patches must be at least 11×11)."""
    target, output = _pair(target, output)
    return 1.0 - ssim(target, output)


FIDELITY_LOSSES: dict[str, Callable] = {"l2": l2_loss, "l1": l1_loss, "ssim": ssim_loss}

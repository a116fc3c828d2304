"""Codebook quantisation and its rate, in `keras.ops` (the learned codec's arithmetic).

A latent value is coded as the index of its nearest codebook entry; the entropy model is
a categorical distribution over the indices, one per latent channel. The rate of a
latent tensor is the number of bits an ideal entropy coder spends on its indices:
−Σ log2 p(index). For training, `soft_assignment` spreads each value over the entries
(softmax of −softness · squared distance), which makes both the quantised value and the
rate differentiable (Mentzer et al. 2018; the DCN of Korus & Memon 2020).

Example:
    >>> import numpy as np
    >>> codebook = np.arange(-2.0, 3.0, dtype="float32")
    >>> ops.convert_to_numpy(nearest_index(np.array([-1.7, 0.2, 9.0], "float32"), codebook)).tolist()
    [0, 2, 4]
"""
from __future__ import annotations

import math

from keras import ops

__all__ = ["nearest_index", "soft_assignment", "index_bits", "soft_bits"]

LN2 = math.log(2.0)


def _distance(latents, codebook):
    """Squared distance of every latent value to every codebook entry: (..., K)."""
    return ops.square(ops.expand_dims(latents, -1) - codebook)


def nearest_index(latents, codebook):
    """The index (int32) of the codebook entry nearest to each latent value."""
    return ops.cast(ops.argmin(_distance(latents, codebook), axis=-1), "int32")


def soft_assignment(latents, codebook, softness: float):
    """Weights (..., K) summing to 1: softmax(−softness · squared distance)."""
    return ops.softmax(-softness * _distance(latents, codebook), axis=-1)


def index_bits(indices, log_probs):
    """Bits per image of coding `indices` (B, h, w, C) with per-channel `log_probs` (C, K)."""
    one_hot = ops.one_hot(indices, ops.shape(log_probs)[-1])
    return -ops.sum(one_hot * log_probs, axis=(1, 2, 3, 4)) / LN2


def soft_bits(weights, log_probs):
    """The differentiable rate (bits per image) of soft assignments (B, h, w, C, K)."""
    return -ops.sum(weights * log_probs, axis=(1, 2, 3, 4)) / LN2

"""AVIF: lossy AVIF through Pillow (libavif), a real, evaluation-only channel step."""
from __future__ import annotations

import keras

from nipkit.layers.pillow_codec import PillowCodec

__all__ = ["AVIF"]


@keras.saving.register_keras_serializable(package="nipkit")
class AVIF(PillowCodec):
    """Lossy AVIF at a quality from 1 to 100, encoded and decoded by Pillow's libavif.

    Args:
        quality: AVIF quality, an integer from 1 to 100.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(size=(1, 16, 16, 3)).astype("float32")
        >>> AVIF(quality=50).reference(images).shape  # doctest: +SKIP
        (1, 16, 16, 3)
    """

    FORMAT = FEATURE = "avif"

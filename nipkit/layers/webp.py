"""WebP: lossy WebP through Pillow (libwebp), a real, evaluation-only channel step."""
from __future__ import annotations

import keras

from nipkit.layers.pillow_codec import PillowCodec

__all__ = ["WebP"]


@keras.saving.register_keras_serializable(package="nipkit")
class WebP(PillowCodec):
    """Lossy WebP at a quality from 1 to 100, encoded and decoded by Pillow's libwebp.

    Args:
        quality: WebP quality, an integer from 1 to 100.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(size=(2, 16, 16, 3)).astype("float32")
        >>> WebP(quality=80).reference(images).shape
        (2, 16, 16, 3)
    """

    FORMAT = FEATURE = "webp"

"""The base of real codecs run through Pillow (WebP, AVIF): evaluation-only channel steps."""
from __future__ import annotations

import io

import keras
import numpy as np
from PIL import Image, features

from nipkit.evaluation.libjpeg import to_uint8

__all__ = ["PillowCodec", "check_codec_quality"]


def check_codec_quality(quality, component: str) -> int:
    """`quality` as an int if it is a whole number in 1..100, else ValueError."""
    ok = not isinstance(quality, bool) and isinstance(quality, (int, float, np.integer, np.floating))
    if not ok or quality != int(quality) or not 1 <= quality <= 100:
        raise ValueError(f"{component}: quality must be an integer from 1 to 100; got {quality!r}")
    return int(quality)


class PillowCodec(keras.layers.Layer):
    """A lossy codec that Pillow encodes and decodes; it has no differentiable model.

    Its `reference` (the channel-step contract's real counterpart) rounds images to 8
    bits, encodes each with Pillow at `quality` and decodes it. Calling the layer itself
    is an error: it cannot be trained through, only evaluated (`nipkit evaluate`).
    Subclasses set `FORMAT` (Pillow's format name) and `FEATURE` (for `features.check`).

    Args:
        quality: the codec's quality, an integer from 1 to 100.
        **kwargs: passed to `keras.layers.Layer`.
    """

    FORMAT = ""
    FEATURE = ""
    REAL_ONLY = True  # refused in a training config's `channel:`

    def __init__(self, quality: int = 75, **kwargs) -> None:
        super().__init__(**kwargs)
        self.quality = check_codec_quality(quality, type(self).__name__)

    @classmethod
    def available(cls) -> bool:
        """Whether this machine's Pillow can encode the format."""
        return bool(features.check(cls.FEATURE))

    def encode(self, image: np.ndarray) -> bytes:
        """One float (height, width, 3) image in [0, 1] → the codec's file bytes."""
        buffer = io.BytesIO()
        Image.fromarray(to_uint8(image)).save(buffer, format=self.FORMAT, quality=self.quality)
        return buffer.getvalue()

    def reference(self, images) -> np.ndarray:
        """Encodes and decodes a float batch (batch, height, width, 3) with Pillow."""
        decoded = [np.asarray(Image.open(io.BytesIO(self.encode(image))).convert("RGB")) for image in np.asarray(images)]
        return np.stack(decoded).astype("float32") / 255.0

    def call(self, inputs):
        raise ValueError(f"{type(self).__name__} has no differentiable model: it runs only as a real channel step "
                         "(`nipkit evaluate --channel ...`); train through `jpeg` instead")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(quality=self.quality)
        return config

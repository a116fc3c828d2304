"""Real JPEG compression through Pillow's libjpeg, for float images in [0, 1].

A reference for `DifferentiableJPEG` and a non-differentiable "real libjpeg" channel for
evaluation. Images are rounded to 8 bits (round half to even, clipped), saved with the
IJG tables at the given quality (`optimize` and progressive off, which do not change
pixels), and decoded with libjpeg's defaults ("islow" inverse DCT, fancy up-sampling).

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(size=(2, 16, 16, 3)).astype("float32")
    >>> y = roundtrip(x, quality=75, subsampling="4:2:0")
    >>> y.shape, y.dtype
    ((2, 16, 16, 3), dtype('float32'))
"""
from __future__ import annotations

import io
from typing import Sequence

import numpy as np
from PIL import Image

__all__ = ["PIL_SUBSAMPLING", "to_uint8", "encode", "decode", "roundtrip"]

# Pillow's `subsampling` codes.
PIL_SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] → uint8, rounding half to even and clipping."""
    return np.clip(np.rint(np.asarray(images, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def _check(quality: int, subsampling: str) -> None:
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"libjpeg: quality must be an integer from 1 to 100; got {quality!r}")
    if subsampling not in PIL_SUBSAMPLING:
        raise ValueError(f"libjpeg: subsampling must be one of {', '.join(PIL_SUBSAMPLING)}; got {subsampling!r}")


def encode(image: np.ndarray, quality: int, subsampling: str = "4:4:4") -> bytes:
    """One (height, width, 3 or 1) float image in [0, 1] → JPEG file bytes."""
    _check(quality, subsampling)
    pixels = to_uint8(image)
    pil = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=int(quality), subsampling=PIL_SUBSAMPLING[subsampling])
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    """JPEG bytes → (height, width, channels) float32 image in [0, 1]."""
    pixels = np.asarray(Image.open(io.BytesIO(data)))
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return pixels.astype(np.float32) / 255.0


def roundtrip(
    images: np.ndarray, quality: int | Sequence[int] = 50, subsampling: str = "4:4:4"
) -> np.ndarray:
    """Compresses and decompresses float images with libjpeg.

    Args:
        images: (height, width, channels) or (batch, height, width, channels) floats in
            [0, 1], with 3 (RGB) or 1 (grey) channels.
        quality: an integer 1..100, or one per image.
        subsampling: "4:4:4", "4:2:2" or "4:2:0" (ignored for grey images).

    Returns:
        float32 images of the same shape, multiples of 1/255.
    """
    images = np.asarray(images)
    single = images.ndim == 3
    batch = images[None] if single else images
    qualities = np.broadcast_to(np.asarray(quality), (len(batch),))
    out = np.stack([decode(encode(img, q.item(), subsampling)) for img, q in zip(batch, qualities)])
    return out[0] if single else out

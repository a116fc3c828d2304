"""PNG files of developed photos: 8-bit through imageio, 16-bit RGB through `png16`.

Read them back with `imageio.v3.imread` (8-bit) or any 16-bit PNG reader (Pillow, and so
imageio, reduces 16-bit RGB to 8 bits).

Example:
    >>> write_png("target/IMG_1.png", rgb)  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np

from nipkit.data.png16 import encode_rgb16_png
from nipkit.files import atomic_write

__all__ = ["encode_png", "write_png"]


def encode_png(rgb: np.ndarray) -> bytes:
    """Encodes uint8 or uint16 (h, w, 3) RGB as PNG bytes.

    Args:
        rgb: the image; uint16 keeps all 16 bits.
    """
    if rgb.dtype == np.uint16:
        return encode_rgb16_png(rgb)
    if rgb.dtype != np.uint8:
        raise ValueError(f"PNG pixels must be uint8 or uint16; got {rgb.dtype}")
    return iio.imwrite("<bytes>", rgb, extension=".png")


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    """Writes `rgb` as a PNG file atomically (see `encode_png`).

    Args:
        path: the file.
        rgb: uint8 or uint16 (h, w, 3) pixels.
    """
    data = encode_png(rgb)
    atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))


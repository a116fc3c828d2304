"""A 16-bit RGB PNG encoder, for what imageio cannot write.

imageio writes PNG through Pillow, which has no 16-bit RGB mode ("Cannot handle this data
type: (1, 1, 3), <u2"). This writes the three chunks such a PNG needs by hand: IHDR
(bit depth 16, colour type 2), one zlib-compressed IDAT with filter 1 ("Sub") on every
scanline, and IEND.

Example:
    >>> data = encode_rgb16_png(np.zeros((2, 3, 3), np.uint16))
    >>> data[:8], len(data) > 40
    (b'\\x89PNG\\r\\n\\x1a\\n', True)
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

__all__ = ["encode_rgb16_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BYTES_PER_PIXEL = 6  # three big-endian 16-bit samples


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_rgb16_png(rgb: np.ndarray, level: int = 6) -> bytes:
    """Encodes uint16 (h, w, 3) RGB as PNG bytes.

    Args:
        rgb: the image.
        level: zlib compression level, 0-9.
    """
    if rgb.dtype != np.uint16 or rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"a 16-bit RGB PNG needs uint16 (h, w, 3) pixels; got {rgb.dtype} {rgb.shape}")
    height, width, _ = rgb.shape
    rows = np.ascontiguousarray(rgb, dtype=">u2").reshape(height, -1).view(np.uint8)
    filtered = rows.copy()
    filtered[:, _BYTES_PER_PIXEL:] -= rows[:, :-_BYTES_PER_PIXEL]  # "Sub": each byte minus its left neighbour's, mod 256
    scanlines = np.concatenate([np.ones((height, 1), np.uint8), filtered], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), level)) + _chunk(b"IEND", b"")

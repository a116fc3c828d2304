"""libjpeg's "islow" integer DCT and inverse DCT on 8×8 blocks of planar images.

Both work on integers carried in float32 and are exact on any hardware (see
`nipkit.ops.integer_matmul`). The forward transform gives 8 × the orthonormal DCT-II of
each block, as libjpeg does; quantisation steps are therefore 8 × the table entries.

Example:
    >>> import numpy as np
    >>> flat = np.full((1, 1, 8, 8), 10.0, "float32")
    >>> coefficients = np.asarray(forward_dct(flat))
    >>> coefficients.shape, float(coefficients[0, 0, 0, 0, 0, 0])  # DC = 8 · 8 · 10
    ((1, 1, 1, 1, 8, 8), 640.0)
    >>> np.asarray(inverse_dct(coefficients / 8.0, flat.shape))[0, 0, 0, :3].tolist()
    [138.0, 138.0, 138.0]
"""
from __future__ import annotations

from keras import ops

from nipkit.ops.integer_matmul import fixed_point_matmul
from nipkit.ops.jpeg_tables import FDCT_SHIFTS, IDCT_SHIFTS, ISLOW_FORWARD, ISLOW_INVERSE
from nipkit.ops.rounding import clip_ste

__all__ = ["forward_dct", "inverse_dct"]


def forward_dct(planes):
    """8 × the DCT-II of every 8×8 block, in libjpeg's "islow" fixed point.

    Args:
        planes: (batch, channels, height, width) level-shifted 8-bit values (−128…127),
            height and width multiples of 8.

    Returns:
        (batch, channels, height/8, width/8, 8u, 8v) coefficients, u horizontal.
    """
    _, channels, height, width = ops.shape(planes)
    rows = fixed_point_matmul(planes, ISLOW_FORWARD, FDCT_SHIFTS[0], input_bits=8)
    blocks = ops.reshape(rows, (-1, channels, height // 8, 8, width // 8, 8))
    blocks = ops.transpose(blocks, (0, 1, 2, 4, 5, 3))
    return fixed_point_matmul(blocks, ISLOW_FORWARD, FDCT_SHIFTS[1])


def inverse_dct(coefficients, shape):
    """De-quantised coefficients back to 8-bit planes (level shift undone, clipped to 0…255).

    Args:
        coefficients: (batch, channels, height/8, width/8, 8u, 8v), as `forward_dct`
            gives them divided by 8 (i.e. on the orthonormal DCT scale).
        shape: (batch, channels, height, width) of the planes to return.
    """
    _, channels, height, width = shape
    columns = fixed_point_matmul(coefficients, ISLOW_INVERSE, IDCT_SHIFTS[0])
    planes = ops.reshape(ops.transpose(columns, (0, 1, 2, 5, 3, 4)), (-1, channels, height, width))
    planes = fixed_point_matmul(planes, ISLOW_INVERSE, IDCT_SHIFTS[1])
    return clip_ste(planes + 128.0, 0.0, 255.0)

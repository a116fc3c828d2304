"""Bayer colour filter arrays (CFA): where each sample of a RAW stack sits, in plain numpy.

A RAW stack is (h/2, w/2, 4) in the canonical order R, Gr (green on a red row),
Gb (green on a blue row), B; the CFA name (`rggb`, `grbg`, `gbrg`, `bggr`) reads the
2×2 tile row by row and says where each of the four samples sits in the full-resolution
mosaic. This module imports neither Keras nor TensorFlow.

Example:
    >>> sample_positions("grbg")
    ((0, 1), (0, 0), (1, 1), (1, 0))
    >>> bayer = np.arange(16.0).reshape(4, 4)
    >>> np.array_equal(stack_to_bayer(bayer_to_stack(bayer, "bggr"), "bggr"), bayer)
    True
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = [
    "CFA_PATTERNS",
    "CANONICAL_COLOURS",
    "check_cfa",
    "sample_positions",
    "bayer_to_stack",
    "stack_to_bayer",
    "placement_kernel",
    "bilinear_kernel",
    "check_raw_stack_shape",
]

CFA_PATTERNS = ("rggb", "grbg", "gbrg", "bggr")
# Colour (0 = R, 1 = G, 2 = B) of each canonical stack channel R, Gr, Gb, B.
CANONICAL_COLOURS = (0, 1, 1, 2)


def check_cfa(cfa: str) -> str:
    """Returns the CFA name in lower case; raises ValueError for anything else.

    Args:
        cfa: one of `rggb`, `grbg`, `gbrg`, `bggr` (any case).
    """
    name = cfa.lower() if isinstance(cfa, str) else cfa
    if name not in CFA_PATTERNS:
        raise ValueError(f"cfa must be one of {', '.join(CFA_PATTERNS)}; got {cfa!r}")
    return name


def sample_positions(cfa: str) -> tuple[tuple[int, int], ...]:
    """(row, col) inside the 2×2 tile of the R, Gr, Gb and B samples, in that order.

    Args:
        cfa: the CFA name.
    """
    tile = check_cfa(cfa)
    where = {(r, c): tile[2 * r + c] for r in (0, 1) for c in (0, 1)}
    red = next(pos for pos, colour in where.items() if colour == "r")
    blue = next(pos for pos, colour in where.items() if colour == "b")
    greens = [pos for pos, colour in where.items() if colour == "g"]
    green_red_row = next(pos for pos in greens if pos[0] == red[0])
    green_blue_row = next(pos for pos in greens if pos[0] == blue[0])
    return red, green_red_row, green_blue_row, blue


def bayer_to_stack(bayer: np.ndarray, cfa: str) -> np.ndarray:
    """Splits a full-resolution mosaic (h, w) into the canonical stack (h//2, w//2, 4).

    Odd sides lose their last row or column.

    Args:
        bayer: the mosaic.
        cfa: the CFA of the mosaic's top-left 2×2 tile.
    """
    bayer = np.asarray(bayer)
    if bayer.ndim != 2 or min(bayer.shape) < 2:
        raise ValueError(f"a Bayer mosaic must be 2-D with sides of at least 2; got shape {bayer.shape}")
    height, width = (bayer.shape[0] // 2) * 2, (bayer.shape[1] // 2) * 2
    return np.stack([bayer[r:height:2, c:width:2] for r, c in sample_positions(cfa)], axis=-1)


def stack_to_bayer(stack: np.ndarray, cfa: str) -> np.ndarray:
    """Interleaves a canonical stack (h/2, w/2, 4) back into the mosaic (h, w).

    Args:
        stack: the RAW stack, channels R, Gr, Gb, B.
        cfa: the CFA name.
    """
    stack = np.asarray(stack)
    if stack.ndim != 3 or stack.shape[-1] != 4:
        raise ValueError(f"a RAW stack must have shape (h/2, w/2, 4); got {stack.shape}")
    bayer = np.empty((2 * stack.shape[0], 2 * stack.shape[1]), dtype=stack.dtype)
    for channel, (r, c) in enumerate(sample_positions(cfa)):
        bayer[r::2, c::2] = stack[..., channel]
    return bayer


def placement_kernel(cfa: str) -> np.ndarray:
    """1×1 convolution kernel (1, 1, 4, 12) that, followed by depth-to-space(2), puts each
    stack sample at its CFA position and colour in a sparse (h, w, 3) RGB mosaic.

    Depth-to-space reads channel `(2 * row + col) * 3 + colour` into tile position
    (row, col), colour `colour`.

    Args:
        cfa: the CFA name.
    """
    kernel = np.zeros((1, 1, 4, 12), dtype=np.float32)
    for channel, (r, c) in enumerate(sample_positions(cfa)):
        kernel[0, 0, channel, (2 * r + c) * 3 + CANONICAL_COLOURS[channel]] = 1.0
    return kernel


def bilinear_kernel(size: int = 3) -> np.ndarray:
    """Convolution kernel (size, size, 3, 3) of bilinear demosaicing of a sparse RGB mosaic.

    Red and blue (one sample per 2×2 tile) use [[1,2,1],[2,4,2],[1,2,1]]/4, green (two per
    tile) uses [[0,1,0],[1,4,1],[0,1,0]]/4; channels do not mix. A larger odd `size`
    zero-pads the 3×3 filters (a trainable layer initialised with them can then grow).

    Args:
        size: odd kernel side, at least 3.
    """
    if size < 3 or size % 2 == 0:
        raise ValueError(f"bilinear kernel size must be odd and >= 3; got {size}")
    red_blue = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float32) / 4
    green = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], dtype=np.float32) / 4
    kernel = np.zeros((size, size, 3, 3), dtype=np.float32)
    lo = size // 2 - 1
    for colour, taps in enumerate((red_blue, green, red_blue)):
        kernel[lo : lo + 3, lo : lo + 3, colour, colour] = taps
    return kernel


def check_raw_stack_shape(
    model: str,
    input_shape: Sequence[int | None],
    *,
    channels: int = 4,
    multiple: int = 1,
    min_size: int = 1,
) -> None:
    """Raises ValueError unless `input_shape` is (batch, h, w, channels) with h and w (where
    known) multiples of `multiple` and at least `min_size`.

    Args:
        model: the model's name, for the message.
        input_shape: the shape the model is built for, batch included.
        channels: the required channel count (4 for a RAW stack, 3 for RGB).
        multiple: the multiple h and w must be.
        min_size: the smallest h and w allowed.
    """
    shape = tuple(input_shape)
    what = "RAW stack (batch, h/2, w/2, 4)" if channels == 4 else f"(batch, h, w, {channels})"
    if len(shape) != 4 or shape[-1] != channels:
        raise ValueError(f"{model} expects a {what} input; got shape {shape}")
    for side in shape[1:3]:
        if side is None:
            continue
        if side % multiple or side < min_size:
            raise ValueError(
                f"{model} needs spatial sizes that are multiples of {multiple} and at least "
                f"{max(min_size, multiple)}; got {shape[1]}×{shape[2]} in shape {shape}"
            )

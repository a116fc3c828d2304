"""Flips and quarter turns of an aligned (RAW stack, target) patch that keep the CFA.

Turning or flipping a Bayer mosaic moves its colours: a horizontally flipped RGGB tile
reads GRBG. So each of the 8 transforms of the square (`DIHEDRAL`) is applied to the
window one pixel further right and/or down where needed, chosen so that the transformed
mosaic has the CFA of the dataset again, and the RAW patch is still the CFA's sampling of
the target patch. In plain numpy; used by the training patches (`augment: dihedral`).

Example:
    >>> stack = np.zeros((5, 5, 4), "float32"); rgb = np.zeros((10, 10, 3), "float32")
    >>> raw, target = dihedral_pair(stack, rgb, "rggb", 5)
    >>> raw.shape, target.shape
    ((4, 4, 4), (8, 8, 3))
"""
from __future__ import annotations

import functools

import numpy as np

from nipkit.cfa import bayer_to_stack, check_cfa, stack_to_bayer

__all__ = ["DIHEDRAL", "transform", "cfa_offset", "dihedral_pair"]

DIHEDRAL = 8  # transforms of the square: k quarter turns (k % 4), then a flip for k >= 4


def transform(image: np.ndarray, k: int) -> np.ndarray:
    """`image` (h, w, ...) turned by k % 4 quarter turns, then flipped left-right if k >= 4."""
    if not 0 <= k < DIHEDRAL:
        raise ValueError(f"k must be an integer from 0 to {DIHEDRAL - 1}; got {k!r}")
    turned = np.rot90(image, k % 4, axes=(0, 1))
    return np.flip(turned, axis=1) if k >= 4 else turned


def _colours(cfa: str, height: int, width: int) -> np.ndarray:
    tile = np.array([[check_cfa(cfa)[2 * r + c] for c in (0, 1)] for r in (0, 1)])
    return np.tile(tile, (height // 2, width // 2))


@functools.lru_cache(maxsize=None)  # 4 CFAs × 8 transforms, asked for every training patch
def cfa_offset(cfa: str, k: int) -> tuple[int, int]:
    """(down, right): the shift of the window, 0 or 1 px each, after which `transform(·, k)` keeps `cfa`.

    Raises:
        ValueError: a bad CFA or k.
    """
    colours = _colours(cfa, 6, 6)
    for down in (0, 1):
        for right in (0, 1):
            # parity is all that matters, so a 4×4 window stands for any even size
            if np.array_equal(transform(colours[down:down + 4, right:right + 4], k), colours[:4, :4]):
                return down, right
    raise AssertionError(f"no shift keeps {cfa} under transform {k}")  # every Bayer CFA has one


def dihedral_pair(stack: np.ndarray, rgb: np.ndarray, cfa: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Transform k of a patch, its RAW still the CFA's sampling of its target.

    Args:
        stack: the RAW stack (p/2 + 1, p/2 + 1, 4) of a (p + 2)² window at even pixels.
        rgb: the target (p + 2, p + 2, 3) of the same window.
        cfa: the dataset's CFA.
        k: which transform, 0 (none) to 7.

    Returns:
        (RAW stack (p/2, p/2, 4), target (p, p, 3)): the p² window at `cfa_offset(cfa, k)`,
        transformed.
    """
    size = rgb.shape[0] - 2
    down, right = cfa_offset(cfa, k)
    mosaic = stack_to_bayer(stack, cfa)[down:down + size, right:right + size]
    target = rgb[down:down + size, right:right + size]
    return bayer_to_stack(transform(mosaic, k), cfa), np.ascontiguousarray(transform(target, k))

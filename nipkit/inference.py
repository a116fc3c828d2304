"""Developing whole RAW photos with a trained NIP, tile by tile.

A photo of any size is cut into overlapping windows of its RAW stack; each window is
developed on its own and only its centre is kept, so every output pixel comes from a
window that saw at least `overlap / 2` pixels of context on each side (except at the
photo's own borders, where the model's border handling applies as it would for the whole
photo). Memory use depends on the tile size, not the photo's.

Example:
    >>> nip = nipkit.load_model("runs/inet/best.keras")  # doctest: +SKIP
    >>> rgb = develop_raw(nip, read_raw("DSC_0001.NEF"), tile=512)  # doctest: +SKIP
    >>> rgb.shape, rgb.dtype  # doctest: +SKIP
    ((2868, 4300, 3), dtype('float32'))
"""
from __future__ import annotations

import keras
import numpy as np

from nipkit.data.raw import RawImage

__all__ = ["develop_raw", "check_tiling", "tile_windows"]


def tile_windows(length: int, window: int, margin: int) -> list[tuple[int, int, int]]:
    """Windows covering [0, length) along one axis.

    Args:
        length: the axis length.
        window: the window length (<= length).
        margin: how much of each window's inner sides is discarded.

    Returns:
        (start, keep_from, keep_to) per window: the window is [start, start + window) and
        supplies output [keep_from, keep_to); the kept parts tile [0, length) exactly.
    """
    if window >= length:
        return [(0, 0, length)]
    step = window - 2 * margin
    starts = list(range(0, length - window, step)) + [length - window]
    spans = []
    kept = 0
    for i, start in enumerate(starts):
        end = length if i == len(starts) - 1 else start + window - margin
        spans.append((start, kept, end))
        kept = end
    return spans


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _develop_window(model: keras.Model, stack: np.ndarray, multiple: int) -> np.ndarray:
    """Develops one window, reflect-padding its end to the model's input multiple."""
    height, width = stack.shape[:2]
    pad_h, pad_w = _round_up(height, multiple) - height, _round_up(width, multiple) - width
    if pad_h or pad_w:
        stack = np.pad(stack, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect" if min(height, width) > 1 else "edge")
    output = model(stack[None], training=False)
    output = np.asarray(keras.ops.convert_to_numpy(output), dtype=np.float32)[0]
    return output[: 2 * height, : 2 * width]


def check_tiling(model: keras.Model, tile: int, overlap: int) -> int:
    """Raises ValueError unless `tile` and `overlap` suit `model`; returns its input multiple."""
    multiple = int(getattr(model, "input_multiple", 1))
    if tile <= 0 or tile % (2 * multiple):
        raise ValueError(f"tile must be a positive multiple of {2 * multiple} for this model, got {tile}")
    if overlap < 0 or overlap % 4 or overlap >= tile:
        raise ValueError(f"overlap must be a multiple of 4 in [0, tile), got {overlap}")
    return multiple


def develop_raw(model: keras.Model, raw_image: RawImage | np.ndarray, tile: int = 512, overlap: int = 64) -> np.ndarray:
    """Develops a full RAW photo with a NIP, in overlapping tiles.

    Args:
        model: a NIP taking (batch, h/2, w/2, 4) RAW stacks (its `input_multiple`, if
            any, is honoured).
        raw_image: a `RawImage` (from `nipkit.data.read_raw`) or its (h/2, w/2, 4)
            float32 RAW stack.
        tile: the side of a tile in output (RGB) pixels, at most; a positive multiple of
            2 × the model's input multiple.
        overlap: output pixels shared by neighbouring tiles (half of it is context
            discarded on each side); a multiple of 4 smaller than `tile`.

    Returns:
        float32 (h, w, 3) RGB in [0, 1].
    """
    stack = raw_image.bayer if isinstance(raw_image, RawImage) else np.asarray(raw_image, dtype=np.float32)
    if stack.ndim != 3 or stack.shape[-1] != 4:
        raise ValueError(f"develop_raw: expected a (h/2, w/2, 4) RAW stack, got shape {stack.shape}")
    multiple = check_tiling(model, tile, overlap)
    window, margin = tile // 2, overlap // 4
    height, width = stack.shape[:2]
    output = np.empty((2 * height, 2 * width, 3), dtype=np.float32)
    for top, row_from, row_to in tile_windows(height, window, margin):
        for left, col_from, col_to in tile_windows(width, window, margin):
            part = _develop_window(model, stack[top : top + window, left : left + window], multiple)
            rows = slice(2 * (row_from - top), 2 * (row_to - top))
            cols = slice(2 * (col_from - left), 2 * (col_to - left))
            output[2 * row_from : 2 * row_to, 2 * col_from : 2 * col_to] = part[rows, cols]
    return np.clip(output, 0.0, 1.0)

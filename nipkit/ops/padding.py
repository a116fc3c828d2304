"""Edge padding to a block multiple, as libjpeg pads partial blocks (`keras.ops`).

Example:
    >>> import numpy as np
    >>> x = np.arange(3.0, dtype="float32").reshape(1, 3)
    >>> ops.convert_to_numpy(pad_edge(x, 1, 3, round_up(3, 4))).tolist()
    [[0.0, 1.0, 2.0, 2.0]]
"""
from __future__ import annotations

from keras import ops

__all__ = ["round_up", "pad_edge"]


def round_up(size, multiple: int):
    """The smallest multiple of `multiple` that is ≥ `size` (ints or scalar tensors)."""
    return (size + multiple - 1) // multiple * multiple


def pad_edge(planes, axis: int, size, target):
    """Extends `axis` from `size` to `target` by repeating the last row/column."""
    if isinstance(size, int) and isinstance(target, int) and size == target:
        return planes
    index = ops.minimum(ops.arange(target), size - 1)
    return ops.take(planes, index, axis=axis)

"""Fixed-point matrix products on integers carried in float32, exact on any hardware.

libjpeg's integer DCTs are `(x @ Mᵀ + 2^(n−1)) >> n` with 14-bit constants in M. Done as
one float32 matmul this is exact on CPUs only: NVIDIA GPUs run float32 matmuls in
TensorFloat-32 by default (TensorFlow and JAX), rounding each operand to 11 significant
bits (10 stored mantissa bits) before multiplying, and sums above 2^24 lose integers in
any float32 product. So both operands are split into parts of at most 8 significant
bits, x = 2^8·x_hi + x_lo and M = 2^7·M_hi + M_lo, whose products TF32 computes exactly;
the sums x·M_hi and x·M_lo stay below 2^24 and are shifted in exact elementwise steps.

Splitting x doubles the matmul work, and CPUs compute float32 matmuls exactly, so x is
split only where matmuls may round: when the backend sees a GPU or TPU
(`matmuls_may_round`), or always when `SPLIT_INPUTS` is set to True. `matmul` is the one
matrix product these transforms use; a test substitutes a product that rounds its
operands as TF32 does.

Example:
    >>> import numpy as np
    >>> x = np.array([[1000.0, -3.0]], "float32")
    >>> m = np.array([[11363, 8192], [-1, 3]])
    >>> np.asarray(fixed_point_matmul(x, m, shift=8)).tolist()  # (x @ m.T + 128) >> 8
    [[44291.0, -4.0]]
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from nipkit.ops.rounding import straight_through

__all__ = ["PART_BITS", "SPLIT_INPUTS", "matmul", "matmuls_may_round", "split_integers", "fixed_point_matmul"]

PART_BITS = 8
"""Significant bits of every matmul operand: exact in TF32 (11) and bfloat16 (8)."""

SPLIT_INPUTS: bool | None = None
"""Whether `fixed_point_matmul` splits x too: None decides by `matmuls_may_round()`."""

_X_LOW, _M_LOW = 8, 7  # the low parts of x and M take 8 and 7 bits


def matmul(x, y):
    """The matrix product of the integer transforms: `keras.ops.matmul`."""
    return ops.matmul(x, y)


def matmuls_may_round() -> bool:
    """Whether float32 matmuls may run where they round operands: a GPU or TPU is visible.

    Decided when a layer is traced; CPUs multiply float32 exactly.
    """
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return any(tf.config.list_logical_devices(kind) for kind in ("GPU", "TPU"))
    if backend == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return True


def split_integers(matrix: np.ndarray, low_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(high, low) with matrix = 2^low_bits · high + low and 0 ≤ low < 2^low_bits.

    Raises:
        ValueError: `high` would need more than PART_BITS significant bits.
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    high = np.floor_divide(matrix, 1 << low_bits)
    low = matrix - (high << low_bits)
    if np.abs(high).max(initial=0) >= 1 << PART_BITS:
        raise ValueError(f"integer matrix entries must be below 2^{PART_BITS + low_bits} in magnitude")
    return high, low


def fixed_point_matmul(x, matrix: np.ndarray, shift: int, input_bits: int | None = None):
    """(v @ Mᵀ + 2^(shift−1)) >> shift for every run v of n consecutive values along the
    last axis of integer-valued float32 `x` (M is n × n; the axis a multiple of n).

    Exact whatever precision the matmul runs at, provided |x| < 2^16 and the true sums
    x @ Mᵀ / 2^7 stay below 2^24. The gradient is that of x @ Mᵀ / 2^shift.

    Args:
        x: integer-valued float32 tensor.
        matrix: square integer NumPy matrix, entries below 2^15 in magnitude.
        shift: the right shift, at least 8.
        input_bits: a bound on |x| in bits, when known; x is not split when it fits in
            PART_BITS bits (nor on CPUs, see `SPLIT_INPUTS`).

    Returns:
        A float32 tensor of x's shape.
    """
    rows, columns = matrix.shape
    if rows != columns:
        raise ValueError(f"fixed_point_matmul: the matrix must be square; got {matrix.shape}")
    high_m, low_m = split_integers(matrix, _M_LOW)
    shape = ops.shape(x)
    flat = ops.reshape(x, (-1, columns))
    half = float(1 << (shift - 1))
    weights = ops.convert_to_tensor(np.concatenate([high_m.T, low_m.T], axis=1).astype("float32"))
    small = input_bits is not None and input_bits <= PART_BITS
    split = SPLIT_INPUTS if SPLIT_INPUTS is not None else matmuls_may_round()
    if small or not split:
        both = matmul(flat, weights)  # [x·M_hi | x·M_lo]
        high, low = both[:, :rows], both[:, rows:]
    else:
        # x = 2^8·x_hi + x_lo; two matmuls beat one of the stacked parts on CPUs.
        x_high = ops.stop_gradient(ops.floor(flat / float(1 << _X_LOW)))
        x_low = flat - float(1 << _X_LOW) * x_high
        top, bottom = matmul(x_high, weights), matmul(x_low, weights)
        high = float(1 << _X_LOW) * top[:, :rows] + bottom[:, :rows]
        low = float(1 << _X_LOW) * top[:, rows:] + bottom[:, rows:]
    total = 128.0 * high + low
    # (2^7·high + low + half) >> shift = (high + ((low + half) >> 7)) >> (shift − 7), exactly.
    exact = ops.floor((high + ops.floor((low + half) / 128.0)) / float(1 << (shift - 7)))
    out = straight_through(exact, total / float(1 << shift))
    return ops.reshape(out, shape)

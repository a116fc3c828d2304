"""JPEG constants: IJG quantisation tables with quality scaling, and libjpeg's fixed-point facts.

Quantisation (ITU-T T.81 Annex K, scaled as the IJG library does): a quality q in 1..100
gives a scale s = 5000 / q (integer division) for q < 50, else 200 − 2q, and each table
entry becomes floor((t · s + 50) / 100) clipped to [1, 255] (baseline JPEG).
`quantization_tables` does the same with `keras.ops` for a per-image quality tensor, with
straight-through gradients on every integer step, so the tables carry a gradient w.r.t.
a continuous quality.

Integer transforms: libjpeg's default "islow" DCT and inverse DCT (the Loeffler–Ligtenberg–
Moschytz factorisation with 13-bit constants) are linear maps with integer coefficients
followed by a rounding right-shift after each 1D pass. `ISLOW_FORWARD` and
`ISLOW_INVERSE` hold those integer matrices, built here from the factorisation, scaled so
that every output is `(M @ x + 2^(n−1)) >> n` with the shifts in `FDCT_SHIFTS` and
`IDCT_SHIFTS` (rows then columns for the forward DCT, columns then rows for the inverse).

Example:
    >>> quantization_table(LUMINANCE_TABLE, 50)[0, :4].tolist()
    [16, 11, 10, 16]
    >>> quantization_table(LUMINANCE_TABLE, 90)[0, :4].tolist()
    [3, 2, 2, 3]
"""
from __future__ import annotations

from typing import Any

import numpy as np
from keras import ops

from nipkit.ops.rounding import floor_ste, round_ste

__all__ = [
    "LUMINANCE_TABLE",
    "CHROMINANCE_TABLE",
    "check_quality",
    "quality_scale",
    "quantization_table",
    "quantization_tables",
    "ISLOW_FORWARD",
    "ISLOW_INVERSE",
    "FDCT_SHIFTS",
    "IDCT_SHIFTS",
    "RGB_TO_YCBCR_FIXED",
    "YCBCR_TO_RGB_FIXED",
]

LUMINANCE_TABLE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.int64,
)
CHROMINANCE_TABLE = np.full((8, 8), 99, dtype=np.int64)
CHROMINANCE_TABLE[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


def check_quality(quality, component: str) -> int:
    """Returns `quality` as an int if it is a whole number in 1..100, else raises ValueError."""
    ok = not isinstance(quality, bool) and isinstance(quality, (int, float, np.integer, np.floating))
    if not ok or not np.isfinite(quality) or quality != int(quality) or not 1 <= quality <= 100:
        raise ValueError(f"{component}: quality must be an integer from 1 to 100; got {quality!r}")
    return int(quality)


def quality_scale(quality: int) -> int:
    """The IJG percentage scale of the base tables for an integer quality in 1..100."""
    return 5000 // quality if quality < 50 else 200 - 2 * quality


def quantization_table(base: np.ndarray, quality: int) -> np.ndarray:
    """The (8, 8) integer table libjpeg uses at `quality` (baseline: entries in 1..255)."""
    return np.clip((base * quality_scale(quality) + 50) // 100, 1, 255)


def quantization_tables(quality, base: np.ndarray):
    """Per-image tables for a quality tensor, differentiable w.r.t. a continuous quality.

    The forward pass equals `quantization_table(base, round(q))` for each image; the
    gradient is that of the continuous scaling s(q) = 5000 / q (q < 50) or 200 − 2q and
    entry t · s / 100, the integer steps being straight-through (clipping is not).

    Args:
        quality: a (batch,) float tensor, values in [1, 100] (clipped there).
        base: one of `LUMINANCE_TABLE`, `CHROMINANCE_TABLE`.

    Returns:
        A (batch, 8, 8) float32 tensor.
    """
    q = round_ste(ops.clip(ops.cast(quality, "float32"), 1.0, 100.0))
    # Integer divisions n // d as floor((n + 0.5) / d): exact even as a reciprocal multiply.
    scale = ops.where(q < 50.0, floor_ste(5000.5 / q), 200.0 - 2.0 * q)
    entries = floor_ste((ops.convert_to_tensor(base.astype("float32")) * scale[:, None, None] + 50.5) / 100.0)
    return ops.clip(entries, 1.0, 255.0)


def _fixed(value: float, bits: int) -> int:
    """libjpeg's FIX(): the nearest integer to value · 2^bits."""
    return int(value * (1 << bits) + 0.5)


_CONST_BITS = 13
_C = [np.cos(k * np.pi / 16) for k in range(8)]
_R2 = np.sqrt(2.0)
# The LLM rotation constants, sqrt(2)·(sums of cos(kπ/16)), in 13-bit fixed point.
_K = {
    "rot6": _fixed(_R2 * _C[6], _CONST_BITS),
    "rot2m6": _fixed(_R2 * (_C[2] - _C[6]), _CONST_BITS),
    "rot2p6": _fixed(_R2 * (_C[2] + _C[6]), _CONST_BITS),
    "rot3": _fixed(_R2 * _C[3], _CONST_BITS),
    "odd7": _fixed(_R2 * (-_C[1] + _C[3] + _C[5] - _C[7]), _CONST_BITS),
    "odd5": _fixed(_R2 * (_C[1] + _C[3] - _C[5] + _C[7]), _CONST_BITS),
    "odd3": _fixed(_R2 * (_C[1] + _C[3] + _C[5] - _C[7]), _CONST_BITS),
    "odd1": _fixed(_R2 * (_C[1] + _C[3] - _C[5] - _C[7]), _CONST_BITS),
    "z1": _fixed(_R2 * (_C[3] - _C[7]), _CONST_BITS),
    "z2": _fixed(_R2 * (_C[1] + _C[3]), _CONST_BITS),
    "z3": _fixed(_R2 * (_C[3] + _C[5]), _CONST_BITS),
    "z4": _fixed(_R2 * (_C[3] - _C[5]), _CONST_BITS),
}


def _odd_part(t4, t5, t6, t7):
    """The shared odd half of the LLM butterfly; returns the outputs for rows 7, 5, 3, 1."""
    z1, z2, z3, z4 = t4 + t7, t5 + t6, t4 + t6, t5 + t7
    z5 = (z3 + z4) * _K["rot3"]
    z1, z2 = -z1 * _K["z1"], -z2 * _K["z2"]
    z3, z4 = -z3 * _K["z3"] + z5, -z4 * _K["z4"] + z5
    return (t4 * _K["odd7"] + z1 + z3, t5 * _K["odd5"] + z2 + z4, t6 * _K["odd3"] + z2 + z3, t7 * _K["odd1"] + z1 + z4)


def _islow_forward() -> np.ndarray:
    d = np.eye(8, dtype=np.int64)
    t0, t1, t2, t3 = d[0] + d[7], d[1] + d[6], d[2] + d[5], d[3] + d[4]
    t7, t6, t5, t4 = d[0] - d[7], d[1] - d[6], d[2] - d[5], d[3] - d[4]
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    rows: list[Any] = [None] * 8
    # The DC and row 4 are exact; scaling them by 2^13 lets one shift rule cover all rows.
    rows[0], rows[4] = (t10 + t11) << _CONST_BITS, (t10 - t11) << _CONST_BITS
    z1 = (t12 + t13) * _K["rot6"]
    rows[2], rows[6] = z1 + t13 * _K["rot2m6"], z1 - t12 * _K["rot2p6"]
    rows[7], rows[5], rows[3], rows[1] = _odd_part(t4, t5, t6, t7)
    return np.stack(rows)


def _islow_inverse() -> np.ndarray:
    e = np.eye(8, dtype=np.int64)
    z1 = (e[2] + e[6]) * _K["rot6"]
    t2, t3 = z1 - e[6] * _K["rot2p6"], z1 + e[2] * _K["rot2m6"]
    t0, t1 = (e[0] + e[4]) << _CONST_BITS, (e[0] - e[4]) << _CONST_BITS
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    o7, o5, o3, o1 = _odd_part(e[7], e[5], e[3], e[1])
    return np.stack([t10 + o1, t11 + o3, t12 + o5, t13 + o7, t13 - o7, t12 - o5, t11 - o3, t10 - o1])


ISLOW_FORWARD = _islow_forward()
ISLOW_INVERSE = _islow_inverse()
# Forward: rows keep 2 extra bits (>> 11), columns drop them (>> 15); output = 8 × DCT-II.
FDCT_SHIFTS = (11, 15)
# Inverse of de-quantised coefficients: columns >> 11, rows >> 18, then + 128.
IDCT_SHIFTS = (11, 18)

# JFIF colour conversion in libjpeg's 16-bit fixed point: rows Y, Cb, Cr of R, G, B weights.
_JFIF = [(0.299, 0.587, 0.114), (-0.16874, -0.33126, 0.5), (0.5, -0.41869, -0.08131)]
RGB_TO_YCBCR_FIXED = np.array([[int(np.sign(c)) * _fixed(abs(c), 16) for c in row] for row in _JFIF], dtype=np.int64)
# Cr→R, Cb→G, Cr→G, Cb→B weights (applied to Cb − 128, Cr − 128).
YCBCR_TO_RGB_FIXED = {
    "r_cr": _fixed(1.402, 16),
    "g_cb": -_fixed(0.34414, 16),
    "g_cr": -_fixed(0.71414, 16),
    "b_cb": _fixed(1.772, 16),
}

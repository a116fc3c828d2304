"""Rounding, its differentiable approximations and straight-through helpers (`keras.ops`).

Hard rounding has a zero gradient almost everywhere; the approximations below keep a
useful one (Korus & Memon 2019, section 3.2):

- ``"round"``: hard rounding (no gradient).
- ``"ste"``: hard rounding forward, identity gradient backward (straight-through).
- ``"sin"``: x − sin(2πx) / 2π.
- ``"harmonic"``: x − Σ_{k=1..K} (−1)^{k+1} sin(2πkx) / (πk), the first K terms of the
  sawtooth's Fourier series (it tends to hard rounding as K grows).
- ``"cubic"``: round(x) + (x − round(x))³.
- ``"ste_sin"``: hard rounding forward, the gradient of ``"sin"`` backward,
  1 − cos(2πx): the forward pass is the real codec's while the gradient still says how
  far a value is from the rounding boundary.

`straight_through(value, surrogate)` is the general tool: it has `value` in the forward
pass and the gradient of `surrogate` in the backward pass.

Example:
    >>> import numpy as np
    >>> x = np.array([0.2, 0.5, 1.7], "float32")
    >>> ops.convert_to_numpy(approximate_round(x, "ste")).tolist()
    [0.0, 1.0, 2.0]
"""
from __future__ import annotations

import math

import numpy as np
from keras import ops

__all__ = [
    "ROUNDING_MODES",
    "straight_through",
    "round_half_away",
    "floor_ste",
    "round_ste",
    "clip_ste",
    "sin_cos_turns",
    "sin_round",
    "harmonic_round",
    "cubic_round",
    "ste_sin_round",
    "approximate_round",
    "check_rounding",
]

ROUNDING_MODES = ("round", "ste", "sin", "harmonic", "cubic", "ste_sin")


def straight_through(value, surrogate):
    """`value` in the forward pass, the gradient of `surrogate` in the backward pass.

    The forward result is `value` exactly: surrogate − stop(surrogate) is exactly 0.
    """
    return ops.stop_gradient(value) + (surrogate - ops.stop_gradient(surrogate))


def round_half_away(x):
    """Rounds to the nearest integer, halves away from zero (as C's `round` and libjpeg)."""
    return ops.sign(x) * ops.floor(ops.abs(x) + 0.5)


def floor_ste(x):
    """floor(x) forward, identity gradient."""
    return straight_through(ops.floor(x), x)


def round_ste(x):
    """Round half away from zero forward, identity gradient."""
    return straight_through(round_half_away(x), x)


def clip_ste(x, low: float, high: float):
    """clip(x, low, high) forward, identity gradient (also where x is out of range)."""
    return straight_through(ops.clip(x, low, high), x)


def _polynomial(u, coefficients):
    """Σ coefficients[i] · u^i by Horner's rule."""
    result = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        result = result * u + c
    return result


# Taylor coefficients in z² of sin(z)/z and cos(z); on |z| ≤ π/2 the error is below 1e-7.
_SIN_TERMS = [(-1) ** k / math.factorial(2 * k + 1) for k in range(6)]
_COS_TERMS = [(-1) ** k / math.factorial(2 * k) for k in range(7)]


def sin_cos_turns(x):
    """(sin(2πx), cos(2πx)) from polynomials of x − round(x), for any float x.

    Periodicity brings the angle to [−π, π] (so large x lose no accuracy); the half angle
    is evaluated by its Taylor series and doubled. Only multiplies and adds, which XLA
    fuses and vectorises (XLA's own sine is several times slower on CPUs).
    """
    half = math.pi * (x - ops.stop_gradient(ops.round(x)))
    u = half * half
    sin_half = half * _polynomial(u, _SIN_TERMS)
    cos_half = _polynomial(u, _COS_TERMS)
    return 2.0 * sin_half * cos_half, 1.0 - 2.0 * sin_half * sin_half


def _with_derivative(x, value, derivative):
    """`value` in the forward pass, `derivative` · dx in the backward pass.

    Used where the derivative falls out of the same computation as the value: the
    backward pass is then one multiply instead of the chain rule through every step.
    """
    return ops.stop_gradient(value) + (x - ops.stop_gradient(x)) * ops.stop_gradient(derivative)


def sin_round(x):
    """x − sin(2πx) / 2π: smooth, equal to x at integers and half-integers, flat at integers."""
    sin1, cos1 = sin_cos_turns(x)
    return _with_derivative(x, x - sin1 / (2.0 * math.pi), 1.0 - cos1)


def harmonic_round(x, terms: int = 5):
    """x − Σ_{k=1..terms} (−1)^{k+1} sin(2πkx) / (πk).

    The sines and cosines of the multiple angles come from the angle-addition recurrence,
    so one polynomial sine and cosine serve every term, value and derivative
    1 − 2 Σ (−1)^{k+1} cos(2πkx) alike.
    """
    sin1, cos1 = sin_cos_turns(x)
    sin_k, cos_k = sin1, cos1
    sawtooth, slope = sin1 / math.pi, 2.0 * cos1
    for k in range(2, terms + 1):
        sin_k, cos_k = sin_k * cos1 + cos_k * sin1, cos_k * cos1 - sin_k * sin1
        sign = (-1.0) ** (k + 1)
        sawtooth = sawtooth + (sign / (math.pi * k)) * sin_k
        slope = slope + (2.0 * sign) * cos_k
    return _with_derivative(x, x - sawtooth, 1.0 - slope)


def cubic_round(x, nearest=None):
    """round(x) + (x − round(x))³, with rounding half away from zero (or `nearest` if given)."""
    nearest = ops.stop_gradient(round_half_away(x) if nearest is None else nearest)
    return nearest + (x - nearest) ** 3


def ste_sin_round(x, nearest=None):
    """round(x) forward (half away from zero, or `nearest` if given), the gradient of
    x − sin(2πx) / 2π, 1 − cos(2πx), backward."""
    nearest = ops.stop_gradient(round_half_away(x) if nearest is None else nearest)
    return straight_through(nearest, sin_round(x))


def approximate_round(x, mode: str, harmonic_terms: int = 5, hard=None):
    """Rounds `x` with one of `ROUNDING_MODES`.

    Args:
        x: a float tensor.
        mode: one of `ROUNDING_MODES`.
        harmonic_terms: K, the number of sine terms of the "harmonic" mode.
        hard: the hard-rounded value of `x`, when the caller computes it more exactly
            than `round_half_away(x)` can (used by "round", "ste", "ste_sin" and "cubic").
    """
    if mode == "cubic":
        return cubic_round(x, hard)
    if mode == "ste_sin":
        return ste_sin_round(x, hard)
    if mode == "sin":
        return sin_round(x)
    if mode == "harmonic":
        return harmonic_round(x, harmonic_terms)
    if mode not in ("round", "ste"):
        raise ValueError(f"rounding must be one of {', '.join(ROUNDING_MODES)}; got {mode!r}")
    nearest = ops.stop_gradient(round_half_away(x) if hard is None else hard)
    return nearest if mode == "round" else straight_through(nearest, x)


def check_rounding(mode, harmonic_terms, component: str) -> tuple[str, int]:
    """Validates a rounding mode and its term count; raises ValueError naming `component`."""
    if mode not in ROUNDING_MODES:
        raise ValueError(f"{component}: rounding must be one of {', '.join(ROUNDING_MODES)}; got {mode!r}")
    if isinstance(harmonic_terms, bool) or not isinstance(harmonic_terms, (int, np.integer)) or harmonic_terms < 1:
        raise ValueError(f"{component}: harmonic_terms must be a positive integer; got {harmonic_terms!r}")
    return mode, int(harmonic_terms)

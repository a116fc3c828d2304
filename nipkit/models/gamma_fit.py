"""The toy model that initialises INet's gamma stage, fitted to the sRGB encoding curve.

The toy model maps one value through `hidden` tanh units and a linear read-out:
`y = sum_j a_j * tanh(w_j * x + b_j) + c`. INet runs one copy per colour channel (its
1×1 convolutions 3→12 and 12→3 are block-diagonal at initialisation). The constants below
came from `fit_srgb_toy()`; rerun `python -m nipkit.models.gamma_fit` to refit them.

Example:
    >>> params = fit_srgb_toy()  # doctest: +SKIP
    >>> float(np.max(np.abs(toy_gamma(x, SRGB_TOY) - srgb_encode(x))))  # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

__all__ = ["SRGB_TOY", "srgb_encode", "toy_gamma", "fit_srgb_toy", "gamma_kernels"]

# Output of fit_srgb_toy() (hidden=4, seed=0); max |error| on [0, 1] is 0.0019.
SRGB_TOY = {
    "w": [28.14987341349326, 3.5479725412304863, 0.4094928226592338, 26.44121643250627],
    "b": [0.775498726990351, 1.7165929161608324, 0.9789705641305004, 1.2876052984534319],
    "a": [-4.159525224543978, 3.5179243684674164, 4.759668115091734, 11.408883570351547],
    "c": -13.969505310879965,
}


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """The sRGB encoding curve (IEC 61966-2-1) for linear values in [0, 1]."""
    x = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def toy_gamma(x: np.ndarray, params: dict) -> np.ndarray:
    """Evaluates the toy model with parameters `{"w", "b", "a", "c"}` at `x`."""
    x = np.asarray(x, dtype=np.float64)[..., None]
    hidden = np.tanh(x * np.asarray(params["w"]) + np.asarray(params["b"]))
    return hidden @ np.asarray(params["a"]) + params["c"]


def fit_srgb_toy(
    hidden: int = 4,
    samples: int = 513,
    restarts: int = 8,
    ridge: float = 1e-4,
    seed: int = 0,
) -> dict:
    """Least-squares fit of the toy model to `srgb_encode` on a uniform grid of [0, 1].

    A small ridge penalty keeps the weights moderate: without it the best fits cancel
    huge terms against each other, a poor starting point for training.

    Args:
        hidden: number of tanh units.
        samples: grid points.
        restarts: random starting points tried; the best fit is kept.
        ridge: weight of the L2 penalty on all parameters.
        seed: seed of the starting points.

    Returns:
        `{"w": [...], "b": [...], "a": [...], "c": float}` with `hidden` entries each.
    """
    from scipy.optimize import least_squares

    x = np.linspace(0.0, 1.0, samples)
    target = srgb_encode(x)

    def unpack(theta: np.ndarray) -> dict:
        w, b, a = np.split(theta[:-1], 3)
        return {"w": w, "b": b, "a": a, "c": theta[-1]}

    def residual(theta: np.ndarray) -> np.ndarray:
        return np.concatenate([toy_gamma(x, unpack(theta)) - target, ridge * theta])

    rng = np.random.default_rng(seed)
    best = None
    for _ in range(restarts):
        slopes = rng.uniform(0.5, 20.0, hidden)
        offsets, gains = rng.normal(size=(2, hidden))
        start = np.concatenate([slopes, offsets, gains, [0.0]])
        fit = least_squares(residual, start, method="trf", max_nfev=3000)
        if best is None or fit.cost < best.cost:
            best = fit
    assert best is not None  # the loop ran at least once
    params = unpack(best.x)
    return {key: (float(v) if key == "c" else [float(t) for t in v]) for key, v in params.items()}


def gamma_kernels(params: dict, channels: int = 3) -> tuple[np.ndarray, ...]:
    """Block-diagonal 1×1 convolution weights running the toy model on every channel.

    Returns:
        (hidden kernel (1, 1, C, C·H), hidden bias (C·H,), output kernel (1, 1, C·H, C),
        output bias (C,)) as float32, H being the toy model's hidden units.
    """
    w, b, a = (np.asarray(params[key], dtype=np.float32) for key in ("w", "b", "a"))
    units = w.size
    k_hidden = np.zeros((1, 1, channels, channels * units), dtype=np.float32)
    k_out = np.zeros((1, 1, channels * units, channels), dtype=np.float32)
    for ch in range(channels):
        block = slice(ch * units, (ch + 1) * units)
        k_hidden[0, 0, ch, block] = w
        k_out[0, 0, block, ch] = a
    b_hidden = np.tile(b, channels)
    b_out = np.full((channels,), params["c"], dtype=np.float32)
    return k_hidden, b_hidden, k_out, b_out


if __name__ == "__main__":
    fitted = fit_srgb_toy()
    grid = np.linspace(0.0, 1.0, 10001)
    error = np.max(np.abs(toy_gamma(grid, fitted) - srgb_encode(grid)))
    print(repr(fitted))
    print(f"max |error| on [0, 1]: {error:.5f}")

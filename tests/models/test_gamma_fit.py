"""The gamma toy model against the sRGB curve of the `colour` package."""
from __future__ import annotations

import numpy as np
from colour.models import eotf_inverse_sRGB

from nipkit.models.gamma_fit import SRGB_TOY, fit_srgb_toy, gamma_kernels, srgb_encode, toy_gamma

GRID = np.linspace(0.0, 1.0, 4001)


def test_srgb_encode_matches_colour():
    np.testing.assert_allclose(srgb_encode(GRID), eotf_inverse_sRGB(GRID), atol=1e-12)


def test_stored_constants_fit_the_srgb_curve():
    error = np.abs(toy_gamma(GRID, SRGB_TOY) - eotf_inverse_sRGB(GRID))
    assert error.max() < 0.003


def test_fitting_code_reproduces_the_stored_constants():
    fitted = fit_srgb_toy()
    np.testing.assert_allclose(toy_gamma(GRID, fitted), toy_gamma(GRID, SRGB_TOY), atol=1e-4)


def test_gamma_kernels_are_block_diagonal_copies():
    k_hidden, b_hidden, k_out, b_out = gamma_kernels(SRGB_TOY)
    x = np.array([0.05, 0.4, 0.9])
    hidden = np.tanh(x @ k_hidden[0, 0] + b_hidden)
    np.testing.assert_allclose(hidden @ k_out[0, 0] + b_out, toy_gamma(x, SRGB_TOY), atol=1e-5)

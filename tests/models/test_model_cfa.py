"""CFA helpers against colour-demosaicing's Bayer masks, plus the sample placement in Keras."""
from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
from colour_demosaicing import masks_CFA_Bayer

from nipkit.layers.depth_to_space import DepthToSpace
from nipkit.cfa import (
    CFA_PATTERNS,
    bayer_to_stack,
    bilinear_kernel,
    check_cfa,
    check_raw_stack_shape,
    placement_kernel,
    sample_positions,
    stack_to_bayer,
)


def reference_positions(cfa: str) -> tuple:
    """R, Gr (green sharing a row with red), Gb, B positions read off colour's masks."""
    red, green, blue = masks_CFA_Bayer((2, 2), cfa.upper())
    r = tuple(int(i) for i in np.argwhere(red)[0])
    b = tuple(int(i) for i in np.argwhere(blue)[0])
    greens = [tuple(int(i) for i in p) for p in np.argwhere(green)]
    gr = next(p for p in greens if p[0] == r[0])
    gb = next(p for p in greens if p[0] == b[0])
    return r, gr, gb, b


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_sample_positions_match_colour_masks(cfa):
    assert sample_positions(cfa) == reference_positions(cfa)
    assert sample_positions(cfa.upper()) == reference_positions(cfa)


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_stack_round_trip_and_colours(cfa):
    rgb = np.random.default_rng(0).uniform(size=(6, 8, 3))
    masks = masks_CFA_Bayer(rgb.shape[:2], cfa.upper())
    bayer = sum(rgb[..., c] * masks[c] for c in range(3))
    stack = bayer_to_stack(bayer, cfa)
    assert stack.shape == (3, 4, 4)
    np.testing.assert_array_equal(stack_to_bayer(stack, cfa), bayer)
    r, _, _, b = reference_positions(cfa)
    np.testing.assert_array_equal(stack[..., 0], rgb[r[0]::2, r[1]::2, 0])
    np.testing.assert_array_equal(stack[..., 3], rgb[b[0]::2, b[1]::2, 2])


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_placement_kernel_builds_the_sparse_mosaic(cfa):
    rgb = np.random.default_rng(1).uniform(size=(8, 6, 3)).astype("float32")
    masks = masks_CFA_Bayer(rgb.shape[:2], cfa.upper())
    sparse = np.stack([rgb[..., c] * masks[c] for c in range(3)], axis=-1)
    stack = bayer_to_stack(sparse.sum(axis=-1), cfa)[None]
    placed = keras.ops.conv(stack, placement_kernel(cfa))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(DepthToSpace(2)(placed))[0], sparse, atol=1e-7)


def test_bilinear_kernel_sums_and_sizes():
    k3, k5 = bilinear_kernel(3), bilinear_kernel(5)
    np.testing.assert_allclose(k3.sum(axis=(0, 1)), np.diag([4.0, 2.0, 4.0]))
    np.testing.assert_array_equal(k5[1:4, 1:4], k3)
    with pytest.raises(ValueError):
        bilinear_kernel(4)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="rggb, grbg, gbrg, bggr"):
        check_cfa("rgbg")
    with pytest.raises(ValueError, match="sides of at least 2"):
        bayer_to_stack(np.zeros((1, 4)), "rggb")
    assert bayer_to_stack(np.zeros((5, 7)), "rggb").shape == (2, 3, 4)
    with pytest.raises(ValueError, match=r"RAW stack \(batch, h/2, w/2, 4\)"):
        check_raw_stack_shape("X", (1, 8, 8, 3))
    with pytest.raises(ValueError, match="multiples of 4"):
        check_raw_stack_shape("X", (1, 8, 6, 4), multiple=4)
    check_raw_stack_shape("X", (None, None, None, 4), multiple=4)


def test_cfa_module_imports_without_keras():
    code = "import sys, nipkit.cfa; print('keras' in sys.modules or 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""Tiled development: tiles cover the photo exactly and give the whole-photo result."""
from __future__ import annotations

import numpy as np
import pytest

from nipkit.inference import check_tiling, develop_raw, tile_windows
from nipkit.models import DNet, INet, UNet


@pytest.mark.parametrize("length", [1, 7, 32, 33, 100, 257])
@pytest.mark.parametrize("window,margin", [(32, 0), (32, 8), (16, 4), (64, 16)])
def test_windows_cover_each_pixel_once_with_context(length, window, margin):
    covered = np.zeros(length, int)
    spans = tile_windows(length, window, margin)
    for start, keep_from, keep_to in spans:
        assert 0 <= start and start + min(window, length) <= length
        covered[keep_from:keep_to] += 1
        # Every kept pixel has `margin` pixels of context inside the window, or is at the photo's edge.
        assert keep_from == 0 or keep_from >= start + margin
        assert keep_to == length or keep_to <= start + window - margin
    assert np.all(covered == 1)


def photo_stack(height=45, width=70, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.05, 0.9, (height, width, 4)).astype("float32")


def whole(model, stack):
    return np.asarray(model(stack[None], training=False))[0]


@pytest.mark.parametrize("model", [INet(cfa="grbg"), DNet(layers=4, features=8)], ids=["inet", "dnet"])
def test_tiled_equals_whole_photo_for_local_models(model):
    stack = photo_stack()
    reference = whole(model, stack)
    tiled = develop_raw(model, stack, tile=64, overlap=24)  # 32-px windows, 6 px of context
    assert tiled.shape == (90, 140, 3)
    np.testing.assert_allclose(tiled, reference, atol=2e-6)


def test_input_multiple_is_honoured_for_any_size():
    model = UNet(levels=3, filters=4)
    stack = photo_stack(37, 53)
    tiled = develop_raw(model, stack, tile=64, overlap=16)
    assert tiled.shape == (74, 106, 3) and np.all(np.isfinite(tiled))
    assert tiled.min() >= 0 and tiled.max() <= 1
    single = develop_raw(model, stack[:8, :8], tile=64, overlap=16)  # smaller than a tile: padded
    assert single.shape == (16, 16, 3)


def test_bad_tiling_is_refused():
    assert check_tiling(UNet(levels=3, filters=4), 64, 16) == 4
    with pytest.raises(ValueError, match="multiple of 8"):
        check_tiling(UNet(levels=3, filters=4), 60, 16)
    with pytest.raises(ValueError, match="overlap"):
        check_tiling(INet(), 64, 64)

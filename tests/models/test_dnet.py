"""DNet: parameter count (batch-norm scales and offsets trainable, moving statistics not),
shapes for every CFA, the fixed bilinear path against colour-demosaicing, save/load."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from colour_demosaicing import demosaicing_CFA_Bayer_bilinear, masks_CFA_Bayer

from nipkit import registry
from nipkit.errors import ConfigError
from nipkit.models import DNet
from nipkit.testing import check_component

CFAS = ("rggb", "grbg", "gbrg", "bggr")


def count(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def test_trainable_count_through_registry():
    model = registry.models.build({"type": "dnet"})
    model.build((None, 8, 8, 4))
    assert count(model.trainable_weights) == 493_976
    bn_channels = 14 * 64 + 12
    moving = [w for w in model.non_trainable_weights if "moving" in w.path]
    assert count(model.non_trainable_weights) == count(moving) == 2 * bn_channels
    gammas_betas = [w for w in model.trainable_weights if w.path.split("/")[-1] in ("gamma", "beta")]
    assert count(gammas_betas) == 2 * bn_channels


@pytest.mark.parametrize("cfa", CFAS)
@pytest.mark.parametrize("shape", [(1, 4, 4, 4), (2, 5, 7, 4), (1, 16, 16, 4)])
def test_output_shapes(cfa, shape):
    model = DNet(layers=4, features=8, cfa=cfa)
    out = model(np.random.default_rng(0).uniform(size=shape).astype("float32"))
    assert tuple(out.shape) == (shape[0], 2 * shape[1], 2 * shape[2], 3)
    values = keras.ops.convert_to_numpy(out)
    assert values.min() >= 0.0 and values.max() <= 1.0
    assert model.input_multiple == 1


@pytest.mark.parametrize("cfa", CFAS)
def test_mosaic_path_is_bilinear_demosaicing(cfa):
    """With the deep branch silenced and the fusion set to pass the mosaic channels, DNet
    returns the bilinear demosaicing of its input (the 1-px border is the fusing
    convolution's reflect padding)."""
    rgb = np.random.default_rng(1).uniform(0.1, 0.9, size=(12, 16, 3))
    masks = masks_CFA_Bayer(rgb.shape[:2], cfa.upper())
    bayer = sum(rgb[..., c] * masks[c] for c in range(3))
    stack = np.stack([bayer[r::2, c::2] for r, c in _positions(masks)], axis=-1)[None].astype("float32")
    model = DNet(layers=2, features=3, cfa=cfa)
    model.build(stack.shape)
    for conv in model.convs:
        conv.kernel.assign(np.zeros(conv.kernel.shape, "float32"))
    fuse = np.zeros((3, 3, 6, 3), "float32")
    fuse[1, 1, 3:, :] = np.eye(3)
    model.fuse.kernel.assign(fuse)
    model.project.kernel.assign(np.eye(3, dtype="float32")[None, None])
    expected = demosaicing_CFA_Bayer_bilinear(np.pad(bayer, 2, mode="reflect"), cfa.upper())[2:-2, 2:-2]
    out = keras.ops.convert_to_numpy(model(stack, training=False))[0]
    np.testing.assert_allclose(out[1:-1, 1:-1], expected[1:-1, 1:-1], atol=1e-5)
    np.testing.assert_allclose(out[0, 1:-1], out[2, 1:-1], atol=1e-6)


def _positions(masks):
    """Tile positions of R, Gr, Gb, B read off colour's masks."""
    red = tuple(np.argwhere(masks[0][:2, :2])[0])
    blue = tuple(np.argwhere(masks[2][:2, :2])[0])
    greens = [tuple(p) for p in np.argwhere(masks[1][:2, :2])]
    return [red, next(g for g in greens if g[0] == red[0]), next(g for g in greens if g[0] == blue[0]), blue]


def test_errors():
    with pytest.raises(ValueError, match=r"RAW stack"):
        DNet(layers=2, features=4)(np.zeros((1, 4, 4, 3), "float32"))
    with pytest.raises(ValueError, match="at least 4"):
        DNet(layers=2, features=4)(np.zeros((1, 3, 4, 4), "float32"))
    with pytest.raises(ConfigError, match="'dnet'.*layers must be a positive integer"):
        registry.models.build({"type": "dnet", "layers": 0})


def test_check_component():
    check_component(DNet(cfa="bggr"), (8, 6, 4), atol=1e-4)

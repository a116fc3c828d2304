"""The `resnip` plugin NIP: nipkit's component checks, parameter count, numpy/scipy references.

Run after installing the plugin: `pip install -e plugins/nipkit-resnip` (or a plain
install), then `pytest plugins/nipkit-resnip/tests`.
"""
from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy.signal import correlate2d

from nipkit import registry
from nipkit.errors import ConfigError
from nipkit.testing import check_component, gradients
from nipkit_resnip import ResNIP

CFAS = ("rggb", "grbg", "gbrg", "bggr")


def raw_stacks(seed: int = 0, shape=(2, 6, 8, 4)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, shape).astype("float32")


def site_positions(cfa: str) -> list[tuple[int, int]]:
    """(row, col) of the R, Gr, Gb, B samples, read straight from the CFA's letters."""
    where = {(row, col): cfa[2 * row + col] for row in (0, 1) for col in (0, 1)}
    red = next(p for p, letter in where.items() if letter == "r")
    blue = next(p for p, letter in where.items() if letter == "b")
    green_red_row = next(p for p, letter in where.items() if letter == "g" and p[0] == red[0])
    green_blue_row = next(p for p, letter in where.items() if letter == "g" and p[0] == blue[0])
    return [red, green_red_row, green_blue_row, blue]


def superpixel_reference(stack: np.ndarray, cfa: str) -> np.ndarray:
    """Full-resolution RGB: the tile's R and B everywhere, own green at green sites."""
    up = lambda a: np.repeat(np.repeat(a, 2, axis=1), 2, axis=2)  # noqa: E731
    rgb = np.stack([up(stack[..., 0]), up((stack[..., 1] + stack[..., 2]) / 2), up(stack[..., 3])], axis=-1)
    for site in (1, 2):
        row, col = site_positions(cfa)[site]
        rgb[:, row::2, col::2, 1] = stack[..., site]
    return rgb


def conv_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A zero-padded 3×3 'same' convolution (cross-correlation) of one (h, w, c) image."""
    out = np.zeros((*x.shape[:2], kernel.shape[-1]))
    for i in range(kernel.shape[2]):
        for o in range(kernel.shape[3]):
            out[..., o] += correlate2d(x[..., i], kernel[:, :, i, o], mode="same")
    return out + bias


def network_reference(nip: ResNIP, stack: np.ndarray) -> np.ndarray:
    """ResNIP's forward pass rebuilt from its weights with scipy, one image at a time."""
    w = lambda layer: [np.asarray(v, dtype=np.float64) for v in layer.get_weights()]  # noqa: E731
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    outputs = []
    for image in stack.astype(np.float64):
        x = relu(conv_same(image, *w(nip.head)))
        for inner, outer in zip(nip.block_in, nip.block_out):
            x = x + conv_same(relu(conv_same(x, *w(inner))), *w(outer))
        residual = conv_same(x, *w(nip.tail))
        rgb = superpixel_reference(image[None], nip.cfa)[0]
        for site, (row, col) in enumerate(site_positions(nip.cfa)):
            rgb[row::2, col::2, :] += residual[..., 3 * site : 3 * site + 3]
        outputs.append(np.clip(rgb, 0, 1))
    return np.stack(outputs)


def randomise(nip: ResNIP, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    nip.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in nip.get_weights()])


def test_check_component():
    check_component(ResNIP(filters=4, blocks=1, cfa="grbg"), (6, 8, 4))


def test_trainable_parameter_count():
    nip = ResNIP()
    nip.build((None, 8, 8, 4))
    assert sum(int(np.prod(w.shape)) for w in nip.trainable_weights) == 11_612
    small = ResNIP(filters=8, blocks=3)
    small.build((None, 8, 8, 4))
    assert sum(int(np.prod(w.shape)) for w in small.trainable_weights) == 145 * 8 + 18 * 3 * 64 + 2 * 3 * 8 + 12


@pytest.mark.parametrize("cfa", CFAS)
def test_untrained_is_the_superpixel_demosaic(cfa):
    stack = raw_stacks()
    got = np.asarray(ResNIP(filters=4, blocks=1, cfa=cfa)(stack))
    assert got.shape == (2, 12, 16, 3)
    np.testing.assert_allclose(got, superpixel_reference(stack, cfa), atol=1e-6)


@pytest.mark.parametrize("cfa", ["rggb", "gbrg"])
def test_matches_scipy_reference_with_random_weights(cfa):
    nip = ResNIP(filters=4, blocks=2, cfa=cfa)
    stack = raw_stacks(3)
    nip(stack)
    randomise(nip)
    got = np.asarray(nip(stack))
    expected = network_reference(nip, stack)
    assert 0.05 < np.mean((expected > 0) & (expected < 1))  # not everything clipped
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_output_is_clipped_with_straight_through_gradient():
    nip = ResNIP(filters=4, blocks=0)
    stack = keras.Variable(raw_stacks(4) * 3.0 - 1.0)  # far outside [0, 1]
    out = np.asarray(nip(stack))
    assert out.min() == 0.0 and out.max() == 1.0
    (grad,) = gradients(lambda: keras.ops.sum(nip(stack)), [stack])
    # An untrained ResNIP is linear: each R and B sample feeds 4 pixels, each green 1 + 2·0.5.
    np.testing.assert_allclose(np.asarray(grad), np.broadcast_to([4.0, 2.0, 2.0, 4.0], stack.shape))


@pytest.mark.parametrize("kwargs", [{"filters": 0}, {"blocks": -1}, {"filters": 2.5}, {"cfa": "rgbg"}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        ResNIP(**kwargs)


def test_rejects_rgb_input():
    with pytest.raises(ValueError, match="ResNIP expects a RAW stack"):
        ResNIP()(np.zeros((1, 8, 8, 3), "float32"))


def test_registered_through_the_entry_point():
    entry = registry.models.entry("resnip")
    assert entry.distribution == "nipkit-resnip" and entry.roles == ("nip",)
    assert registry.models.get("resnip") is ResNIP
    nip = registry.models.build({"resnip": {"filters": 8}}, cfa="bggr")  # cfa as a dataset passes it
    assert isinstance(nip, ResNIP) and nip.cfa == "bggr" and nip.filters == 8
    assert nip.input_multiple == 1
    with pytest.raises(ConfigError, match="'resnip'"):
        registry.models.build({"resnip": {"cfa": "xyzw"}})

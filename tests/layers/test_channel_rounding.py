"""The training channel's rounding: `ste` in the channel is the real codec, pixel for pixel,
and `ste_sin` keeps that forward pass under the gradient of `sin`."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from PIL import features
from skimage import data

from nipkit import registry
from nipkit.evaluation.libjpeg import roundtrip, to_uint8
from nipkit.layers.jpeg import DifferentiableJPEG
from nipkit.ops.rounding import ROUNDING_MODES, approximate_round, round_half_away
from nipkit.testing import check_component, gradients

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TURBO = bool(features.check_feature("libjpeg_turbo"))


def numpy(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def developed_photos() -> dict[str, np.ndarray]:
    """What a NIP hands the channel: 8-bit photos (whose 2 × 2 averages fall on half levels
    a quarter of the time) and continuous values."""
    crops = [data.astronaut()[40:190, 100:262], data.coffee()[100:250, 150:312], data.chelsea()[50:200, 120:282]]
    photos = np.stack(crops).astype("float32") / 255.0
    noisy = np.clip(photos + np.random.default_rng(0).normal(0.0, 0.03, photos.shape), 0.0, 1.0).astype("float32")
    return {"8-bit": photos, "continuous": noisy}


def example_channel(name: str, rounding: str, subsampling: str) -> list[keras.layers.Layer]:
    """The channel of an example config, built by the registry with `rounding` and `subsampling`."""
    specs = yaml.safe_load((EXAMPLES / name).read_text())["channel"]
    layers = []
    for spec in specs:
        (kind, params), = spec.items()
        if kind == "jpeg":
            params = {**params, "rounding": rounding, "subsampling": subsampling}
        layers.append(registry.layers.build({kind: params}))
    return layers


@pytest.mark.skipif(not TURBO, reason="bit-exactness is checked against libjpeg-turbo")
@pytest.mark.parametrize("rounding", ["ste", "ste_sin"])
@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:0"])
@pytest.mark.parametrize("example", ["quickstart.yaml", "reproduce.yaml"])
def test_exact_rounding_in_the_channel_is_the_real_codec(example, subsampling, rounding):
    downscale, jpeg = example_channel(example, rounding, subsampling)
    assert isinstance(jpeg, DifferentiableJPEG) and jpeg.quality == 50 and downscale.factor == 2
    for kind, images in developed_photos().items():
        small = numpy(downscale(images))  # 75 × 81: odd sides, partial blocks
        ours = numpy(jpeg(small))
        real = roundtrip(small, jpeg.quality, subsampling)  # Pillow's libjpeg
        np.testing.assert_array_equal(to_uint8(ours), to_uint8(real), err_msg=kind)
        np.testing.assert_array_equal(ours, real, err_msg=kind)  # already on the 8-bit levels


def test_ste_sin_rounds_exactly_with_the_gradient_of_sin():
    assert "ste_sin" in ROUNDING_MODES
    x = tf.constant(np.linspace(-3.0, 3.0, 601).astype("float32"))
    np.testing.assert_array_equal(numpy(approximate_round(x, "ste_sin")), numpy(round_half_away(x)))
    (grad,) = gradients(lambda: keras.ops.sum(approximate_round(x, "ste_sin")), [x])
    np.testing.assert_allclose(numpy(grad), 1.0 - np.cos(2.0 * np.pi * numpy(x).astype("float64")), atol=1e-5)


@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:0"])
def test_ste_sin_in_the_layer_has_the_hard_forward_and_the_sin_backward(subsampling):
    images = tf.constant(developed_photos()["continuous"][:, :40, :56])
    hard = numpy(DifferentiableJPEG(50, "round", subsampling)(images))
    np.testing.assert_array_equal(numpy(DifferentiableJPEG(50, "ste_sin", subsampling)(images)), hard)
    weights = tf.constant(np.random.default_rng(1).normal(size=images.shape).astype("float32"))

    def input_gradient(rounding: str) -> np.ndarray:
        layer = DifferentiableJPEG(50, rounding, subsampling)
        (grad,) = gradients(lambda: keras.ops.sum(layer(images) * weights), [images])
        return numpy(grad)

    ste_sin, sin, ste = input_gradient("ste_sin"), input_gradient("sin"), input_gradient("ste")
    assert np.all(np.isfinite(ste_sin)) and np.abs(ste_sin).sum() > 0
    # the backward pass sees the same coefficients in both modes, so the gradients agree
    np.testing.assert_allclose(ste_sin, sin, rtol=1e-4, atol=1e-5)
    assert not np.allclose(ste_sin, ste, atol=1e-3)


def test_ste_sin_layer_round_trips():
    check_component(DifferentiableJPEG(50, "ste_sin", "4:2:0"), input_shape=(24, 24, 3))

"""DifferentiableJPEG stays bit-exact against libjpeg whatever the precision settings:
matmuls that round their operands to TensorFloat-32 (emulated here on the CPU, as NVIDIA
GPUs run float32 matmuls by default) and the mixed-precision dtype policies."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import features
from skimage import data

from nipkit.evaluation.libjpeg import roundtrip, to_uint8
from nipkit.layers.jpeg import DifferentiableJPEG
from nipkit.ops import integer_matmul
from nipkit.ops.jpeg_tables import ISLOW_FORWARD, ISLOW_INVERSE

pytestmark = pytest.mark.skipif(not features.check_feature("libjpeg_turbo"),
                                reason="bit-exactness is checked against libjpeg-turbo")
SUBSAMPLINGS = ("4:4:4", "4:2:0")
TF32_DROPPED_BITS = 13  # float32 keeps 23 mantissa bits, TF32 10


def tf32(x, mode: str = "nearest"):
    """Rounds float32 values to TensorFloat-32 (10 mantissa bits): to nearest with ties away
    from zero, as NVIDIA's conversion does, or by truncation."""
    bits = tf.bitcast(tf.convert_to_tensor(x, tf.float32), tf.int32)
    if mode == "nearest":
        bits = bits + (1 << (TF32_DROPPED_BITS - 1))  # sign-magnitude: rounds the magnitude
    return tf.bitcast(tf.bitwise.bitwise_and(bits, ~((1 << TF32_DROPPED_BITS) - 1)), tf.float32)


def significant_bits(values: np.ndarray) -> int:
    """The most significant bits any of the integer-valued `values` needs."""
    ints = np.abs(np.asarray(values, np.float64)).astype(np.int64).ravel()
    ints = ints[ints != 0]
    if ints.size == 0:
        return 0
    while np.any(ints % 2 == 0):
        ints = np.where(ints % 2 == 0, ints // 2, ints)
    return int(max(int(v).bit_length() for v in ints))


@pytest.fixture(params=["nearest", "truncate"])
def tf32_matmul(request, monkeypatch):
    """Makes every integer-transform matmul round its operands to TF32; records their bits."""
    seen = []

    def emulated(x, y):
        seen.append((significant_bits(x), significant_bits(y)))
        return tf.matmul(tf32(x, request.param), tf32(y, request.param))

    monkeypatch.setattr(integer_matmul, "matmul", emulated)
    monkeypatch.setattr(integer_matmul, "SPLIT_INPUTS", True)  # as where a GPU is visible
    return seen


def photos(height: int = 48, width: int = 64) -> np.ndarray:
    crops = [data.astronaut()[60:, 180:], data.coffee()[150:, 200:], data.chelsea()[80:, 150:]]
    return np.stack([c[:height, :width] for c in crops]).astype("float32") / 255.0


def stress_images() -> np.ndarray:
    """Noise and saturated checkerboards: the fixed-point range at its extremes."""
    noise = np.random.default_rng(0).uniform(size=(1, 23, 19, 3))
    checker = np.broadcast_to((np.indices((23, 19)).sum(0) % 2)[None, :, :, None], (1, 23, 19, 3))
    return np.concatenate([noise, checker, 1.0 - checker]).astype("float32")


def decoded(layer, images) -> np.ndarray:
    return to_uint8(np.asarray(keras.ops.convert_to_numpy(layer(images)), "float32"))


def test_the_emulation_breaks_a_plain_integer_dct():
    """What the layer did before: one float32 matmul with libjpeg's 14-bit constants."""
    for matrix in (ISLOW_FORWARD, ISLOW_INVERSE):
        assert significant_bits(matrix) > 11
        rounded = tf32(matrix.astype("float32")).numpy()
        assert np.any(rounded != matrix)
    blocks = (np.round(photos()[..., 0] * 255) - 128).reshape(-1, 8).astype("float32")
    exact = blocks.astype(np.int64) @ ISLOW_FORWARD.T
    plain = tf.matmul(tf32(blocks), tf32(ISLOW_FORWARD.T.astype("float32"))).numpy()
    assert np.mean(plain != exact) > 0.5


@pytest.mark.parametrize("subsampling", SUBSAMPLINGS)
def test_bit_exact_when_matmuls_round_operands_to_tf32(tf32_matmul, subsampling):
    for quality in (1, 10, 50, 90, 100):
        for images in (photos(), stress_images()):
            ours = decoded(DifferentiableJPEG(quality, "round", subsampling), images)
            np.testing.assert_array_equal(ours, to_uint8(roundtrip(images, quality, subsampling)), f"q{quality}")
    assert tf32_matmul, "the layer did not use integer_matmul.matmul"
    assert max(max(bits) for bits in tf32_matmul) <= integer_matmul.PART_BITS


def test_inputs_are_split_only_where_matmuls_may_round(monkeypatch):
    seen = []

    def recording(x, y):
        seen.append(significant_bits(x))
        return tf.matmul(x, y)

    monkeypatch.setattr(integer_matmul, "matmul", recording)
    images = photos()
    expected = to_uint8(roundtrip(images, 50, "4:4:4"))
    for split in (True, False):
        monkeypatch.setattr(integer_matmul, "SPLIT_INPUTS", split)
        seen.clear()
        np.testing.assert_array_equal(decoded(DifferentiableJPEG(50, "round"), images), expected)
        assert (max(seen) <= integer_matmul.PART_BITS) == split
    assert integer_matmul.matmuls_may_round() == bool(tf.config.list_logical_devices("GPU"))


def test_gradients_are_unchanged_by_tf32_matmuls(tf32_matmul):
    images = tf.constant(photos())
    layer = DifferentiableJPEG(50, "sin")
    with tf.GradientTape() as tape:
        tape.watch(images)
        loss = tf.reduce_mean(tf.square(layer(images) - images))
    grad = tape.gradient(loss, images).numpy()
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("subsampling", SUBSAMPLINGS)
def test_bit_exact_under_mixed_precision(policy, subsampling):
    # Values between the 8-bit levels: a float16 cast of the input would move some across.
    rng = np.random.default_rng(1)
    images = np.clip(photos() + rng.uniform(-0.5, 0.5, photos().shape) / 255, 0, 1).astype("float32")
    reference = to_uint8(roundtrip(images, 50, subsampling))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        layer = DifferentiableJPEG(50, "ste", subsampling)
        assert layer.compute_dtype == "float32"
        np.testing.assert_array_equal(decoded(layer, images), reference)
        inputs = keras.Input((None, None, 3))
        model = keras.Model(inputs, DifferentiableJPEG(50, "round", subsampling)(inputs))
        np.testing.assert_array_equal(decoded(model, images), reference)
        assert model.layers[-1].get_config()["dtype"]["config"]["name"] == "float32"
    finally:
        keras.config.set_dtype_policy(previous)

"""DifferentiableJPEG, its rounding and table helpers, and `nipkit jpeg-check`.

References: libjpeg through Pillow (the decoded pixels and the quantisation tables it
writes), scipy's orthonormal DCT, and NumPy evaluations of the rounding formulas.
"""
from __future__ import annotations

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from PIL import Image, features
from scipy import fft
from skimage import data

from nipkit import registry
from nipkit.errors import ConfigError
from nipkit.evaluation.libjpeg import roundtrip, to_uint8
from nipkit.layers.jpeg import DifferentiableJPEG
from nipkit.ops import jpeg_tables
from nipkit.ops.rounding import approximate_round, harmonic_round, round_half_away, sin_round
from nipkit.testing import check_component, gradients

SUBSAMPLINGS = ("4:4:4", "4:2:0")
MIN_AGREEMENT_DB = {"4:4:4": 47.0, "4:2:0": 44.0}  # a few dB below the 50 / 47 dB targets
# Pillow wheels ship libjpeg-turbo, whose default path the layer reproduces bit for bit.
TURBO = bool(features.check_feature("libjpeg_turbo"))


def photos(height: int, width: int) -> np.ndarray:
    """Crops of real photos that ship with scikit-image, float32 in [0, 1]."""
    crops = [data.astronaut()[60:, 180:], data.coffee()[150:, 200:], data.chelsea()[80:, 150:]]
    return np.stack([c[:height, :width] for c in crops]).astype("float32") / 255.0


def numpy(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((np.asarray(a, "float64") - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.mark.parametrize("subsampling", SUBSAMPLINGS)
@pytest.mark.parametrize("quality", [10, 50, 90])
@pytest.mark.parametrize("size", [(37, 53), (48, 64)])
def test_round_agrees_with_libjpeg(subsampling, quality, size):
    images = photos(*size)
    ours = numpy(DifferentiableJPEG(quality, "round", subsampling)(images))
    reference = roundtrip(images, quality, subsampling)
    assert ours.shape == images.shape
    assert psnr(ours, reference) >= MIN_AGREEMENT_DB[subsampling]
    if TURBO:
        np.testing.assert_array_equal(to_uint8(ours), to_uint8(reference))


@pytest.mark.skipif(not TURBO, reason="bit-exactness is checked against libjpeg-turbo")
@pytest.mark.parametrize("subsampling", SUBSAMPLINGS)
@pytest.mark.parametrize("quality", [1, 100])
def test_extreme_images_are_bit_exact(subsampling, quality):
    """Noise and a saturated checkerboard stress the fixed-point range at the extremes."""
    rng = np.random.default_rng(0)
    noise = rng.uniform(size=(1, 23, 19, 3))
    checker = np.broadcast_to((np.indices((23, 19)).sum(0) % 2)[None, :, :, None], (1, 23, 19, 3))
    images = np.concatenate([noise, checker, 1.0 - checker]).astype("float32")
    ours = numpy(DifferentiableJPEG(quality, "round", subsampling)(images))
    np.testing.assert_array_equal(to_uint8(ours), to_uint8(roundtrip(images, quality, subsampling)))


@pytest.mark.skipif(not TURBO, reason="bit-exactness is checked against libjpeg-turbo")
@pytest.mark.parametrize("size", [(1, 1), (3, 3), (17, 1), (9, 2), (2, 30)])
def test_tiny_images_are_bit_exact(size):
    """libjpeg repeats chroma instead of fancy up-sampling when it is at most 2 samples wide."""
    images = np.random.default_rng(1).uniform(size=(2, *size, 3)).astype("float32")
    for subsampling in SUBSAMPLINGS:
        ours = numpy(DifferentiableJPEG(50, "round", subsampling)(images))
        np.testing.assert_array_equal(to_uint8(ours), to_uint8(roundtrip(images, 50, subsampling)))


@pytest.mark.parametrize("subsampling", SUBSAMPLINGS)
def test_ste_forward_equals_round(subsampling):
    images = photos(21, 30)
    hard = numpy(DifferentiableJPEG(30, "round", subsampling)(images))
    np.testing.assert_array_equal(numpy(DifferentiableJPEG(30, "ste", subsampling)(images)), hard)


@pytest.mark.parametrize("subsampling", SUBSAMPLINGS)
def test_per_image_quality_equals_scalar_quality(subsampling):
    images = photos(37, 53)
    qualities = np.array([20, 75, 95], "float32")
    layer = DifferentiableJPEG(50, "ste", subsampling)
    by_call = numpy(layer(images, quality=qualities))
    by_list = numpy(layer([images, qualities]))
    for i, q in enumerate(qualities):
        expected = numpy(DifferentiableJPEG(int(q), "ste", subsampling)(images[i : i + 1]))[0]
        np.testing.assert_array_equal(by_call[i], expected)
        np.testing.assert_array_equal(by_list[i], expected)


def test_unknown_shapes_in_a_graph():
    """Height, width and batch unknown when traced (as after Keras relaxes its shapes)."""
    layer = DifferentiableJPEG(40, "ste", "4:2:0")
    fn = tf.function(
        lambda x, q: layer(x, quality=q),
        input_signature=[tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([None])],
    )
    for images in (photos(37, 53), photos(9, 2)):
        expected = numpy(layer(images))
        np.testing.assert_allclose(numpy(fn(images, tf.fill([3], 40.0))), expected, atol=1e-6)


@pytest.mark.parametrize("rounding", ["ste", "sin", "harmonic", "cubic"])
@pytest.mark.parametrize("subsampling", SUBSAMPLINGS)
def test_input_gradients_are_finite_and_nonzero(rounding, subsampling):
    layer = DifferentiableJPEG(50, rounding, subsampling)
    images = [tf.convert_to_tensor(photos(19, 26))]
    weights = np.random.default_rng(0).normal(size=images[0].shape).astype("float32")
    (grad,) = gradients(lambda: keras.ops.sum(layer(images[0]) * weights), images)
    grad = numpy(grad)
    assert np.all(np.isfinite(grad))
    assert np.mean(grad != 0) > 0.5


def test_round_has_no_input_gradient():
    layer = DifferentiableJPEG(50, "round")
    images = [tf.convert_to_tensor(photos(16, 16))]
    (grad,) = gradients(lambda: keras.ops.sum(layer(images[0])), images)
    assert grad is None or not np.any(numpy(grad))


@pytest.mark.parametrize("rounding", ["ste", "harmonic"])
def test_quality_gradient_lowers_the_error(rounding):
    """d(MSE vs the original)/d(quality) is finite and negative for each image."""
    images = photos(32, 32)[:2]
    layer = DifferentiableJPEG(rounding=rounding)
    quality = keras.Variable(np.array([30.0, 70.0], "float32"))

    def error():
        out = layer(images, quality=quality.value)
        return keras.ops.sum(keras.ops.mean((out - images) ** 2, axis=(1, 2, 3)))

    (grad,) = gradients(error, [quality])
    grad = numpy(grad)
    assert np.all(np.isfinite(grad)) and np.all(grad < 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"quality": 0},
        {"quality": 101},
        {"quality": 50.5},
        {"quality": "high"},
        {"quality": None},
        {"quality": True},
        {"rounding": "floor"},
        {"subsampling": "4:2:2"},
        {"harmonic_terms": 0},
    ],
)
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError, match="DifferentiableJPEG"):
        DifferentiableJPEG(**kwargs)


def test_registry_builds_and_reports_bad_quality():
    assert isinstance(registry.layers.build({"jpeg": {"quality": 80}}), DifferentiableJPEG)
    with pytest.raises(ConfigError, match="quality"):
        registry.layers.build({"jpeg": {"quality": 0}})


def test_non_rgb_input_raises():
    with pytest.raises(ValueError, match="RGB"):
        DifferentiableJPEG()(np.zeros((1, 8, 8, 1), "float32"))


@pytest.mark.parametrize(
    "kwargs", [{}, {"quality": 80, "rounding": "harmonic", "subsampling": "4:2:0", "harmonic_terms": 3}]
)
def test_check_component(kwargs):
    check_component(DifferentiableJPEG(**kwargs), (21, 30, 3))


def test_quantization_tables_match_the_ones_libjpeg_writes():
    qualities = np.arange(1, 101)
    luma = numpy(jpeg_tables.quantization_tables(qualities.astype("float32"), jpeg_tables.LUMINANCE_TABLE))
    chroma = numpy(jpeg_tables.quantization_tables(qualities.astype("float32"), jpeg_tables.CHROMINANCE_TABLE))
    pixel = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    for i, q in enumerate(qualities):
        buffer = io.BytesIO()
        pixel.save(buffer, "JPEG", quality=int(q))
        written = Image.open(buffer).quantization
        expected = [np.array(written[k]).reshape(8, 8) for k in (0, 1)]
        for base, table in zip((jpeg_tables.LUMINANCE_TABLE, jpeg_tables.CHROMINANCE_TABLE), expected):
            np.testing.assert_array_equal(jpeg_tables.quantization_table(base, int(q)), table)
        np.testing.assert_array_equal(luma[i], expected[0])
        np.testing.assert_array_equal(chroma[i], expected[1])


def test_integer_dct_is_within_one_level_of_the_float_dct():
    from nipkit.ops.dct import forward_dct, inverse_dct

    rng = np.random.default_rng(0)
    planes = np.round(rng.uniform(-128, 127, size=(2, 1, 16, 24))).astype("float32")
    coefficients = numpy(forward_dct(planes)) / 8.0  # (b, c, hb, wb, u, v)
    blocks = planes.reshape(2, 1, 2, 8, 3, 8).transpose(0, 1, 2, 4, 3, 5)  # (.., y, x)
    reference = fft.dctn(blocks, axes=(-2, -1), norm="ortho")
    np.testing.assert_allclose(coefficients, np.swapaxes(reference, -1, -2), atol=1.0)

    dequantized = np.round(np.swapaxes(reference, -1, -2))
    pixels = numpy(inverse_dct(dequantized.astype("float32"), planes.shape))
    expected = fft.idctn(np.swapaxes(dequantized, -1, -2), axes=(-2, -1), norm="ortho")
    expected = np.clip(expected.transpose(0, 1, 2, 4, 3, 5).reshape(planes.shape) + 128, 0, 255)
    np.testing.assert_allclose(pixels, expected, atol=1.0)


def test_rounding_formulas():
    x = np.linspace(-3.0, 3.0, 2001).astype("float32")
    xd = x.astype("float64")
    sin_ref = xd - np.sin(2 * np.pi * xd) / (2 * np.pi)
    harmonic_ref = xd - sum((-1) ** (k + 1) * np.sin(2 * np.pi * k * xd) / (np.pi * k) for k in range(1, 6))
    np.testing.assert_allclose(numpy(sin_round(x)), sin_ref, atol=2e-6)
    np.testing.assert_allclose(numpy(harmonic_round(x, 5)), harmonic_ref, atol=2e-6)
    cubic = xd - np.sign(xd) * np.floor(np.abs(xd) + 0.5)
    np.testing.assert_allclose(numpy(approximate_round(x, "cubic")), xd - cubic + cubic**3, atol=2e-6)
    np.testing.assert_array_equal(numpy(round_half_away(np.array([-2.5, -0.5, 0.5, 1.5], "float32"))), [-3, -1, 1, 2])
    # more harmonic terms approach hard rounding away from the half-integers
    away = np.abs(xd - np.round(xd)) < 0.4
    errors = [np.abs(numpy(harmonic_round(x, k)) - np.round(xd))[away].max() for k in (1, 5, 25)]
    assert errors[0] > errors[1] > errors[2]


def test_rounding_gradients():
    x = [tf.constant(np.array([0.2, 0.5, 1.7], "float32"))]
    (grad,) = gradients(lambda: keras.ops.sum(approximate_round(x[0], "ste") * [1.0, 2.0, 3.0]), x)
    np.testing.assert_array_equal(numpy(grad), [1.0, 2.0, 3.0])

    x = [tf.constant(np.linspace(-2.0, 2.0, 401).astype("float32"))]
    xd = numpy(x[0]).astype("float64")
    (grad,) = gradients(lambda: keras.ops.sum(sin_round(x[0])), x)
    np.testing.assert_allclose(numpy(grad), 1 - np.cos(2 * np.pi * xd), atol=1e-5)
    (grad,) = gradients(lambda: keras.ops.sum(harmonic_round(x[0], 4)), x)
    expected = 1 - 2 * sum((-1) ** (k + 1) * np.cos(2 * np.pi * k * xd) for k in range(1, 5))
    np.testing.assert_allclose(numpy(grad), expected, atol=1e-5)


def test_libjpeg_roundtrip_helper():
    images = photos(20, 28)
    out = roundtrip(images, [10, 50, 90], "4:2:0")
    assert out.shape == images.shape and out.dtype == np.float32
    assert psnr(out[0], images[0]) < psnr(out[2], images[2])
    grey = roundtrip(images[0, :, :, :1], 75)
    assert grey.shape == (20, 28, 1)
    with pytest.raises(ValueError, match="quality"):
        roundtrip(images, 0)
    with pytest.raises(ValueError, match="subsampling"):
        roundtrip(images, 50, "4:1:1")


def test_jpeg_check_command(tmp_path):
    from nipkit.cli.jpeg_check import command

    result = CliRunner().invoke(command, ["--size", "32", "--subsampling", "4:2:0", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line.strip().split(" ")[0].isdigit()]
    assert [int(r[0]) for r in rows] == list(range(10, 100, 10))
    assert (tmp_path / "jpeg-check-420-32.png").stat().st_size > 0
    assert (tmp_path / "jpeg-check-420-32.json").exists()
    bad = CliRunner().invoke(command, ["--size", "4000", "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "--size" in bad.output

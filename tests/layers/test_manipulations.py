"""Manipulation and channel layers against independent references.

References: `colorsys` and scikit-image for HSV, `scipy.ndimage` for filtering (our
"reflect" is scipy's "mirror", our "symmetric" is scipy's "reflect"), Pillow and
`tf.image.resize` for resizing. Float32 results are compared with atol 1e-5 unless said.
"""
from __future__ import annotations

import colorsys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy import ndimage
from skimage import color as skcolor

from nipkit.layers.awgn import AWGN
from nipkit.layers.downscale import Downscale
from nipkit.layers.gamma import Gamma
from nipkit.layers.gaussian import Gaussian
from nipkit.layers.median import Median
from nipkit.layers.resample import Resample
from nipkit.layers.sharpen import UNSHARP_KERNEL, Sharpen
from nipkit.ops.color import hsv_to_rgb, rgb_to_hsv
from nipkit.testing import check_component, gradients

SCIPY_MODE = {"reflect": "mirror", "symmetric": "reflect", "constant": "constant"}
ODD_SHAPE = (17, 23, 3)


def images(shape=(2, *ODD_SHAPE), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=shape).astype("float32")


def numpy(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def input_gradient(layer, x: np.ndarray) -> np.ndarray:
    """d sum(layer(x)) / dx."""
    var = keras.Variable(x, trainable=True)
    (grad,) = gradients(lambda: keras.ops.sum(layer(var)), [var])
    return numpy(grad)


def special_pixels() -> np.ndarray:
    """Greys, black, white, primaries, secondaries and ties between channels."""
    return np.array(
        [[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0],
         [0, 1, 1], [1, 0, 1], [0.7, 0.7, 0.2], [0.2, 0.7, 0.7], [0.7, 0.2, 0.7],
         [0.3, 0.1, 0.1], [1, 0, 1e-4], [1e-6, 0, 0]],
        dtype="float32",
    )


# --- nipkit.ops.color ---------------------------------------------------------------


def test_rgb_to_hsv_matches_colorsys():
    rgb = np.concatenate([special_pixels(), images((500, 3))])
    ours = numpy(rgb_to_hsv(rgb))
    ref = np.array([colorsys.rgb_to_hsv(*map(float, p)) for p in rgb])
    hue_gap = np.abs(ours[:, 0] - ref[:, 0])
    np.testing.assert_allclose(np.minimum(hue_gap, 1 - hue_gap), 0, atol=1e-5)
    np.testing.assert_allclose(ours[:, 1:], ref[:, 1:], atol=1e-6)
    assert np.all((ours[:, 0] >= 0) & (ours[:, 0] < 1))


def test_hsv_to_rgb_matches_colorsys_and_round_trips():
    hsv = images((500, 3), seed=1)
    ours = numpy(hsv_to_rgb(hsv))
    ref = np.array([colorsys.hsv_to_rgb(*map(float, p)) for p in hsv])
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    rgb = np.concatenate([special_pixels(), images((500, 3), seed=2)])
    np.testing.assert_allclose(numpy(hsv_to_rgb(rgb_to_hsv(rgb))), rgb, atol=1e-6)


def test_color_conversion_gradients_are_finite_on_grey_and_black():
    var = keras.Variable(special_pixels(), trainable=True)
    (grad,) = gradients(lambda: keras.ops.sum(hsv_to_rgb(rgb_to_hsv(var)) * 0.5 + rgb_to_hsv(var) ** 2), [var])
    assert np.all(np.isfinite(numpy(grad)))


def test_color_round_trip_has_identity_gradient_on_generic_pixels():
    var = keras.Variable(images((200, 3), seed=4), trainable=True)
    weights = images((200, 3), seed=5)
    (grad,) = gradients(lambda: keras.ops.sum(hsv_to_rgb(rgb_to_hsv(var)) * weights), [var])
    np.testing.assert_allclose(numpy(grad), weights, atol=1e-4)


# --- Sharpen --------------------------------------------------------------------------


def sharpen_reference(x: np.ndarray, strength: float, padding: str) -> np.ndarray:
    identity = np.zeros((3, 3))
    identity[1, 1] = 1
    kernel = (1 - strength) * identity + strength * UNSHARP_KERNEL.astype("float64")
    hsv = skcolor.rgb2hsv(x.astype("float64"), channel_axis=-1)
    value = ndimage.correlate(hsv[..., 2], kernel[None], mode=SCIPY_MODE[padding], cval=0.0)
    hsv[..., 2] = np.clip(value, 0, 1)
    return np.clip(skcolor.hsv2rgb(hsv, channel_axis=-1), 0, 1)


@pytest.mark.parametrize("padding", ["reflect", "symmetric", "constant"])
@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_sharpen_matches_hsv_unsharp_reference(padding, strength):
    x = images()
    ours = numpy(Sharpen(strength=strength, padding=padding)(x))
    np.testing.assert_allclose(ours, sharpen_reference(x, strength, padding), atol=2e-5)
    assert ours.min() >= 0 and ours.max() <= 1


def test_sharpen_kernel_is_the_papers_and_keeps_flat_areas():
    np.testing.assert_allclose(UNSHARP_KERNEL * 6, [[-1, -4, -1], [-4, 26, -4], [-1, -4, -1]])
    flat = np.full((1, 9, 9, 3), [0.2, 0.5, 0.4], dtype="float32")
    np.testing.assert_allclose(numpy(Sharpen()(flat)), flat, atol=1e-6)
    x = images()
    np.testing.assert_allclose(numpy(Sharpen(strength=0.0)(x)), x, atol=1e-6)


def test_sharpen_rejects_non_rgb_input():
    with pytest.raises(ValueError, match="Sharpen: expects"):
        Sharpen()(images((1, 8, 8, 4)))


# --- Gaussian -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sigma,kernel_size,padding",
    [(0.83, 5, "reflect"), (0.83, 5, "symmetric"), (1.5, 7, "constant"), (0.6, 3, "reflect")],
)
def test_gaussian_matches_scipy_gaussian_filter(sigma, kernel_size, padding):
    x = images()
    radius = kernel_size // 2
    ref = ndimage.gaussian_filter(
        x.astype("float64"), sigma=(0, sigma, sigma, 0), radius=(0, radius, radius, 0),
        mode=SCIPY_MODE[padding], cval=0.0,
    )
    np.testing.assert_allclose(numpy(Gaussian(sigma, kernel_size, padding)(x)), ref, atol=1e-6)


# --- Median ---------------------------------------------------------------------------


@pytest.mark.parametrize("kernel_size,padding", [(3, "reflect"), (5, "symmetric"), (3, "constant")])
def test_median_matches_scipy_median_filter(kernel_size, padding):
    x = images()
    ref = ndimage.median_filter(x, size=(1, kernel_size, kernel_size, 1), mode=SCIPY_MODE[padding], cval=0.0)
    np.testing.assert_array_equal(numpy(Median(kernel_size, padding)(x)), ref)


def test_median_gradient_reaches_exactly_the_selected_pixels():
    k, (h, w) = 3, (9, 11)
    x = images((1, h, w, 1), seed=3)  # distinct values, so every median is one pixel
    index = np.arange(h * w).reshape(h, w)
    padded_index = np.pad(index, k // 2, mode="reflect")
    padded = x[0, :, :, 0].ravel()[padded_index]
    expected = np.zeros(h * w)
    for i in range(h):
        for j in range(w):
            window = padded[i : i + k, j : j + k]
            chosen = np.argwhere(window == np.median(window))[0]
            expected[padded_index[i + chosen[0], j + chosen[1]]] += 1
    grad = input_gradient(Median(k), x)
    np.testing.assert_array_equal(grad[0, :, :, 0], expected.reshape(h, w))


# --- Resample and Downscale ----------------------------------------------------------


def pillow_resize(x: np.ndarray, size, resample, box=None) -> np.ndarray:
    """Resizes each (image, channel) plane with Pillow in float ("F") mode."""
    out = np.empty((x.shape[0], size[0], size[1], x.shape[3]), "float32")
    for n in range(x.shape[0]):
        for c in range(x.shape[3]):
            plane = Image.fromarray(np.ascontiguousarray(x[n, :, :, c]))
            out[n, :, :, c] = np.asarray(plane.resize((size[1], size[0]), resample, box=box))
    return out


@pytest.mark.parametrize("shape", [(2, 17, 23, 3), (2, 32, 24, 3)])
@pytest.mark.parametrize("factor,method", [(0.5, "bilinear"), (0.3, "bilinear"), (0.5, "nearest")])
def test_resample_matches_tf_image_resize(shape, factor, method):
    x = images(shape)
    small = (int(shape[1] * factor), int(shape[2] * factor))
    ref = tf.image.resize(tf.image.resize(x, small, method), shape[1:3], method).numpy()
    np.testing.assert_allclose(numpy(Resample(factor, method)(x)), ref, atol=1e-5)


def test_resample_half_matches_pillow_on_even_sizes():
    # Exactly 1:2 bilinear without antialiasing averages 2x2 blocks (Pillow BOX); 2:1 up
    # is Pillow's bilinear (which clamps at the border the same way).
    x = images((2, 32, 24, 3))
    ref = pillow_resize(pillow_resize(x, (16, 12), Image.Resampling.BOX), (32, 24), Image.Resampling.BILINEAR)
    np.testing.assert_allclose(numpy(Resample(0.5)(x)), ref, atol=1e-5)


@pytest.mark.parametrize("factor", [2, 3])
def test_downscale_area_matches_pillow_box_on_the_cropped_image(factor):
    x = images()
    out_h, out_w = ODD_SHAPE[0] // factor, ODD_SHAPE[1] // factor
    ref = pillow_resize(x, (out_h, out_w), Image.Resampling.BOX, box=(0, 0, out_w * factor, out_h * factor))
    ours = numpy(Downscale(factor, "area")(x))
    assert ours.shape == (2, out_h, out_w, 3)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


@pytest.mark.parametrize("factor", [2, 3])
def test_downscale_bilinear_matches_tf_image_resize_on_the_cropped_image(factor):
    x = images()
    out_h, out_w = ODD_SHAPE[0] // factor, ODD_SHAPE[1] // factor
    ref = tf.image.resize(x[:, : out_h * factor, : out_w * factor], (out_h, out_w), "bilinear").numpy()
    np.testing.assert_allclose(numpy(Downscale(factor, "bilinear")(x)), ref, atol=1e-5)


@pytest.mark.parametrize("layer", [Resample(0.5), Downscale(2, "bilinear"), Downscale(3, "area")], ids=lambda layer: type(layer).__name__)
def test_resizing_layers_accept_sizes_known_only_at_run_time(layer):
    x = images()
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, layer(inputs))
    traced = tf.function(model, input_signature=[tf.TensorSpec((None, None, None, 3))], autograph=False)
    np.testing.assert_allclose(traced(x).numpy(), numpy(layer(x)), atol=1e-6)


# --- Gamma ----------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [1 / 2.2, 0.8, 2.0])
def test_gamma_matches_numpy_power_and_has_bounded_gradient(gamma):
    x = images()
    x[0, :4, :4, :] = 0.0
    x[0, 4, :4, :] = 1e-5
    layer = Gamma(gamma=gamma, eps=1e-3)
    np.testing.assert_allclose(numpy(layer(x)), np.power(x, gamma), atol=1e-6)
    grad = input_gradient(layer, x)
    expected = gamma * np.maximum(x, 1e-3).astype("float64") ** (gamma - 1)
    np.testing.assert_allclose(grad, expected, rtol=1e-4)


def test_gamma_clips_inputs_to_unit_range():
    x = np.array([[[[-0.5, 0.25, 1.5]]]], "float32")
    np.testing.assert_allclose(numpy(Gamma(gamma=0.5)(x)), [[[[0.0, 0.5, 1.0]]]], atol=1e-6)


# --- AWGN -----------------------------------------------------------------------------


def test_awgn_adds_fresh_noise_of_the_given_sigma_in_training_and_inference():
    x = np.full((4, 32, 32, 3), 0.5, "float32")
    layer = AWGN(sigma=0.05, seed=7)
    first, second = numpy(layer(x, training=False)), numpy(layer(x, training=True))
    for out in (first, second):
        noise = out - x
        assert abs(noise.mean()) < 0.005
        assert abs(noise.std() - 0.05) < 0.003
    assert not np.allclose(first, second)
    twin = AWGN(sigma=0.05, seed=7)
    np.testing.assert_array_equal(numpy(twin(x, training=False)), first)


def test_awgn_clips_unless_told_not_to():
    x = np.full((1, 16, 16, 3), 0.5, "float32")
    clipped = numpy(AWGN(sigma=1.0, seed=1)(x))
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    raw = numpy(AWGN(sigma=1.0, clip=False, seed=1)(x))
    assert raw.min() < 0.0 and raw.max() > 1.0


# --- all layers -----------------------------------------------------------------------

LAYERS = [
    Sharpen(strength=0.7, padding="symmetric"),
    Gaussian(sigma=0.83, kernel_size=5),
    Median(kernel_size=3),
    Resample(factor=0.5),
    Downscale(factor=2, method="area"),
    Downscale(factor=2, method="bilinear"),
    Gamma(gamma=0.6),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: type(layer).__name__)
def test_layer_passes_check_component(layer):
    check_component(layer, ODD_SHAPE, batch_size=2)


def test_awgn_passes_check_component():
    check_component(AWGN(sigma=0.02, seed=3), ODD_SHAPE, stochastic=True)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: Sharpen(strength=-1), "Sharpen: strength"),
        (lambda: Sharpen(padding="wrap"), "Sharpen: padding must be one of reflect"),
        (lambda: Gaussian(sigma=0), "Gaussian: sigma must be"),
        (lambda: Gaussian(kernel_size=4), "Gaussian: kernel_size must be a positive odd"),
        (lambda: Median(kernel_size=0), "Median: kernel_size"),
        (lambda: Median(kernel_size=2.0), "Median: kernel_size"),
        (lambda: Resample(factor=1.0), "Resample: factor"),
        (lambda: Resample(method="bicubic"), "Resample: method must be one of bilinear, nearest"),
        (lambda: Downscale(factor=1.5), "Downscale: factor must be an integer"),
        (lambda: Downscale(method="lanczos"), "Downscale: method must be one of area, bilinear"),
        (lambda: AWGN(sigma=-0.1), "AWGN: sigma must be"),
        (lambda: AWGN(seed="x"), "AWGN: seed"),
        (lambda: Gamma(gamma=0), "Gamma: gamma must be"),
        (lambda: Gamma(eps=0), "Gamma: eps"),
    ],
)
def test_constructor_rejects_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()

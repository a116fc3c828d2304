"""ConstrainedConv2D, DepthToSpace and ClipUnit against independent references.

References: `scipy.signal.correlate2d` for the constrained convolution, TensorFlow's
`tf.nn.depth_to_space`, `numpy.clip`.
"""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.signal import correlate2d

from nipkit import registry
from nipkit.errors import ConfigError
from nipkit.layers.clip_unit import ClipUnit
from nipkit.layers.constrained_conv2d import ConstrainedConv2D
from nipkit.layers.depth_to_space import DepthToSpace
from nipkit.testing import check_component, gradients


def numpy(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def assert_residual(kernel: np.ndarray, atol: float = 1e-5) -> None:
    """Every 2-D slice: centre −1, other taps summing to +1."""
    rows, cols = kernel.shape[:2]
    centre = kernel[rows // 2, cols // 2]
    np.testing.assert_allclose(centre, -1.0, atol=atol)
    np.testing.assert_allclose(kernel.sum(axis=(0, 1)) - centre, 1.0, atol=atol)


# -- ConstrainedConv2D -----------------------------------------------------------------
def test_constrained_conv_matches_scipy_with_constrained_kernel():
    keras.utils.set_random_seed(1)
    layer = ConstrainedConv2D(filters=2, kernel_size=5)
    x = np.random.default_rng(0).uniform(size=(1, 12, 10, 3)).astype("float32")
    out = numpy(layer(x))
    kernel = numpy(layer.constrained_kernel())
    assert_residual(kernel)
    for o in range(2):
        expected = sum(correlate2d(x[0, ..., i], kernel[:, :, i, o], mode="valid") for i in range(3))
        np.testing.assert_allclose(out[0, ..., o], expected, atol=1e-6 * np.abs(kernel[..., o]).sum())


def test_constrained_conv_flat_image_gives_zero():
    keras.utils.set_random_seed(0)
    for _ in range(20):
        layer = ConstrainedConv2D(filters=3, kernel_size=5)
        flat = np.ones((2, 16, 16, 3), "float32") * np.array([0.2, 0.5, 0.9], "float32")
        output = numpy(layer(flat))
        # float32 rounding grows with the kernel's size (a small free-tap sum inflates it)
        scale = np.abs(numpy(layer.constrained_kernel())).sum(axis=(0, 1, 2)).max()
        assert np.max(np.abs(output)) < 1e-6 * scale


def test_constrained_conv_no_nan_when_free_taps_sum_to_zero():
    layer = ConstrainedConv2D(filters=2, kernel_size=3)
    layer.build((None, 8, 8, 2))
    raw = np.zeros((3, 3, 2, 2), "float32")
    raw[0, 0], raw[2, 2] = 0.7, -0.7  # free taps sum to exactly 0
    raw[0, 1, :, 1], raw[1, 0, :, 1] = 0.3, -0.3 + 1e-8  # ~0 but not exactly
    raw[1, 1] = 5.0  # the stored centre is ignored
    layer.kernel.assign(raw)
    x = keras.ops.convert_to_tensor(np.random.default_rng(1).uniform(size=(1, 8, 8, 2)).astype("float32"))
    kernel = numpy(layer.constrained_kernel())
    assert np.all(np.isfinite(kernel))
    assert_residual(kernel)
    grads = gradients(lambda: keras.ops.sum(layer(x) ** 2), [layer.kernel])
    assert np.all(np.isfinite(numpy(grads[0])))


def test_constrained_conv_holds_after_optimiser_steps():
    layer = ConstrainedConv2D(filters=3, kernel_size=5)
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(4, 16, 16, 3)).astype("float32")
    target = rng.normal(size=(4, 12, 12, 3)).astype("float32")
    layer(x)
    optimizer = keras.optimizers.Adam(learning_rate=0.1)
    before = numpy(layer.kernel).copy()
    for _ in range(5):
        grads = gradients(lambda: keras.ops.mean((layer(x) - target) ** 2), [layer.kernel])
        optimizer.apply(grads, [layer.kernel])
    assert not np.allclose(numpy(layer.kernel), before)
    assert_residual(numpy(layer.constrained_kernel()))


def test_constrained_conv_rejects_even_kernel_and_builds_from_registry():
    with pytest.raises(ValueError, match="odd kernel_size"):
        ConstrainedConv2D(kernel_size=4)
    with pytest.raises(ConfigError, match="constrained_conv2d"):
        registry.layers.build({"type": "constrained_conv2d", "kernel_size": 2})
    layer = registry.layers.build({"constrained_conv2d": {"filters": 4, "kernel_size": 3}})
    layer.build((None, 8, 8, 3))
    assert layer.count_params() == 3 * 3 * 3 * 4


@pytest.mark.parametrize("kwargs", [{}, {"filters": 4, "kernel_size": 3, "use_bias": True, "padding": "same"}])
def test_constrained_conv_check_component(kwargs):
    check_component(ConstrainedConv2D(**kwargs), (12, 12, 3))


# -- DepthToSpace ------------------------------------------------------------------------
@pytest.mark.parametrize("block, shape", [(2, (2, 3, 5, 12)), (2, (1, 4, 4, 8)), (3, (1, 2, 3, 18))])
def test_depth_to_space_matches_tensorflow(block, shape):
    x = np.random.default_rng(0).uniform(size=shape).astype("float32")
    np.testing.assert_array_equal(numpy(DepthToSpace(block)(x)), tf.nn.depth_to_space(x, block).numpy())


def test_depth_to_space_unknown_sizes_and_errors():
    out = DepthToSpace(2)(keras.Input((None, None, 12)))
    assert tuple(out.shape) == (None, None, None, 3)
    with pytest.raises(ValueError, match="multiple of 4"):
        DepthToSpace(2)(np.zeros((1, 2, 2, 6), "float32"))
    with pytest.raises(ValueError, match="block_size"):
        DepthToSpace(1)


def test_depth_to_space_check_component():
    check_component(DepthToSpace(2), (5, 7, 12))


# -- ClipUnit ----------------------------------------------------------------------------
def test_clip_unit_forward_clips_and_gradient_passes_through():
    x = np.array([[-2.0, -0.1, 0.0, 0.3, 1.0, 1.3, 7.5]], "float32")
    np.testing.assert_array_equal(numpy(ClipUnit()(x)), np.clip(x, 0, 1))
    xs = [tf.constant(x)]
    grads = gradients(lambda: keras.ops.sum(ClipUnit()(xs[0]) * np.arange(7, dtype="float32")), xs)
    np.testing.assert_array_equal(numpy(grads[0]), np.arange(7, dtype="float32")[None])


def test_clip_unit_check_component():
    x = np.random.default_rng(0).uniform(-0.5, 1.5, size=(2, 6, 6, 3)).astype("float32")
    check_component(ClipUnit(), (6, 6, 3), inputs=x)

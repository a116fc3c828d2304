"""PSNR, SSIM and the fidelity losses against scikit-image and TensorFlow's references."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from nipkit.evaluation.metrics import mean_psnr, mean_ssim, psnr, ssim
from nipkit.training.losses import FIDELITY_LOSSES


def pair(shape=(3, 40, 37, 3), noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    target = ndimage.gaussian_filter(rng.uniform(size=shape), (0, 2, 2, 0)).astype("float32")
    output = np.clip(target + rng.normal(0, noise, shape), 0, 1).astype("float32")
    return target, output


def skimage_ssim(a, b):
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=1.0, channel_axis=-1)


def test_psnr_matches_scikit_image():
    target, output = pair()
    expected = [peak_signal_noise_ratio(t, o, data_range=1.0) for t, o in zip(target, output)]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(psnr(target, output)), expected, rtol=1e-5)
    assert mean_psnr(target, output) == pytest.approx(np.mean(expected), rel=1e-5)


def test_psnr_of_identical_images():
    target, _ = pair()
    assert np.all(np.isinf(keras.ops.convert_to_numpy(psnr(target, target))))
    assert np.all(keras.ops.convert_to_numpy(psnr(target, target, max_db=100.0)) == 100.0)


@pytest.mark.parametrize("noise", [0.01, 0.2])
def test_ssim_matches_scikit_image_and_tensorflow(noise):
    target, output = pair(noise=noise)
    ours = keras.ops.convert_to_numpy(ssim(target, output))
    np.testing.assert_allclose(ours, [skimage_ssim(t, o) for t, o in zip(target, output)], atol=1e-5)
    np.testing.assert_allclose(ours, tf.image.ssim(target, output, max_val=1.0).numpy(), atol=1e-5)
    assert mean_ssim(target, target) == pytest.approx(1.0, abs=1e-6)


def test_ssim_rejects_images_smaller_than_its_window():
    with pytest.raises(ValueError, match="11"):
        ssim(np.zeros((1, 8, 8, 3), "float32"), np.zeros((1, 8, 8, 3), "float32"))


def test_fidelity_losses_per_image():
    target, output = pair()
    l2 = keras.ops.convert_to_numpy(FIDELITY_LOSSES["l2"](target, output))
    l1 = keras.ops.convert_to_numpy(FIDELITY_LOSSES["l1"](target, output))
    dssim = keras.ops.convert_to_numpy(FIDELITY_LOSSES["ssim"](target, output))
    np.testing.assert_allclose(l2, ((target - output) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(l1, np.abs(target - output).mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(dssim, [1 - skimage_ssim(t, o) for t, o in zip(target, output)], atol=1e-5)


def test_ssim_loss_has_gradients():
    target, output = pair(shape=(1, 24, 24, 3))
    variable = tf.Variable(output)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(FIDELITY_LOSSES["ssim"](target, variable))
    gradient = tape.gradient(loss, variable).numpy()
    assert np.all(np.isfinite(gradient)) and np.any(gradient != 0)

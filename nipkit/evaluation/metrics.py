"""Image fidelity metrics: PSNR and SSIM, per image, written with `keras.ops`.

Both take NHWC batches (NumPy arrays or tensors of the active Keras backend) and return
one value per image as a backend tensor; `keras.ops.convert_to_numpy` turns it into NumPy.
They are differentiable, so training code can use them as losses too.

SSIM follows Wang et al. 2004 as scikit-image (`gaussian_weights=True`,
`use_sample_covariance=False`) and `tf.image.ssim` compute it: an 11×11 Gaussian window
with σ = 1.5 over the fully covered pixels only, K1 = 0.01, K2 = 0.03, averaged over
pixels and channels.

Example:
    >>> import numpy as np
    >>> target = np.full((1, 16, 16, 3), 0.5, "float32")
    >>> output = target + 0.01
    >>> round(float(psnr(target, output)[0]), 2)
    40.0
"""
from __future__ import annotations

import numpy as np
from keras import ops

from nipkit.ops.filtering import gaussian_kernel

__all__ = ["psnr", "ssim", "mean_psnr", "mean_ssim"]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _as_float(x):
    return ops.cast(ops.convert_to_tensor(x), "float32")


def psnr(target, output, data_range: float = 1.0, max_db: float | None = None):
    """Peak signal-to-noise ratio of each image, in dB.

    Args:
        target: (batch, height, width, channels) reference images.
        output: images of the same shape.
        data_range: the largest possible value minus the smallest (1 for [0, 1] images).
        max_db: the value returned for identical images (mean squared error 0); None
            gives `inf`, as scikit-image does.

    Returns:
        A (batch,) tensor.
    """
    target, output = _as_float(target), _as_float(output)
    mse = ops.mean(ops.square(target - output), axis=(1, 2, 3))
    value = 10.0 * ops.log10(data_range**2 / mse)
    return value if max_db is None else ops.minimum(value, max_db)


def _window_mean(images, kernel: np.ndarray):
    """Gaussian-weighted local means over the positions where the window fits entirely."""
    channels = images.shape[-1]
    depthwise = np.tile(kernel[:, :, None, None], (1, 1, channels, 1))
    return ops.depthwise_conv(images, ops.convert_to_tensor(depthwise), strides=1, padding="valid")


def ssim(target, output, data_range: float = 1.0):
    """Structural similarity of each image (mean over pixels and channels).

    Args:
        target: (batch, height, width, channels) reference images, at least 11×11.
        output: images of the same shape.
        data_range: the largest possible value minus the smallest.

    Returns:
        A (batch,) tensor in [-1, 1]; 1 for identical images.
    """
    target, output = _as_float(target), _as_float(output)
    height, width = target.shape[1], target.shape[2]
    if height is not None and width is not None and min(height, width) < SSIM_WINDOW:
        raise ValueError(f"ssim: images must be at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, got {height}×{width}")
    kernel = gaussian_kernel(SSIM_SIGMA, SSIM_WINDOW)
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mu_t = _window_mean(target, kernel)
    mu_o = _window_mean(output, kernel)
    var_t = _window_mean(target * target, kernel) - mu_t * mu_t
    var_o = _window_mean(output * output, kernel) - mu_o * mu_o
    cov = _window_mean(target * output, kernel) - mu_t * mu_o
    numerator = (2.0 * mu_t * mu_o + c1) * (2.0 * cov + c2)
    denominator = (mu_t * mu_t + mu_o * mu_o + c1) * (var_t + var_o + c2)
    return ops.mean(numerator / denominator, axis=(1, 2, 3))


def mean_psnr(target, output, data_range: float = 1.0) -> float:
    """The mean of the per-image PSNR, as a Python float (dB)."""
    return float(ops.convert_to_numpy(ops.mean(psnr(target, output, data_range))))


def mean_ssim(target, output, data_range: float = 1.0) -> float:
    """The mean of the per-image SSIM, as a Python float."""
    return float(ops.convert_to_numpy(ops.mean(ssim(target, output, data_range))))

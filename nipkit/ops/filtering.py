"""Border padding, fixed-kernel filtering and resizing shared by nipkit's image layers.

Border modes (the name of the mode in `scipy.ndimage` in brackets):

- ``"reflect"`` mirrors about the edge pixel, which is not repeated: ``d c b | a b c d``
  (scipy ``"mirror"``; numpy/TensorFlow ``"reflect"``). The default everywhere.
- ``"symmetric"`` mirrors about the edge, repeating the edge pixel: ``b a | a b c d``
  (scipy ``"reflect"``; numpy/TensorFlow ``"symmetric"``).
- ``"constant"`` pads with zeros (black).

`"reflect"` needs a border narrower than the image (kernel radius < height and width).

Example:
    >>> import numpy as np
    >>> images = np.random.default_rng(0).uniform(size=(1, 8, 8, 3)).astype("float32")
    >>> blurred = filter2d(images, gaussian_kernel(sigma=0.83, size=5))
    >>> tuple(blurred.shape)
    (1, 8, 8, 3)
"""
from __future__ import annotations

import math

import numpy as np
from keras import ops

__all__ = [
    "check_border_fits",
    "PADDING_MODES",
    "RESIZE_METHODS",
    "check_padding",
    "check_kernel_size",
    "pad_borders",
    "filter2d",
    "gaussian_kernel",
    "gaussian_profiles",
    "kernel_radii",
    "separable_filter_per_image",
    "spatial_size",
    "scaled_size",
    "interpolation_matrix",
    "interpolation_matrices",
    "resize_images",
]

PADDING_MODES = ("reflect", "symmetric", "constant")
RESIZE_METHODS = ("bilinear", "nearest")


def check_padding(padding: str, component: str) -> str:
    """Returns `padding` if it is a known border mode, else raises ValueError."""
    if padding not in PADDING_MODES:
        raise ValueError(f"{component}: padding must be one of {', '.join(PADDING_MODES)}; got {padding!r}")
    return padding


def check_kernel_size(kernel_size: int, component: str) -> int:
    """Returns `kernel_size` if it is a positive odd integer, else raises ValueError."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, (int, np.integer)):
        raise ValueError(f"{component}: kernel_size must be a positive odd integer; got {kernel_size!r}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"{component}: kernel_size must be a positive odd integer; got {kernel_size}")
    return int(kernel_size)


def check_border_fits(input_shape: tuple, border: int, padding: str, component: str) -> tuple:
    """Returns `input_shape` if a border of `border` pixels can be padded in `padding` mode.

    Mirroring ("reflect", "symmetric") needs images wider than the border ("reflect"
    strictly); layers call this from `compute_output_shape`, so a symbolic pass (e.g.
    `nipkit validate`) finds a kernel too large for the images before any data is read.

    Example:
        >>> check_border_fits((None, 16, 16, 3), 20, "reflect", "Gaussian")
        Traceback (most recent call last):
        ...
        ValueError: Gaussian: a border of 20 pixels (reflect padding) needs images larger than 20×20; got 16×16
    """
    needs = {"reflect": border + 1, "symmetric": border}.get(padding, 0)
    sides = [side for side in tuple(input_shape)[1:3] if side is not None]
    if border and any(side < needs for side in sides):
        shown = "×".join("?" if s is None else str(s) for s in tuple(input_shape)[1:3])
        raise ValueError(
            f"{component}: a border of {border} pixels ({padding} padding) needs images larger than "
            f"{needs - 1}×{needs - 1}; got {shown}"
        )
    return tuple(input_shape)


def pad_borders(images, pad_h: int, pad_w: int, padding: str = "reflect"):
    """Pads NHWC `images` by `pad_h` rows and `pad_w` columns on each side.

    Args:
        images: a (batch, height, width, channels) tensor.
        pad_h: rows added above and below.
        pad_w: columns added left and right.
        padding: the border mode, one of `PADDING_MODES`.
    """
    if pad_h == 0 and pad_w == 0:
        return images
    widths = [[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]]
    return ops.pad(images, widths, mode=padding)


def filter2d(images, kernel: np.ndarray, padding: str = "reflect"):
    """Correlates every channel of NHWC `images` with one fixed 2D kernel; same output size.

    Like Keras convolutions this is a correlation (the kernel is not flipped); it equals a
    convolution for the symmetric kernels nipkit uses.

    Args:
        images: a (batch, height, width, channels) tensor with a known channel count.
        kernel: a (kh, kw) array with odd sides.
        padding: the border mode, one of `PADDING_MODES`.
    """
    kernel = np.asarray(kernel, dtype="float32")
    kh, kw = kernel.shape
    channels = images.shape[-1]
    depthwise = np.tile(kernel[:, :, None, None], (1, 1, channels, 1))
    padded = pad_borders(images, kh // 2, kw // 2, padding)
    return ops.depthwise_conv(padded, ops.cast(depthwise, images.dtype), strides=1, padding="valid")


def gaussian_kernel(sigma: float, size: int) -> np.ndarray:
    """A normalised (size, size) Gaussian kernel, exp(-(x² + y²) / (2σ²)) / sum."""
    radius = np.arange(size, dtype="float64") - (size - 1) / 2
    profile = np.exp(-(radius**2) / (2.0 * sigma**2))
    profile /= profile.sum()
    return np.outer(profile, profile).astype("float32")


def kernel_radii(sizes):
    """The radius of each drawn kernel size, a (batch,) tensor: round((size − 1) / 2).

    A size between two odd ones rounds to one of them (half-way to the even radius, as
    `ops.round` does), so `{uniform: [3, 7]}` draws the odd sizes 3, 5 and 7.
    """
    return ops.round((ops.reshape(ops.cast(sizes, "float32"), (-1,)) - 1.0) / 2.0)


def gaussian_profiles(sigma, size: int, sizes=None):
    """(batch, size) normalised 1D Gaussian profiles, one per entry of the (batch,) tensor `sigma`.

    The outer product of a row with itself is `gaussian_kernel(sigma[i], size)`. With
    `sizes` (a (batch,) tensor of kernel sizes up to `size`), row i is cut to sizes[i]
    taps (zeros outside) before it is normalised: `gaussian_kernel(sigma[i], sizes[i])`
    centred in `size` taps.
    """
    radius = np.arange(size, dtype="float32") - (size - 1) / 2
    sigma = ops.reshape(ops.cast(sigma, "float32"), (-1, 1))
    profile = ops.exp(-ops.convert_to_tensor(radius**2)[None, :] / (2.0 * sigma**2))
    if sizes is not None:
        inside = ops.convert_to_tensor(np.abs(radius))[None, :] <= kernel_radii(sizes)[:, None]
        profile = profile * ops.cast(inside, "float32")
    return profile / ops.sum(profile, axis=1, keepdims=True)


def _shifted_sum(images, weights, axis: int, padding: str):
    """Σ_j weights[:, j] · (images shifted by j − k//2 along `axis`), borders padded."""
    size = weights.shape[1]
    channels = images.shape[-1]
    radius = size // 2
    padded = pad_borders(images, radius if axis == 1 else 0, radius if axis == 2 else 0, padding)
    # One depthwise convolution with `size` one-hot kernels yields every shifted copy at once.
    deltas = np.eye(size, dtype="float32").reshape((size, 1, 1, size) if axis == 1 else (1, size, 1, size))
    shifted = ops.depthwise_conv(padded, ops.cast(np.tile(deltas, (1, 1, channels, 1)), images.dtype),
                                 strides=1, padding="valid")
    batch, height, width = ops.shape(shifted)[0], ops.shape(shifted)[1], ops.shape(shifted)[2]
    shifted = ops.reshape(shifted, (batch, height, width, channels, size))
    return ops.sum(shifted * ops.cast(weights, images.dtype)[:, None, None, None, :], axis=-1)


def separable_filter_per_image(images, profiles, padding: str = "reflect"):
    """Correlates every channel of image i with outer(profiles[i], profiles[i]); same output size.

    Args:
        images: a (batch, height, width, channels) tensor with a known channel count.
        profiles: a (batch, k) tensor of 1D kernels with a static odd k, one per image.
        padding: the border mode, one of `PADDING_MODES`.
    """
    return _shifted_sum(_shifted_sum(images, profiles, 2, padding), profiles, 1, padding)


def spatial_size(images) -> tuple:
    """(height, width) of NHWC `images`: ints where static, scalar tensors where not."""
    shape = ops.shape(images)
    return shape[1], shape[2]


def scaled_size(size, factor: float):
    """max(1, floor(size · factor)), for an int or a scalar tensor `size`."""
    if isinstance(size, (int, np.integer)):
        # The small epsilon keeps e.g. 0.29 · 100 = 28.999… from flooring to 28.
        return max(1, math.floor(size * factor + 1e-9))
    scaled = ops.floor(ops.cast(size, "float32") * factor + 1e-6)
    return ops.maximum(ops.cast(scaled, "int32"), 1)


def interpolation_matrix(in_size, out_size, method: str = "bilinear"):
    """The (out_size, in_size) matrix that resizes one axis, half-pixel centres.

    Output sample o sits at input coordinate (o + 0.5) · in_size / out_size − 0.5 (pixel
    centres at integers). "bilinear" weighs the two nearest inputs linearly, clamping the
    coordinate to [0, in_size − 1] (so borders repeat the edge pixel) and never averaging
    more than two inputs (no antialiasing); "nearest" picks input
    min(floor((o + 0.5) · in_size / out_size), in_size − 1). Sizes may be scalar tensors.
    """
    return interpolation_matrices(in_size, out_size, in_size, out_size, method)[0]


def interpolation_matrices(in_sizes, out_sizes, in_padded, out_padded, method: str = "bilinear"):
    """(batch, out_padded, in_padded) matrices that resize one axis, one size pair per image.

    Entry b holds `interpolation_matrix(in_sizes[b], out_sizes[b])` in its top-left corner
    and zeros elsewhere, so images of one batch can be resized to different sizes inside
    tensors of one padded size.

    Args:
        in_sizes, out_sizes: (batch,) tensors of sizes, or scalars shared by the batch.
        in_padded, out_padded: the padded sizes (ints or scalar tensors), >= every size.
        method: one of `RESIZE_METHODS`.
    """
    in_sizes = ops.reshape(ops.cast(in_sizes, "float32"), (-1, 1, 1))
    out_sizes = ops.reshape(ops.cast(out_sizes, "float32"), (-1, 1, 1))
    outputs = ops.cast(ops.arange(out_padded), "float32")[None, :, None]
    positions = ops.cast(ops.arange(in_padded), "float32")[None, None, :]
    centres = (outputs + 0.5) * (in_sizes / out_sizes)
    last = in_sizes - 1.0
    if method == "nearest":
        weights = ops.cast(ops.equal(ops.minimum(ops.floor(centres), last), positions), "float32")
    else:  # inputs past in_sizes[b] get no weight: the clamped coordinate stays within 1 of them
        coords = ops.minimum(ops.maximum(centres - 0.5, 0.0), last)
        weights = ops.relu(1.0 - ops.abs(coords - positions))
    return weights * ops.cast(outputs < out_sizes, "float32")


def resize_images(images, size, method: str = "bilinear"):
    """Resizes NHWC `images` to `size` = (height, width), separably, without antialiasing.

    Matches TensorFlow 2's `tf.image.resize(..., antialias=False)` for "bilinear" and
    "nearest" (see `interpolation_matrix`). Written as two small matrix products so that
    it is differentiable and works when the sizes are only known at run time.

    Args:
        images: a (batch, height, width, channels) tensor.
        size: the output (height, width), ints or scalar tensors.
        method: one of `RESIZE_METHODS`.
    """
    height, width = spatial_size(images)
    rows = ops.cast(interpolation_matrix(height, size[0], method), images.dtype)
    cols = ops.cast(interpolation_matrix(width, size[1], method), images.dtype)
    resized = ops.einsum("oh,bhwc->bowc", rows, images)
    return ops.einsum("pw,bowc->bopc", cols, resized)

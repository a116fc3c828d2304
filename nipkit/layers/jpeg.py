"""DifferentiableJPEG: JPEG compression as a Keras layer that agrees with libjpeg."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from nipkit.ops.dct import forward_dct, inverse_dct
from nipkit.ops.jpeg_tables import (
    CHROMINANCE_TABLE,
    LUMINANCE_TABLE,
    RGB_TO_YCBCR_FIXED,
    YCBCR_TO_RGB_FIXED,
    check_quality,
    quantization_table,
    quantization_tables,
)
from nipkit.ops.padding import pad_edge, round_up
from nipkit.ops.rounding import (
    approximate_round,
    check_rounding,
    clip_ste,
    floor_ste,
    straight_through,
)

__all__ = ["DifferentiableJPEG", "SUBSAMPLINGS"]

SUBSAMPLINGS = ("4:4:4", "4:2:0")
_NAME = "DifferentiableJPEG"


@keras.saving.register_keras_serializable(package="nipkit")
class DifferentiableJPEG(keras.layers.Layer):
    """JPEG compression and decompression (JFIF, baseline, IJG tables) with useful gradients.

    The forward pass follows libjpeg's default path step by step, in exact integer
    arithmetic carried in float32: 8-bit RGB, fixed-point RGB→YCbCr, 2×2 chroma
    averaging with libjpeg's alternating rounding bias (4:2:0), the "islow" integer DCT,
    quantisation with the IJG tables scaled by quality, the "islow" inverse DCT,
    triangular ("fancy") chroma up-sampling (4:2:0; plain repetition for chroma at most
    2 samples wide, as libjpeg does) and fixed-point YCbCr→RGB. With ``rounding="round"``
    or ``"ste"`` it reproduces the decoded images of libjpeg-turbo (the libjpeg Pillow
    ships) bit for bit. Partial blocks are padded by edge replication as libjpeg does;
    any height, width and batch size work.

    The backward pass sees a float JPEG model: every integer step (8-bit rounding,
    fixed-point descaling, clipping) is straight-through, and quantisation uses the
    chosen rounding approximation (see `nipkit.ops.rounding`). A per-image quality tensor
    receives a gradient too: the tables follow a continuous quality (straight-through on
    their integer entries), and the de-quantised coefficient Q·round(c/Q) has derivative
    round(c/Q) − c/Q w.r.t. each table entry Q (the rounding error scales with the step),
    in every rounding mode.

    The result is the same on every device and under every dtype policy: the layer
    computes in float32 (its dtype is "float32" unless given, and inputs are never
    cast down), and where a GPU or TPU is visible its integer transforms split their
    operands so that matmuls which round operands to 10 mantissa bits (TensorFloat-32,
    the default of float32 matmuls on recent NVIDIA GPUs) stay exact (see
    `nipkit.ops.integer_matmul`).

    Args:
        quality: JPEG quality, an integer from 1 to 100 (used when the call gives none).
        rounding: quantisation rounding: "round" (hard, no gradient), "ste" (hard forward,
            identity gradient; the training default), "sin", "harmonic" or "cubic".
        subsampling: chroma subsampling, "4:4:4" or "4:2:0".
        harmonic_terms: number of sine terms of the "harmonic" rounding.
        **kwargs: base `keras.layers.Layer` arguments (name, dtype, ...). `dtype`
            defaults to "float32" whatever the global policy (e.g. "mixed_float16"): a
            lower precision would change the decoded pixels.

    Call arguments:
        inputs: RGB images (batch, height, width, 3) in [0, 1]; or a list
            `[images, quality]` with a (batch,) quality tensor.
        quality: optional per-image quality, a (batch,) tensor of values in [1, 100]
            (rounded to integers in the forward pass), overriding the layer's quality.

    Returns:
        The decoded images, same shape, in [0, 1] (multiples of 1/255 when rounding is
        "round" or "ste").

    Example:
        >>> import numpy as np
        >>> jpeg = DifferentiableJPEG(quality=50)
        >>> x = np.random.default_rng(0).uniform(size=(2, 37, 53, 3)).astype("float32")
        >>> tuple(jpeg(x).shape)
        (2, 37, 53, 3)
        >>> tuple(jpeg(x, quality=np.array([20.0, 90.0], "float32")).shape)
        (2, 37, 53, 3)
    """

    # Arguments a config may draw at random (see `nipkit.random_values`), given to `call` per image.
    RANDOM_ARGUMENTS = {"quality": "image"}

    def __init__(
        self,
        quality: int = 50,
        rounding: str = "ste",
        subsampling: str = "4:4:4",
        harmonic_terms: int = 5,
        **kwargs,
    ) -> None:
        # Casting inputs down to float16 would move pixels across rounding boundaries.
        kwargs["dtype"] = kwargs.get("dtype") or "float32"
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.quality = check_quality(quality, _NAME)
        self.rounding, self.harmonic_terms = check_rounding(rounding, harmonic_terms, _NAME)
        if subsampling not in SUBSAMPLINGS:
            raise ValueError(f"{_NAME}: subsampling must be one of {', '.join(SUBSAMPLINGS)}; got {subsampling!r}")
        self.subsampling = subsampling

    def call(self, inputs, quality=None):
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 2 or quality is not None:
                raise ValueError(f"{_NAME}: inputs must be images or [images, quality]")
            inputs, quality = inputs
        if inputs.shape[-1] is not None and inputs.shape[-1] != 3:
            raise ValueError(f"{_NAME}: inputs must be RGB (last axis 3); got shape {tuple(inputs.shape)}")
        if quality is None:
            luma = _constant_table(LUMINANCE_TABLE, self.quality)
            chroma = _constant_table(CHROMINANCE_TABLE, self.quality)
        else:
            quality = ops.reshape(ops.cast(quality, "float32"), (-1,))
            luma = _per_image_table(quantization_tables(quality, LUMINANCE_TABLE))
            chroma = _per_image_table(quantization_tables(quality, CHROMINANCE_TABLE))
        codec = _Codec(self.rounding, self.harmonic_terms, quality_gradient=quality is not None)
        outputs = codec(ops.cast(inputs, "float32"), luma, chroma, self.subsampling)
        return ops.cast(outputs, self.compute_dtype)

    def reference(self, images, quality=None):
        """The real counterpart (channel-step contract): libjpeg through Pillow, numpy in and out.

        `quality`, when given, is one value per image (rounded to the nearest integer).
        """
        from nipkit.evaluation.libjpeg import roundtrip

        qualities = int(self.quality) if quality is None else np.rint(np.asarray(quality, "float64")).astype(int)
        return roundtrip(images, qualities, self.subsampling)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            quality=self.quality,
            rounding=self.rounding,
            subsampling=self.subsampling,
            harmonic_terms=self.harmonic_terms,
        )
        return config


def _constant_table(base: np.ndarray, quality: int):
    """A (1, 1, 1, 1, 8, 8) table, transposed to the [u, v] layout of `forward_dct`."""
    return ops.convert_to_tensor(quantization_table(base, quality).T.reshape(1, 1, 1, 1, 8, 8).astype("float32"))


def _per_image_table(tables):
    """(batch, 8, 8) tables → (batch, 1, 1, 1, 8, 8), transposed like `_constant_table`."""
    return ops.reshape(ops.swapaxes(tables, -1, -2), (-1, 1, 1, 1, 8, 8))


class _Codec:
    """The encode/decode pipeline on planar (batch, channel, height, width) tensors."""

    def __init__(self, rounding: str, harmonic_terms: int, quality_gradient: bool) -> None:
        self.rounding = rounding
        self.harmonic_terms = harmonic_terms
        self.quality_gradient = quality_gradient

    def __call__(self, images, luma_table, chroma_table, subsampling: str):
        shape = ops.shape(images)
        height, width = shape[1], shape[2]
        block = 16 if subsampling == "4:2:0" else 8
        padded_h, padded_w = round_up(height, block), round_up(width, block)

        rgb = straight_through(ops.clip(ops.round(images * 255.0), 0.0, 255.0), images * 255.0)
        rgb = ops.transpose(rgb, (0, 3, 1, 2))
        rgb = pad_edge(pad_edge(rgb, 2, height, padded_h), 3, width, padded_w)
        ycc = _rgb_to_ycbcr(rgb)
        if subsampling == "4:4:4":
            tables = ops.concatenate([luma_table, chroma_table, chroma_table], axis=1)
            planes = self._block_codec(ycc, tables)[:, :, :height, :width]
        else:
            luma = self._block_codec(ycc[:, :1], luma_table)[:, :, :height, :width]
            chroma = self._chroma_420(ycc[:, 1:], chroma_table, height, width, padded_h)
            planes = ops.concatenate([luma, chroma], axis=1)
        rgb = _ycbcr_to_rgb(planes)
        return ops.transpose(rgb, (0, 2, 3, 1)) / 255.0

    def _chroma_420(self, chroma, table, height, width, padded_h):
        """libjpeg's 4:2:0 chroma path: rows padded to even, 2×2 mean, codec, fancy up-sampling."""
        even_h = round_up(height, 2)
        small = _downsample(chroma[:, :, :even_h])
        small = pad_edge(small, 2, even_h // 2, padded_h // 2)
        small = self._block_codec(small, table)[:, :, : (height + 1) // 2, : (width + 1) // 2]
        return _upsample(small, (width + 1) // 2)[:, :, :height, :width]

    def _block_codec(self, planes, tables):
        """Level shift, integer DCT, quantisation, integer inverse DCT of block-aligned planes."""
        coefficients = forward_dct(planes - 128.0)
        fixed = ops.stop_gradient(tables)
        step = 8.0 * fixed  # the islow DCT is 8 × the orthonormal DCT-II
        hard = None
        if self.rounding in ("round", "ste", "ste_sin", "cubic"):
            # libjpeg: (|c| + step/2) // step with the sign restored. The extra 0.5 keeps the
            # floor exact even where a division by a constant becomes a reciprocal multiply.
            hard = ops.sign(coefficients) * ops.floor((ops.abs(coefficients) + 0.5 * step + 0.5) / step)
        scaled = coefficients / step
        levels = approximate_round(scaled, self.rounding, self.harmonic_terms, hard=hard)
        dequantized = levels * fixed
        if self.quality_gradient:
            # The error scales with the step: d(dequantized)/dQ = levels − c/Q, in every mode.
            dequantized = dequantized + (tables - fixed) * ops.stop_gradient(levels - scaled)
        return inverse_dct(dequantized, ops.shape(planes))


def _rgb_to_ycbcr(rgb):
    """8-bit planar RGB → 8-bit YCbCr in libjpeg's fixed point (rounding offsets included)."""
    offsets = (32768.0, 128.0 * 65536 + 32767, 128.0 * 65536 + 32767)
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    planes = [
        floor_ste((float(wr) * r + float(wg) * g + float(wb) * b + offset) / 65536.0)
        for (wr, wg, wb), offset in zip(RGB_TO_YCBCR_FIXED, offsets)
    ]
    return ops.stack(planes, axis=1)


def _ycbcr_to_rgb(ycc):
    """8-bit planar YCbCr → 8-bit RGB in libjpeg's fixed point, clipped to [0, 255]."""
    y, cb, cr = ycc[:, 0], ycc[:, 1] - 128.0, ycc[:, 2] - 128.0
    k = YCBCR_TO_RGB_FIXED
    r = y + floor_ste((k["r_cr"] * cr + 32768.0) / 65536.0)
    g = y + floor_ste((k["g_cb"] * cb + k["g_cr"] * cr + 32768.0) / 65536.0)
    b = y + floor_ste((k["b_cb"] * cb + 32768.0) / 65536.0)
    return clip_ste(ops.stack([r, g, b], axis=1), 0.0, 255.0)


def _downsample(planes):
    """2×2 means of even-sized planes, rounded as libjpeg: (sum + 1 or 2, alternating) >> 2."""
    _, channels, height, width = ops.shape(planes)
    sums = ops.sum(ops.reshape(planes, (-1, channels, height // 2, 2, width // 2, 2)), axis=(3, 5))
    bias = 1.0 + ops.cast(ops.arange(width // 2) % 2, "float32")
    return floor_ste((sums + bias) / 4.0)


def _shift(planes, axis: int, step: int):
    """Neighbours along `axis` (step −1: previous, +1: next), repeating the edge."""
    first, last = _slice(planes, axis, 0, 1), _slice(planes, axis, -1, None)
    if step < 0:
        return ops.concatenate([first, _slice(planes, axis, 0, -1)], axis=axis)
    return ops.concatenate([_slice(planes, axis, 1, None), last], axis=axis)


def _slice(x, axis: int, start, stop):
    index = [slice(None)] * 4
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def _interleave(even, odd, axis: int):
    """Alternates slices of `even` and `odd` along `axis` (doubling it)."""
    shape = list(ops.shape(even))
    shape[axis] = shape[axis] * 2
    shape[0] = -1
    return ops.reshape(ops.stack([even, odd], axis=axis + 1), shape)


def _upsample(planes, small_width):
    """libjpeg's choice: fancy up-sampling, or plain repetition for chroma ≤ 2 samples wide."""
    if isinstance(small_width, int):
        return _fancy_upsample(planes) if small_width > 2 else _repeat_upsample(planes)
    return ops.where(small_width > 2, _fancy_upsample(planes), _repeat_upsample(planes))


def _repeat_upsample(planes):
    """Each sample repeated over 2×2 pixels."""
    rows = _interleave(planes, planes, axis=2)
    return _interleave(rows, rows, axis=3)


def _fancy_upsample(planes):
    """libjpeg's triangular 2× up-sampling: weights 3/4, 1/4 per axis, fixed-point rounding."""
    near = 3.0 * planes
    rows = _interleave(near + _shift(planes, 2, -1), near + _shift(planes, 2, 1), axis=2)
    near = 3.0 * rows
    left = floor_ste((near + _shift(rows, 3, -1) + 8.0) / 16.0)
    right = floor_ste((near + _shift(rows, 3, 1) + 7.0) / 16.0)
    return _interleave(left, right, axis=3)

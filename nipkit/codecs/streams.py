"""Images to bitstreams and back with a `LearnedCodec` (numpy in and out).

`compress` runs the codec's analysis transform and quantiser (the same Keras ops as its
forward pass) and entropy-codes the indices; `decompress` decodes them and runs the
synthesis transform, so its images equal the codec's forward pass outside training.

Example:
    >>> streams = compress(codec, images)  # doctest: +SKIP
    >>> stream_bpp(streams, images.shape)  # measured from the bytes  # doctest: +SKIP
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from keras import ops

from nipkit.codecs.bitstream import MAX_SIDE, StreamHeader, decode, encode, weights_tag
from nipkit.errors import DataError

if TYPE_CHECKING:
    from nipkit.layers.learned_codec import LearnedCodec

__all__ = ["compress", "decompress", "roundtrip", "stream_bpp", "check_images", "BATCH"]

BATCH = 8  # images through the transforms at once


def check_images(images, cell: int) -> np.ndarray:
    """`images` as float32 (batch, h, w, 3); DataError for another shape or a too small image."""
    array = np.asarray(ops.convert_to_numpy(images) if not isinstance(images, np.ndarray) else images, "float32")
    if array.ndim != 4 or array.shape[-1] != 3:
        raise DataError(f"the learned codec takes RGB images (batch, height, width, 3); got shape {array.shape}")
    if min(array.shape[1:3]) < cell:
        raise DataError(f"an image of {array.shape[1]}x{array.shape[2]} pixels is smaller than one latent cell "
                        f"({cell}x{cell}) of the learned codec")
    if max(array.shape[1:3]) > MAX_SIDE:
        raise DataError(f"an image of {array.shape[1]}x{array.shape[2]} pixels is too large for the learned codec's "
                        f"stream (sides up to {MAX_SIDE})")
    if not np.all(np.isfinite(array)):
        raise DataError("the images to compress hold NaN or infinite values")
    return array


def _header(codec: "LearnedCodec", height: int = 0, width: int = 0) -> StreamHeader:
    weights = [codec.codebook, codec.logits] + [w for layer in codec.synthesis for w in layer.weights]
    tag = weights_tag([np.asarray(ops.convert_to_numpy(w)) for w in weights])
    return StreamHeader(height, width, codec.latent_channels, codec.quantization, codec.codebook_size, tag)


def _probabilities(codec: "LearnedCodec") -> np.ndarray:
    return np.exp(np.asarray(ops.convert_to_numpy(codec.log_probs()), np.float64))


def compress(codec: "LearnedCodec", images) -> list[bytes]:
    """One stream per image of the batch `images` (float32 in [0, 1])."""
    from nipkit.layers.learned_codec import CELL

    array = check_images(images, CELL)
    if not codec.built:
        codec.build(array.shape)
    header = _header(codec, *array.shape[1:3])
    probabilities = _probabilities(codec)
    streams = []
    for start in range(0, len(array), BATCH):
        indices = np.asarray(ops.convert_to_numpy(codec.indices(array[start : start + BATCH])))
        streams += [encode(i, probabilities, header) for i in indices]
    return streams


def decompress(codec: "LearnedCodec", streams: Sequence[bytes]) -> np.ndarray:
    """The images (batch, h, w, 3) of streams of one image size written by `codec`."""
    from nipkit.layers.learned_codec import CELL

    if isinstance(streams, (bytes, bytearray)) or not len(streams):
        raise DataError("decompress takes a non-empty list of streams (bytes), one per image")
    if not codec.built:
        codec.build((None, None, None, 3))
    expected, probabilities = _header(codec), _probabilities(codec)
    decoded = [decode(s, probabilities, expected, CELL) for s in streams]
    sizes = {(h.height, h.width) for _, h in decoded}
    if len(sizes) > 1:
        raise DataError(f"the streams hold images of {len(sizes)} sizes; decompress each size on its own")
    (height, width), = sizes
    images = []
    for start in range(0, len(decoded), BATCH):
        indices = np.stack([i for i, _ in decoded[start : start + BATCH]])
        latents = ops.take(codec.codebook, ops.convert_to_tensor(indices.astype("int32")))
        images.append(np.asarray(ops.convert_to_numpy(codec.synthesise(latents, height, width))))
    return np.concatenate(images)


def stream_bpp(streams: Sequence[bytes], shape: Sequence[int]) -> float:
    """Mean bits per pixel of streams of images of `shape` (batch, h, w, ...), header included."""
    return float(np.mean([8 * len(s) for s in streams]) / (shape[1] * shape[2]))


def roundtrip(codec: "LearnedCodec", images) -> np.ndarray:
    """codec.decompress(codec.compress(images)) (a subclass's own coder included); records
    the measured rate as `codec.last_stream_bpp`."""
    array = np.asarray(ops.convert_to_numpy(images) if not isinstance(images, np.ndarray) else images, "float32")
    streams = codec.compress(array)
    codec.last_stream_bpp = stream_bpp(streams, array.shape)
    return codec.decompress(streams)

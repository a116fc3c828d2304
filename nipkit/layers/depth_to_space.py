"""Depth-to-space (pixel shuffle) as a layer."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nipkit")
class DepthToSpace(keras.layers.Layer):
    """Moves channels into `block_size`×`block_size` spatial blocks (NHWC, TensorFlow order).

    (B, h, w, C·b²) becomes (B, h·b, w·b, C); input channel `(row·b + col)·C + c` lands at
    block position (row, col), output channel c, as in `tf.nn.depth_to_space`.

    Args:
        block_size: the block side b, at least 2.

    Call arguments:
        inputs: (batch, h, w, channels) with channels a multiple of b².

    Example:
        >>> import numpy as np
        >>> tuple(DepthToSpace(2)(np.zeros((1, 8, 8, 12), "float32")).shape)
        (1, 16, 16, 3)
    """

    def __init__(self, block_size: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(block_size, int) or isinstance(block_size, bool) or block_size < 2:
            raise ValueError(f"block_size must be an integer >= 2; got {block_size!r}")
        self.block_size = block_size

    def build(self, input_shape) -> None:
        channels = input_shape[-1]
        if len(input_shape) != 4 or channels is None or channels % self.block_size**2:
            raise ValueError(
                f"DepthToSpace({self.block_size}) needs (batch, h, w, C) with C a multiple of "
                f"{self.block_size ** 2}; got {tuple(input_shape)}"
            )

    def call(self, inputs):
        b = self.block_size
        _, height, width, channels = ops.shape(inputs)
        depth = channels // (b * b)
        blocks = ops.reshape(inputs, (-1, height, width, b, b, depth))
        blocks = ops.transpose(blocks, (0, 1, 3, 2, 4, 5))
        return ops.reshape(blocks, (-1, height * b, width * b, depth))

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        b = self.block_size
        height = None if height is None else height * b
        width = None if width is None else width * b
        return (batch, height, width, channels // (b * b))

    def get_config(self) -> dict:
        config = super().get_config()
        config["block_size"] = self.block_size
        return config

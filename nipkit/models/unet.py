"""UNet: an encoder-decoder with skip connections that develops RAW stacks into RGB."""
from __future__ import annotations

import keras
from keras import ops

from nipkit.layers.clip_unit import ClipUnit
from nipkit.layers.depth_to_space import DepthToSpace
from nipkit.cfa import check_cfa, check_raw_stack_shape

_SLOPE = 0.2  # LeakyReLU negative slope


def _conv(filters: int, name: str) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(filters, 3, padding="same", name=name)


@keras.saving.register_keras_serializable(package="nipkit")
class UNet(keras.Model):
    """A UNet that develops a RAW stack into RGB (7,760,268 parameters with the defaults).

    Encoder: `levels` levels of two 3×3 convolutions with LeakyReLU(0.2), `filters`
    doubling per level (32-64-128-256-512), 2×2 max-pooling between levels. Decoder: per
    level a 2×2 stride-2 transposed convolution without bias, concatenation with the skip
    connection, two 3×3 convolutions with LeakyReLU(0.2). Head: 1×1 convolution to 12
    channels, depth-to-space(2), clip to [0, 1] with a straight-through gradient.

    The RAW stack's sides must be multiples of `2 ** (levels - 1)` (`input_multiple`;
    16 for 5 levels, i.e. 32 px of the developed image).

    Args:
        levels: number of resolution levels, 2 to 6.
        filters: filters of the first level.
        cfa: the CFA of the RAW the model is trained on; recorded in the config only (the
            network learns the layout).
        **kwargs: `name`, `dtype`, `trainable`.

    Call arguments:
        inputs: RAW stack (batch, h/2, w/2, 4), channels R, Gr, Gb, B.

    Returns:
        (batch, h, w, 3) RGB in [0, 1].

    Example:
        >>> nip = UNet(levels=3, filters=8)
        >>> nip.input_multiple
        4
    """

    input_multiple = 16  # for the default 5 levels; instances set 2 ** (levels - 1)

    def __init__(self, levels: int = 5, filters: int = 32, cfa: str = "rggb", **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(levels, int) or isinstance(levels, bool) or not 2 <= levels <= 6:
            raise ValueError(f"UNet levels must be an integer from 2 to 6; got {levels!r}")
        if not isinstance(filters, int) or isinstance(filters, bool) or filters < 1:
            raise ValueError(f"UNet filters must be a positive integer; got {filters!r}")
        self.levels = levels
        self.filters = filters
        self.cfa = check_cfa(cfa)
        self.input_multiple = 2 ** (levels - 1)
        widths = [filters * 2**level for level in range(levels)]
        self.encoder = [
            _conv(width, f"down{level}_{i}") for level, width in enumerate(widths) for i in (1, 2)
        ]
        self.upsample = [
            keras.layers.Conv2DTranspose(w, 2, strides=2, use_bias=False, name=f"upsample{level}")
            for level, w in enumerate(widths[:-1])
        ]
        self.decoder = [
            _conv(w, f"up{level}_{i}") for level, w in enumerate(widths[:-1]) for i in (1, 2)
        ]
        self.pool = keras.layers.MaxPooling2D(2, name="pool")
        self.head = keras.layers.Conv2D(12, 1, name="head")
        self.to_rgb = DepthToSpace(2, name="depth_to_space")
        self.clip = ClipUnit(name="clip")

    def build(self, input_shape) -> None:
        check_raw_stack_shape("UNet", input_shape, multiple=self.input_multiple)
        self.call(keras.KerasTensor(tuple(input_shape)))  # creates the sub-layers' weights

    def call(self, inputs):
        x, skips = inputs, []
        for level in range(self.levels):
            if level:
                x = self.pool(x)
            x = ops.leaky_relu(self.encoder[2 * level](x), _SLOPE)
            x = ops.leaky_relu(self.encoder[2 * level + 1](x), _SLOPE)
            skips.append(x)
        for level in reversed(range(self.levels - 1)):
            x = ops.concatenate([self.upsample[level](x), skips[level]], axis=-1)
            x = ops.leaky_relu(self.decoder[2 * level](x), _SLOPE)
            x = ops.leaky_relu(self.decoder[2 * level + 1](x), _SLOPE)
        return self.clip(self.to_rgb(self.head(x)))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(levels=self.levels, filters=self.filters, cfa=self.cfa)
        return config

"""DNet: a deep demosaicing network (after Gharbi et al. 2016) adapted to full development."""
from __future__ import annotations

import keras
from keras import ops

from nipkit.layers.clip_unit import ClipUnit
from nipkit.layers.depth_to_space import DepthToSpace
from nipkit.cfa import bilinear_kernel, check_cfa, check_raw_stack_shape, placement_kernel
from nipkit.ops.filtering import pad_borders



@keras.saving.register_keras_serializable(package="nipkit")
class DNet(keras.Model):
    """A deep plain CNN on the RAW stack, fused with a bilinear mosaic (493,976 parameters).

    `layers` blocks of [3×3 convolution without bias (`features` filters, the last 12),
    batch normalisation, ReLU, reflect padding by 1] run at half resolution; their output,
    moved to full resolution by depth-to-space(2), is concatenated with the bilinearly
    demosaiced mosaic (fixed, not trainable) → 3×3 convolution 6→`features` with bias,
    ReLU, reflect padding → 1×1 convolution to 3 channels without bias (ones initialiser)
    → clip to [0, 1] with a straight-through gradient. The trainable count includes the
    batch-norm scales and offsets (2 per channel); their moving statistics are not trainable.

    Args:
        layers: number of convolution blocks at half resolution (>= 1).
        features: filters of the blocks and of the fusing convolution.
        cfa: the sensor's CFA: `rggb`, `grbg`, `gbrg` or `bggr`.
        **kwargs: `name`, `dtype`, `trainable`.

    Call arguments:
        inputs: RAW stack (batch, h/2, w/2, 4), channels R, Gr, Gb, B; sides >= 4 (each
            block's unpadded convolution must leave at least 2 pixels to reflect).
        training: batch-norm mode.

    Returns:
        (batch, h, w, 3) RGB in [0, 1].

    Example:
        >>> nip = DNet(layers=3, features=16, cfa="gbrg")
        >>> nip.cfa
        'gbrg'
    """

    input_multiple = 1

    def __init__(self, layers: int = 15, features: int = 64, cfa: str = "rggb", **kwargs) -> None:
        super().__init__(**kwargs)
        for key, value in (("layers", layers), ("features", features)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"DNet {key} must be a positive integer; got {value!r}")
        self.n_layers = layers
        self.features = features
        self.cfa = check_cfa(cfa)
        widths = [features] * (layers - 1) + [12]
        self.convs = [
            keras.layers.Conv2D(width, 3, use_bias=False, name=f"conv{i}")
            for i, width in enumerate(widths)
        ]
        self.norms = [keras.layers.BatchNormalization(name=f"norm{i}") for i in range(layers)]
        self.to_rgb = DepthToSpace(2, name="depth_to_space")
        self.fuse = keras.layers.Conv2D(features, 3, name="fuse")
        self.project = keras.layers.Conv2D(
            3, 1, use_bias=False, kernel_initializer="ones", name="project"
        )
        self.clip = ClipUnit(name="clip")

    def build(self, input_shape) -> None:
        check_raw_stack_shape("DNet", input_shape, multiple=self.input_multiple, min_size=4)
        self.call(keras.KerasTensor(tuple(input_shape)))  # creates the sub-layers' weights

    def call(self, inputs, training=None):
        x = inputs
        for conv, norm in zip(self.convs, self.norms):
            x = pad_borders(ops.relu(norm(conv(x), training=training)), 1, 1)
        placement = ops.convert_to_tensor(placement_kernel(self.cfa), dtype=inputs.dtype)
        bilinear = ops.convert_to_tensor(bilinear_kernel(3), dtype=inputs.dtype)
        mosaic = pad_borders(self.to_rgb(ops.conv(inputs, placement)), 1, 1)
        x = ops.concatenate([self.to_rgb(x), ops.conv(mosaic, bilinear)], axis=-1)
        x = pad_borders(ops.relu(self.fuse(x)), 1, 1)
        return self.clip(self.project(x))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(layers=self.n_layers, features=self.features, cfa=self.cfa)
        return config

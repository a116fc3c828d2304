"""ONet: the identity pipeline, for running the channel and FAN on RGB photos."""
from __future__ import annotations

import keras

from nipkit.cfa import check_raw_stack_shape


@keras.saving.register_keras_serializable(package="nipkit")
class ONet(keras.Model):
    """Passes RGB images through unchanged (0 parameters).

    Stands in for a NIP where the data are already developed RGB photos, so the
    manipulations, channel and FAN run without a RAW pipeline.

    Args:
        **kwargs: `name`, `dtype`, `trainable`.

    Call arguments:
        inputs: RGB images (batch, h, w, 3) in [0, 1].

    Returns:
        The inputs.

    Example:
        >>> import numpy as np
        >>> tuple(ONet()(np.zeros((1, 8, 8, 3), "float32")).shape)
        (1, 8, 8, 3)
    """

    input_multiple = 1
    input_channels = 3  # RGB photos, where a NIP takes 4-channel RAW stacks

    def build(self, input_shape) -> None:
        check_raw_stack_shape("ONet", input_shape, channels=3, multiple=self.input_multiple)

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

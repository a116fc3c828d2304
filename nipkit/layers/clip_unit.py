"""Clipping to [0, 1] with a straight-through gradient."""
from __future__ import annotations

import keras

from nipkit.ops.rounding import clip_ste


@keras.saving.register_keras_serializable(package="nipkit")
class ClipUnit(keras.layers.Layer):
    """Clips values to [0, 1] in the forward pass and lets the gradient through unchanged.

    A plain clip has zero gradient outside [0, 1], so a pipeline whose output saturates
    would stop learning there; this layer behaves as the identity for gradients.

    Call arguments:
        inputs: any float tensor.

    Example:
        >>> import numpy as np
        >>> keras.ops.convert_to_numpy(ClipUnit()(np.array([-0.5, 0.25, 1.5], "float32"))).tolist()
        [0.0, 0.25, 1.0]
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return clip_ste(inputs, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

"""GDN: generalised divisive normalisation (Ballé et al. 2016), the learned codecs' nonlinearity."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["GDN"]

BETA_FLOOR = 1e-6  # keeps the denominator away from zero


def _softplus_inverse(value):
    """The raw parameter whose softplus is `value` (a number or an array)."""
    return np.log(np.expm1(value))


@keras.saving.register_keras_serializable(package="nipkit")
class GDN(keras.layers.Layer):
    """Divisive normalisation across channels: y_i = x_i / sqrt(β_i + Σ_j γ_ij x_j²).

    With `inverse=True` it multiplies instead (IGDN, the synthesis transform's
    counterpart). β and γ stay positive through a softplus; γ starts at 0.1 · I (plus a
    small off-diagonal floor, so that Adam can move every entry), β at 1.

    Args:
        inverse: IGDN instead of GDN.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: (..., channels) float tensor.

    Example:
        >>> import numpy as np
        >>> x = np.full((1, 2, 2, 3), 2.0, "float32")
        >>> y = keras.ops.convert_to_numpy(GDN()(x))
        >>> bool(np.allclose(y, 2.0 / np.sqrt(1.0 + 0.1 * 4.0 + 2 * 1e-3 * 4.0), atol=1e-4))
        True
    """

    def __init__(self, inverse: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.inverse = bool(inverse)

    def build(self, input_shape) -> None:
        channels = int(input_shape[-1])
        gamma = np.full((channels, channels), 1e-3, "float32") + np.eye(channels, dtype="float32") * (0.1 - 1e-3)
        self.beta_raw = self.add_weight(name="beta", shape=(channels,),
                                        initializer=keras.initializers.Constant(float(_softplus_inverse(1.0))))
        self.gamma_raw = self.add_weight(name="gamma", shape=(channels, channels),
                                         initializer=keras.initializers.Constant(_softplus_inverse(gamma)))

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        beta = ops.softplus(self.beta_raw) + BETA_FLOOR
        gamma = ops.softplus(self.gamma_raw)
        norm = ops.sqrt(beta + ops.matmul(ops.square(x), ops.transpose(gamma)))
        return x * norm if self.inverse else x / norm

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(inverse=self.inverse)
        return config

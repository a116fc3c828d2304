"""Bayar & Stamm's constrained convolution: a layer that can only learn residual filters."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="nipkit")
class ConstrainedConv2D(keras.layers.Conv2D):
    """A 2-D convolution whose filters are prediction-error (residual) filters.

    For every (input channel, output filter) pair the centre tap is fixed to −1 and the
    other taps are scaled to sum to +1, so every 2-D slice sums to 0 and a flat image gives
    0 (Bayar & Stamm 2018). The constraint is applied to the stored weights at every
    forward pass, so no optimiser update can break it. When the free taps of a slice sum
    to less than `epsilon` in magnitude, scaling would blow up (or divide by 0), so that
    slice is shifted instead: each free tap gets `(1 − sum) / (taps − 1)` added.

    Args:
        filters: number of output filters.
        kernel_size: odd int or pair of odd ints.
        use_bias: add a bias (off by default: a residual filter has none).
        padding: "valid" (default: the residual is only meaningful where the whole
            neighbourhood is real) or "same".
        epsilon: below this magnitude of the free-tap sum, shift rather than scale.
        **kwargs: any other `keras.layers.Conv2D` argument.

    Call arguments:
        inputs: (batch, h, w, channels).

    Example:
        >>> layer = ConstrainedConv2D(3, 5, kernel_initializer=keras.initializers.GlorotUniform(seed=0))
        >>> y = keras.ops.convert_to_numpy(layer(np.ones((1, 16, 16, 3), "float32")))
        >>> y.shape, bool(np.max(np.abs(y)) < 1e-4)  # a flat image gives ~0 everywhere
        ((1, 12, 12, 3), True)
    """

    def __init__(
        self,
        filters: int = 3,
        kernel_size: int | tuple[int, int] = 5,
        use_bias: bool = False,
        padding: str = "valid",
        epsilon: float = 1e-3,
        **kwargs,
    ) -> None:
        super().__init__(
            filters=filters, kernel_size=kernel_size, use_bias=use_bias, padding=padding, **kwargs
        )
        if any(k % 2 == 0 for k in self.kernel_size) or min(self.kernel_size) < 3:
            raise ValueError(
                f"ConstrainedConv2D needs an odd kernel_size >= 3 (a centre tap); "
                f"got {kernel_size!r}"
            )
        if not epsilon > 0:
            raise ValueError(f"ConstrainedConv2D epsilon must be > 0; got {epsilon!r}")
        self.epsilon = float(epsilon)

    def _free_mask(self) -> np.ndarray:
        rows, cols = self.kernel_size
        mask = np.ones((rows, cols, 1, 1), dtype="float32")
        mask[rows // 2, cols // 2] = 0.0
        return mask

    def constrained_kernel(self, kernel=None):
        """The kernel actually used: centre −1, other taps summing to +1 per 2-D slice.

        Args:
            kernel: a raw kernel (defaults to the layer's stored `kernel`).
        """
        kernel = self.kernel if kernel is None else kernel
        free_mask = ops.convert_to_tensor(self._free_mask(), dtype=kernel.dtype)
        free = kernel * free_mask
        total = ops.sum(free, axis=(0, 1), keepdims=True)
        near_zero = ops.abs(total) < self.epsilon
        # The unused branch of `where` still gets gradients, so keep its divisor safe.
        scaled = free / ops.where(near_zero, ops.ones_like(total), total)
        n_free = float(self.kernel_size[0] * self.kernel_size[1] - 1)
        shifted = free + (1.0 - total) / n_free * free_mask
        return ops.where(near_zero, shifted, scaled) - (1.0 - free_mask)

    def call(self, inputs):
        outputs = self.convolution_op(inputs, self.constrained_kernel())
        if self.use_bias:
            last = self.data_format == "channels_last"
            bias_shape = (1, 1, 1, self.filters) if last else (1, self.filters, 1, 1)
            outputs = outputs + ops.reshape(self.bias, bias_shape)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def get_config(self) -> dict:
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config

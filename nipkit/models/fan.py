"""FAN: the forensic analysis network that classifies manipulations."""
from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

from nipkit.layers.constrained_conv2d import ConstrainedConv2D

_SLOPE = 0.2  # LeakyReLU negative slope


def _positive_ints(key: str, values: Any) -> list[int]:
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    integers = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if not values or not integers or min(values) < 1:
        raise ValueError(f"FAN {key} must be a non-empty list of positive integers; got {values!r}")
    return values


@keras.saving.register_keras_serializable(package="nipkit")
class FAN(keras.Model):
    """A CNN that tells which manipulation an RGB patch went through (1,341,990 parameters
    with the defaults and 5 classes).

    Layers: ConstrainedConv2D 5×5, 3 residual filters, no bias, no activation ("valid"
    padding) → per entry of `filters` a 5×5 convolution + LeakyReLU(0.2) + 2×2 max-pooling
    → 1×1 convolution with `filters[-1]` filters + LeakyReLU → global average pooling →
    per entry of `dense` a dense layer + LeakyReLU → dense `n_classes` with softmax.

    Args:
        n_classes: number of classes (>= 2).
        filters: filters of the convolution blocks.
        dense: units of the hidden dense layers.
        kernel_size: odd side of the constrained and block convolutions.
        **kwargs: `name`, `dtype`, `trainable`.

    Call arguments:
        inputs: RGB patches (batch, h, w, 3); after the constrained convolution's
            `kernel_size − 1` border loss, sides must be >= 2 ** len(filters) (128 is usual).

    Returns:
        (batch, n_classes) class probabilities.

    Example:
        >>> fan = FAN(n_classes=5)
        >>> import numpy as np
        >>> probs = fan(np.random.rand(4, 64, 64, 3).astype("float32"))
        >>> tuple(probs.shape)
        (4, 5)
    """

    def __init__(
        self,
        n_classes: int = 5,
        filters: Sequence[int] = (32, 64, 128, 256),
        dense: Sequence[int] = (512, 128),
        kernel_size: int = 5,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 2:
            raise ValueError(f"FAN n_classes must be an integer >= 2; got {n_classes!r}")
        if not isinstance(kernel_size, int) or kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"FAN kernel_size must be an odd integer >= 3; got {kernel_size!r}")
        self.n_classes = n_classes
        self.filters = _positive_ints("filters", filters)
        self.dense_units = _positive_ints("dense", dense)
        self.kernel_size = kernel_size
        self.residual = ConstrainedConv2D(3, kernel_size, name="residual")
        self.convs = [
            keras.layers.Conv2D(width, kernel_size, padding="same", name=f"conv{i}")
            for i, width in enumerate(self.filters)
        ]
        self.pool = keras.layers.MaxPooling2D(2, name="pool")
        self.pointwise = keras.layers.Conv2D(self.filters[-1], 1, name="pointwise")
        self.global_pool = keras.layers.GlobalAveragePooling2D(name="global_pool")
        self.hidden = [
            keras.layers.Dense(units, name=f"dense{i}") for i, units in enumerate(self.dense_units)
        ]
        self.classifier = keras.layers.Dense(n_classes, activation="softmax", name="classifier")

    def build(self, input_shape) -> None:
        shape = tuple(input_shape)
        smallest = 2 ** len(self.filters) + self.kernel_size - 1
        if len(shape) != 4 or shape[-1] is None:
            raise ValueError(f"FAN expects (batch, h, w, channels) input; got shape {shape}")
        if any(side is not None and side < smallest for side in shape[1:3]):
            raise ValueError(f"FAN needs spatial sizes of at least {smallest}; got shape {shape}")
        self.call(keras.KerasTensor(shape))  # creates the sub-layers' weights

    def call(self, inputs):
        x = self.residual(inputs)
        for conv in self.convs:
            x = self.pool(ops.leaky_relu(conv(x), _SLOPE))
        x = self.global_pool(ops.leaky_relu(self.pointwise(x), _SLOPE))
        for layer in self.hidden:
            x = ops.leaky_relu(layer(x), _SLOPE)
        return self.classifier(x)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            n_classes=self.n_classes,
            filters=[int(f) for f in self.filters],  # plain lists, not Keras' tracked ones
            dense=[int(d) for d in self.dense_units],
            kernel_size=self.kernel_size,
        )
        return config

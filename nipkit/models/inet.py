"""INet: a small network whose layers mirror the steps of a standard imaging pipeline."""
from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import ops

from nipkit.layers.clip_unit import ClipUnit
from nipkit.layers.depth_to_space import DepthToSpace
from nipkit.cfa import bilinear_kernel, check_cfa, check_raw_stack_shape, placement_kernel
from nipkit.models.gamma_fit import SRGB_TOY, gamma_kernels
from nipkit.ops.filtering import pad_borders

# A typical camera-RGB → linear sRGB matrix (rows sum to 1, so white stays white).
DEFAULT_COLOR_MATRIX = (
    (1.72, -0.61, -0.11),
    (-0.19, 1.52, -0.33),
    (0.03, -0.50, 1.47),
)


def _check_color_matrix(matrix: Sequence[Sequence[float]] | None) -> list[list[float]] | None:
    if matrix is None:
        return None
    try:
        array = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.empty(0)
    if array.shape != (3, 3) or not np.all(np.isfinite(array)):
        raise ValueError(f"color_matrix must be a 3×3 list of finite numbers; got {matrix!r}")
    return array.tolist()


@keras.saving.register_keras_serializable(package="nipkit")
class INet(keras.Model):
    """Develops a RAW stack into sRGB with one layer per pipeline step (321 parameters).

    Layers: a fixed 1×1 convolution 4→12 + depth-to-space(2) put each sample at its CFA
    position (a constant kernel built from `cfa`, not a weight, so it can never be
    unfrozen) → 5×5 convolution 3→3 without bias (demosaicing; starts as
    bilinear) → 1×1 convolution 3→3 without bias (colour space; starts as `color_matrix`)
    → 1×1 convolution 3→12 with tanh → 1×1 convolution 12→3 (gamma; starts as a toy model
    fitted to the sRGB curve, see `nipkit.models.gamma_fit`) → clip to [0, 1] with a
    straight-through gradient. The demosaicing filter sees the mosaic reflect-padded by 2,
    which keeps the CFA phase at the borders.

    Args:
        cfa: the sensor's CFA: `rggb`, `grbg`, `gbrg` or `bggr`.
        color_matrix: 3×3 camera-RGB → linear-sRGB matrix (row = output channel); None
            uses `DEFAULT_COLOR_MATRIX`.
        random_init: start every trainable layer from Keras' default initialisers instead.
        **kwargs: `name`, `dtype`, `trainable`.

    Call arguments:
        inputs: RAW stack (batch, h/2, w/2, 4), channels R, Gr, Gb, B; sides >= 2.

    Returns:
        (batch, h, w, 3) sRGB in [0, 1].

    Example:
        >>> nip = INet(cfa="rggb")
        >>> rgb = nip(np.random.rand(2, 64, 64, 4).astype("float32"))
        >>> tuple(rgb.shape)
        (2, 128, 128, 3)
    """

    input_multiple = 1

    def __init__(
        self,
        cfa: str = "rggb",
        color_matrix: Sequence[Sequence[float]] | None = None,
        random_init: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.cfa = check_cfa(cfa)
        self.color_matrix = _check_color_matrix(color_matrix)
        self.random_init = bool(random_init)
        init = self._initial_weights()
        self.to_rgb = DepthToSpace(2, name="depth_to_space")
        self.demosaic = keras.layers.Conv2D(3, 5, use_bias=False, name="demosaic", **init["demosaic"])
        self.colour = keras.layers.Conv2D(3, 1, use_bias=False, name="color_matrix", **init["colour"])
        self.gamma_hidden = keras.layers.Conv2D(12, 1, activation="tanh", name="gamma_hidden", **init["gamma_hidden"])
        self.gamma_out = keras.layers.Conv2D(3, 1, name="gamma_out", **init["gamma_out"])
        self.clip = ClipUnit(name="clip")

    def build(self, input_shape) -> None:
        check_raw_stack_shape("INet", input_shape, multiple=self.input_multiple, min_size=2)
        self.call(keras.KerasTensor(tuple(input_shape)))  # creates the sub-layers' weights

    def _initial_weights(self) -> dict[str, dict]:
        """Initialisers of the sub-layers: the working pipeline, or Keras' defaults."""
        if self.random_init:
            return {"demosaic": {}, "colour": {}, "gamma_hidden": {}, "gamma_out": {}}
        # Initialisers rather than assignments in build(): an outer model may build INet
        # symbolically, where an assignment would never run.
        constant = keras.initializers.Constant
        matrix = np.asarray(self.color_matrix or DEFAULT_COLOR_MATRIX, dtype=np.float32)
        k_hidden, b_hidden, k_out, b_out = gamma_kernels(SRGB_TOY)
        return {
            "demosaic": {"kernel_initializer": constant(bilinear_kernel(5))},
            "colour": {"kernel_initializer": constant(matrix.T[None, None])},
            "gamma_hidden": {"kernel_initializer": constant(k_hidden), "bias_initializer": constant(b_hidden)},
            "gamma_out": {"kernel_initializer": constant(k_out), "bias_initializer": constant(b_out)},
        }

    def call(self, inputs):
        placement = ops.convert_to_tensor(placement_kernel(self.cfa), dtype=inputs.dtype)
        mosaic = self.to_rgb(ops.conv(inputs, placement))
        linear = self.colour(self.demosaic(pad_borders(mosaic, 2, 2)))
        return self.clip(self.gamma_out(self.gamma_hidden(linear)))

    def get_config(self) -> dict:
        config = super().get_config()
        # Keras wraps list attributes in tracking containers; the config gets plain lists.
        matrix = self.color_matrix and [[float(v) for v in row] for row in self.color_matrix]
        config.update(cfa=self.cfa, color_matrix=matrix, random_init=self.random_init)
        return config

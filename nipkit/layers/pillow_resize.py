"""PillowResize: resizing by Pillow's filters, as a channel step whose real counterpart is Pillow."""
from __future__ import annotations

import keras
import numpy as np
from PIL import Image

from nipkit.evaluation.libjpeg import to_uint8
from nipkit.ops.antialias import FILTERS, antialiased_resize, scaled_side
from nipkit.ops.filtering import spatial_size

__all__ = ["PillowResize"]

PIL_FILTERS = {"area": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR,
               "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}


@keras.saving.register_keras_serializable(package="nipkit")
class PillowResize(keras.layers.Layer):
    """Resizes images by `scale` with one of Pillow's filters, as a Web platform does.

    The real counterpart (`reference`) is Pillow's `Image.resize` of the 8-bit image to
    (round(w·scale), round(h·scale)); calling the layer runs the same antialiased filter
    on floats (`nipkit.ops.antialias`), which differs from Pillow only by its 8-bit rounding.

    Args:
        scale: the output/input size ratio, in (0, 1].
        filter: "area", "bilinear", "bicubic" or "lanczos".
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, height, width, 3) images in [0, 1].

    Example:
        >>> import numpy as np
        >>> images = np.random.default_rng(0).uniform(size=(1, 20, 16, 3)).astype("float32")
        >>> PillowResize(0.5, "lanczos").reference(images).shape
        (1, 10, 8, 3)
    """

    RESIZES = True  # a resizing step (a battery entry with its own keeps none of the run's)

    def __init__(self, scale: float = 0.5, filter: str = "bicubic", **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 1:
            raise ValueError(f"PillowResize: scale must be a number in (0, 1]; got {scale!r}")
        if filter not in PIL_FILTERS:
            raise ValueError(f"PillowResize: filter must be one of {', '.join(PIL_FILTERS)}; got {filter!r}")
        self.scale, self.filter = float(scale), filter

    def call(self, inputs):
        height, width = spatial_size(inputs)
        return antialiased_resize(inputs, (scaled_side(height, self.scale), scaled_side(width, self.scale)), self.filter)

    def reference(self, images) -> np.ndarray:
        """Pillow's resize of each 8-bit image, as floats in [0, 1]."""
        out = []
        for image in np.asarray(images):
            size = (scaled_side(image.shape[1], self.scale), scaled_side(image.shape[0], self.scale))
            out.append(np.asarray(Image.fromarray(to_uint8(image)).resize(size, PIL_FILTERS[self.filter])))
        return np.stack(out).astype("float32") / 255.0

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, None if height is None else scaled_side(height, self.scale),
                None if width is None else scaled_side(width, self.scale), channels)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(scale=self.scale, filter=self.filter)
        return config


assert set(PIL_FILTERS) == set(FILTERS)

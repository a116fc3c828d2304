"""AWGN: additive white Gaussian noise as a manipulation."""
from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["AWGN"]


@keras.saving.register_keras_serializable(package="nipkit")
class AWGN(keras.layers.Layer):
    """Adds independent N(0, sigma²) noise to every pixel and channel.

    Unlike `keras.layers.GaussianNoise` (a regulariser active only in training), this is a
    manipulation class: the noise is added in training and in inference alike, so the
    FAN sees the same manipulation when it is trained and when it is evaluated. Noise is
    drawn from a `keras.random.SeedGenerator`, so every call gets fresh noise and a fixed
    `seed` makes a sequence of calls reproducible.

    Args:
        sigma: noise standard deviation in [0, 1] intensity units, > 0 (0.02 ≈ 5/255).
        clip: whether to clip the result to [0, 1] (default True).
        seed: integer seed of the noise, or None for a random one.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, height, width, channels) images in [0, 1].
        training: ignored; the noise is always added.
        sigma: optional per-image standard deviations, a (batch,) tensor (drawn values).

    Example:
        >>> import numpy as np
        >>> images = np.full((2, 16, 16, 3), 0.5, "float32")
        >>> noisy = AWGN(sigma=0.02, seed=1)(images)
        >>> tuple(noisy.shape)
        (2, 16, 16, 3)
    """

    def __init__(self, sigma: float = 0.02, clip: bool = True, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"AWGN: sigma must be a finite number > 0; got {sigma!r}")
        if not isinstance(clip, bool):
            raise ValueError(f"AWGN: clip must be true or false; got {clip!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"AWGN: seed must be an integer or None; got {seed!r}")
        self.sigma = float(sigma)
        self.clip = clip
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    # Arguments a config may draw at random (see `nipkit.random_values`), given to `call` per image.
    RANDOM_ARGUMENTS = {"sigma": "image"}

    def call(self, inputs, training=None, sigma=None):
        stddev = self.sigma if sigma is None else ops.reshape(ops.cast(sigma, inputs.dtype), (-1, 1, 1, 1))
        noise = stddev * keras.random.normal(ops.shape(inputs), dtype=inputs.dtype, seed=self.seed_generator)
        noisy = inputs + noise
        return ops.clip(noisy, 0.0, 1.0) if self.clip else noisy

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(sigma=self.sigma, clip=self.clip, seed=self.seed)
        return config

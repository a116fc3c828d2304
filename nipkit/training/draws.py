"""The random draws of training steps as a tf.data pipeline beside the batches.

Each step's draws are a function of (seed, step) alone (`RandomArguments.draw`), so a run
resumed at step k draws exactly what an uninterrupted one draws at step k.

Example:
    >>> batches = with_draws(train_batches(...), arguments, seed=3, start_step=0, batch_size=20, n_classes=5)  # doctest: +SKIP
    >>> raw, rgb, draws = next(iter(batches))  # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from nipkit.random_values import RandomArguments

__all__ = ["with_draws"]


def with_draws(batches: tf.data.Dataset, arguments: RandomArguments, seed: int, start_step: int,
               batch_size: int, n_classes: int) -> tf.data.Dataset:
    """(raw, rgb) batches → (raw, rgb, draws) where `draws` holds the random arguments of the same step."""
    keys = [a.key for a in arguments.arguments]
    example = arguments.draw(seed, 0, batch_size, n_classes)

    def make(step: np.ndarray) -> list[np.ndarray]:
        draws = arguments.draw(seed, int(step), batch_size, n_classes)
        return [draws[key] for key in keys]

    def load(step: tf.Tensor) -> dict:
        values = tf.numpy_function(make, [step], [tf.float32] * len(keys), stateful=False)
        for value, key in zip(values, keys):
            value.set_shape(example[key].shape)
        return dict(zip(keys, values))

    draws = tf.data.Dataset.counter(start=int(start_step)).map(load)
    return tf.data.Dataset.zip((batches, draws)).map(lambda batch, step_draws: (*batch, step_draws))

"""The moving average of a model's weights (Polyak averaging), swapped in where it is used.

With `training.ema: m` the optimiser keeps, beside the weights it trains, their
exponential moving average (new = m · old + (1 − m) · weights, after every update; Keras's
`use_ema`). Validation, `best.keras` and `last.keras` use the average; training and the
resume checkpoint keep the raw weights, and the checkpoint holds the average among the
optimiser's variables, so a resumed run continues both.

Example:
    >>> with averaged_weights(optimizer, model.trainable_variables):  # doctest: +SKIP
    ...     model.save("best.keras")
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import keras

__all__ = ["averaged_weights", "keeps_average"]


def _averaging(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The optimiser that keeps the average (the inner one under loss scaling)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def keeps_average(optimizer: keras.optimizers.Optimizer) -> bool:
    """Whether the optimiser keeps a moving average of its variables."""
    return bool(_averaging(optimizer).use_ema)


@contextlib.contextmanager
def averaged_weights(optimizer: keras.optimizers.Optimizer, variables: Sequence) -> Iterator[None]:
    """Inside the block, `variables` hold the optimiser's moving averages; afterwards their own values again.

    Args:
        optimizer: a built optimiser; one without a moving average, or before its first
            update, changes nothing.
        variables: the variables it was built for, in the same order.
    """
    # Keras starts the averages at zero and sets them to the weights at the first update:
    # before it there is no average, and the weights are what there is to score.
    if not keeps_average(optimizer) or int(keras.ops.convert_to_numpy(_averaging(optimizer).iterations)) == 0:
        yield
        return
    trained = [keras.ops.convert_to_numpy(v) for v in variables]
    _averaging(optimizer).finalize_variable_values(variables)
    try:
        yield
    finally:
        for variable, value in zip(variables, trained):
            variable.assign(value)

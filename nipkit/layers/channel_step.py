"""The channel-step contract: what a layer in a config's `channel:` list may do.

A channel step is a Keras layer, images in, images out (NHWC, float32 in [0, 1]). Beyond
that it may:

- have weights. They are frozen unless its spec says `trainable: true` (every mode) or
  `trainable: [joint]` (the listed modes); they are checkpointed, resumed and saved
  with the run (`channel-N.keras`), and `weights: FILE.keras` loads them at the start.
- add losses (`self.add_loss(...)` in `call`, or weight regularisers). Every loss in
  `model.losses` is added to the loss of every training step.
- offer a real, non-differentiable counterpart: a method `reference(images)` taking and
  returning a numpy batch. The real-channel evaluation runs each step as its
  counterpart where it has one (DifferentiableJPEG's is libjpeg, a LearnedCodec's its
  bitstream), and as itself otherwise. Where a config draws a step's arguments at
  random, the drawn values are given to `reference` as keyword arguments too (e.g.
  `reference(images, quality=q)`).
- report its rate, if it codes images: `last_bpp`, the mean bits per pixel of its last
  forward pass (a scalar tensor: the estimate that training and the differentiable-channel
  evaluation report as `bpp_estimate`), and `last_stream_bpp`, that of its last
  `reference` call measured from real bytes (a float: the `bpp` of the real channel).
  A step that holds its rate at a target by adapting the rate's weight keeps that
  weight in `rate_weight` (a variable, or None); history records it.

Example:
    >>> from nipkit.layers import DifferentiableJPEG, Downscale
    >>> [has_reference(step) for step in (Downscale(2), DifferentiableJPEG(50))]
    [False, True]
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    import keras

__all__ = ["STEP_SPEC_OPTIONS", "REFERENCE", "ITSELF", "has_reference", "run_real", "trains_in", "check_trainable",
           "step_model", "channel_rate", "channel_rate_weight"]

# Keys of a channel step's spec that nipkit reads itself (not passed to the constructor).
STEP_SPEC_OPTIONS = ("weights", "trainable")
REFERENCE, ITSELF = "reference", "itself"


def has_reference(step: keras.layers.Layer) -> bool:
    """Whether the step offers a real counterpart (a callable `reference`)."""
    return callable(getattr(step, "reference", None))


def run_real(step: keras.layers.Layer, images: Any, arguments: dict | None = None) -> tuple[np.ndarray, str]:
    """Runs one step for the real channel: (its output as numpy, REFERENCE or ITSELF).

    `arguments` are drawn call arguments (e.g. a per-image `quality`), given to either.
    """
    import keras  # here, so that nipkit.schema (which reads this module's options) stays free of TensorFlow

    arguments = {k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in (arguments or {}).items()}
    if has_reference(step):
        return np.asarray(step.reference(np.asarray(images, "float32"), **arguments), "float32"), REFERENCE
    return np.asarray(keras.ops.convert_to_numpy(step(images, **arguments)), "float32"), ITSELF


def check_trainable(value: Any, modes: Sequence[str]) -> bool:
    """Whether `value` is a valid `trainable:` option: true, false or a list of modes."""
    if isinstance(value, bool) or value is None:
        return True
    return isinstance(value, list) and all(m in modes for m in value)


def trains_in(value: Any, mode: str) -> bool:
    """Whether a step whose spec says `trainable: value` trains in `mode`."""
    return value is True or (isinstance(value, list) and mode in value)


def step_model(step: keras.layers.Layer) -> keras.Model:
    """A one-layer model around a channel step, so its weights save and load as a `.keras`
    file (`channel-N.keras` of a run, `best.keras` of `nipkit train codec`: the same layout)."""
    import keras

    return keras.Sequential([keras.Input((None, None, 3)), step], name=f"{step.name}_weights")


def channel_rate(steps: Sequence[keras.layers.Layer], real: bool = False) -> Any:
    """The summed rate (bits per pixel of each coding step's input) of the last pass
    through `steps`: their `last_bpp` (or `last_stream_bpp` with `real`); None if no step codes."""
    rates: list[Any] = [getattr(step, "last_stream_bpp" if real else "last_bpp", None) for step in steps]
    rates = [r for r in rates if r is not None]
    total = None
    for rate in rates:
        total = rate if total is None else total + rate
    return total


def channel_rate_weight(steps: Sequence[keras.layers.Layer]) -> float | None:
    """The current `rate_weight` of the first step that adapts one (see the module doc), or None."""
    import keras

    for step in steps:
        weight = getattr(step, "rate_weight", None)
        if weight is not None:
            return float(keras.ops.convert_to_numpy(weight))
    return None

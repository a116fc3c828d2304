"""Random arguments of manipulations and channel steps: `{uniform: [lo, hi]}` or `{choice: [a, b]}`.

A numeric argument of a manipulation or a channel step may be a constant, a range or a
set. The layer then draws it anew for every training step: per image, or once per batch
where the layer says so (a resize gives one image size per batch). Layers declare which
arguments they can draw in `RANDOM_ARGUMENTS` ({argument: "image" or "batch"}), and take
the drawn values as call arguments of the same name. A layer is built with each drawn
argument at its smallest value, or at its largest for the arguments it lists in
`BUILT_WITH_LARGEST` (a kernel size: the layer pads for the largest kernel). The draws
depend only on the run's seed and the step number (never on a stateful generator), so a
resumed run draws exactly what an uninterrupted one would; validation draws are fixed
per validation batch.

Example:
    >>> value = parse_random({"uniform": [50, 95]})
    >>> value.describe(), value.extremes()
    ('uniform(50, 95)', [50, 95])
    >>> draws = RandomArguments([RandomArgument("channel", 1, "quality", value, "image")])
    >>> batch = draws.draw(seed=3, step=7, batch_size=2, n_classes=3)
    >>> batch["channel.1.quality"].shape
    (2, 3)
    >>> bool((batch["channel.1.quality"] == draws.draw(3, 7, 2, 3)["channel.1.quality"]).all())
    True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["KINDS", "RandomValue", "RandomArgument", "RandomArguments", "is_random", "parse_random",
           "TRAINING", "VALIDATION"]

KINDS = ("uniform", "choice")
PER = ("image", "batch")
TRAINING, VALIDATION = 0, 1  # the streams of draws: training steps, validation batches


@dataclass(frozen=True)
class RandomValue:
    """A distribution of one argument: "uniform" over [values[0], values[1]] or a "choice" of values."""

    kind: str
    values: tuple[float, ...]

    def draw(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """`count` float32 draws."""
        if self.kind == "uniform":
            return rng.uniform(self.values[0], self.values[1], size=count).astype("float32")
        return np.asarray(self.values, "float32")[rng.integers(0, len(self.values), size=count)]

    def extremes(self) -> list:
        """The values a layer must accept: both ends of a range, every value of a set."""
        return list(self.values)

    def stand_in(self, largest: bool = False) -> Any:
        """The constant a layer is built with: the smallest value (shape checks see the smallest
        image), or the largest where the layer asks for it (a kernel's size sets its border)."""
        return max(self.values) if largest else min(self.values)

    def describe(self) -> str:
        return f"{self.kind}({', '.join(f'{v:g}' for v in self.values)})"


def is_random(value: Any) -> bool:
    """Whether a spec value is written as a distribution (`{uniform: ...}` or `{choice: ...}`)."""
    return isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in KINDS


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and np.isfinite(value)


def parse_random(value: Mapping) -> RandomValue:
    """Reads `{uniform: [lo, hi]}` or `{choice: [a, b, ...]}`.

    Raises:
        ValueError: not two numbers lo <= hi, or not a non-empty list of numbers.
    """
    kind, values = next(iter(value.items()))
    if not isinstance(values, list) or not values or not all(_number(v) for v in values):
        raise ValueError(f"{kind} takes a list of numbers, e.g. {{{kind}: [50, 95]}}; got {values!r}")
    if kind == "uniform":
        if len(values) != 2:
            raise ValueError(f"uniform takes [low, high]; got {values!r}")
        if values[0] > values[1]:
            raise ValueError(f"uniform range has low {values[0]} > high {values[1]}")
    return RandomValue(kind, tuple(values))


@dataclass(frozen=True)
class RandomArgument:
    """One random argument of one layer of the config (`place`[`index`].`name`)."""

    place: str  # "manipulations" or "channel"
    index: int
    name: str
    value: RandomValue
    per: str  # "image" or "batch"

    @property
    def key(self) -> str:
        """The key of its draws, e.g. `channel.1.quality`."""
        return f"{self.place}.{self.index}.{self.name}"


class RandomArguments:
    """Every random argument of a config's manipulations and channel, and their draws.

    Args:
        arguments: the random arguments, in config order (the order of the draws).
    """

    def __init__(self, arguments: Sequence[RandomArgument] = ()) -> None:
        self.arguments = list(arguments)

    def __bool__(self) -> bool:
        return bool(self.arguments)

    def draw(self, seed: int, step: int, batch_size: int, n_classes: int, stream: int = TRAINING) -> dict[str, np.ndarray]:
        """The draws of one batch: {key: float32 array}, a function of (seed, stream, step) only.

        Manipulation arguments are (batch_size,), one per photo; channel arguments are
        (batch_size, n_classes), one per photo and class branch. A "batch" argument has one
        value repeated over the array.
        """
        rng = np.random.default_rng([int(seed), int(stream), int(step)])
        draws = {}
        for argument in self.arguments:
            shape = (batch_size,) if argument.place == "manipulations" else (batch_size, n_classes)
            count = 1 if argument.per == "batch" else int(np.prod(shape))
            draws[argument.key] = np.broadcast_to(argument.value.draw(rng, count), (int(np.prod(shape)),)).reshape(shape).copy()
        return draws

    def describe(self, names: Mapping[tuple[str, int], str]) -> dict[str, str]:
        """{"channel[1].jpeg.quality": "uniform(50, 95)", ...}, with each layer's registry key from `names`."""
        return {f"{a.place}[{a.index}].{names[(a.place, a.index)]}.{a.name}": f"{a.value.describe()} per {a.per}"
                for a in self.arguments}

"""Random arguments as a config writes them: found, checked (FILE:LINE) and built with stand-ins.

Example:
    >>> from nipkit.config import Config
    >>> config = Config({"channel": [{"jpeg": {"quality": {"uniform": [95, 50]}}}]}, "exp.yaml")
    >>> random_arguments(config, "channel", 0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nipkit.errors.ConfigError: exp.yaml: channel[0].jpeg.quality: uniform range has low 95 > high 50
"""
from __future__ import annotations

from typing import Any

from nipkit import registry
from nipkit.config import Config
from nipkit.errors import ConfigError
from nipkit.layers.channel_step import STEP_SPEC_OPTIONS
from nipkit.random_values import RandomArgument, RandomArguments, is_random, parse_random
from nipkit.registry import parse_spec

__all__ = ["PLACES", "random_arguments", "stand_ins", "config_random_arguments", "build_step", "layer_names"]

PLACES = ("manipulations", "channel")


def _drop(place: str) -> tuple[str, ...]:
    return STEP_SPEC_OPTIONS if place == "channel" else ()


def random_arguments(config: Config, place: str, index: int) -> list[RandomArgument]:
    """The random arguments of the layer at `place[index]`, checked.

    Raises:
        ConfigError: at the argument's line: a malformed distribution, an argument the
            layer cannot draw, or an end of the range the layer refuses (e.g. quality 120).
    """
    path = (place, index)
    try:
        _, params = parse_spec(config.spec(path, _drop(place)))
    except ConfigError:  # a malformed spec: building it reports where
        return []
    found = {k: v for k, v in params.items() if is_random(v)}
    if not found:
        return []
    cls = config.check_spec(path, registry.layers, drop=_drop(place))
    drawable = getattr(cls, "RANDOM_ARGUMENTS", {})
    arguments = []
    for key, written in found.items():
        where = config.spec_option_path(path, key)
        if key not in drawable:
            allowed = ", ".join(drawable) or "none"
            raise config.error(where, f"{cls.__name__} cannot draw '{key}' per image or batch; "
                               f"random values are allowed for: {allowed}")
        try:
            value = parse_random(written)
        except ValueError as exc:
            raise config.error(where, str(exc)) from None
        for extreme in value.extremes():
            constants = stand_ins(config, path, {key: extreme})
            config.build(path, registry.layers, drop=_drop(place), values=constants)
        arguments.append(RandomArgument(place, index, key, value, drawable[key]))
    return arguments


def stand_ins(config: Config, path: tuple, override: dict[str, Any] | None = None) -> dict[str, Any]:
    """{argument: the constant it is built with} for every random argument of the spec at `path`."""
    _, params = parse_spec(config.spec(path, _drop(path[0])))
    found = {k: parse_random(v) for k, v in params.items() if is_random(v)}
    if not found:
        return dict(override or {})
    largest = getattr(config.check_spec(path, registry.layers, drop=_drop(path[0])), "BUILT_WITH_LARGEST", ())
    values = {k: value.stand_in(largest=k in largest) for k, value in found.items()}
    return {**values, **(override or {})}


def build_step(config: Config, place: str, index: int, **defaults: Any) -> Any:
    """Builds the manipulation or channel step at `place[index]`, random arguments at their stand-ins."""
    path = (place, index)
    return config.build(path, registry.layers, drop=_drop(place), values=stand_ins(config, path), **defaults)


def config_random_arguments(config: Config) -> RandomArguments:
    """Every random argument of the config's manipulations and channel, checked, in config order."""
    return RandomArguments([a for place in PLACES for i in range(len(config.get((place,)) or []))
                            for a in random_arguments(config, place, i)])


def layer_names(config: Config) -> dict[tuple[str, int], str]:
    """(place, index) -> the registry key of each manipulation and channel step."""
    return {(place, i): parse_spec(spec)[0] for place in PLACES for i, spec in enumerate(config.get((place,)) or [])}

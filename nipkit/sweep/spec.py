"""Sweeps: every combination of the values in a config's `sweep:` section, each one run.

A `sweep:` section maps config keys (dotted, as in `--set`) to lists of values:

```yaml
sweep:
  training.fidelity_weight: [0.01, 0.1, 1.0]
  training.seed: [0, 1, 2]
```

`--sweep KEY=V1,V2` adds a key on the command line (or replaces the YAML's list). Each
combination is the config without `sweep:`, with one value of each key set as if by
`--set`; its run folder under the output folder is named after its values, e.g.
`fidelity_weight=0.1,seed=2`. A bad value's error names the line of the sweep item.

Example:
    >>> runs = expand_sweep(load_config("sweep.yaml"))  # doctest: +SKIP
    >>> [run.name for run in runs][:2]  # doctest: +SKIP
    ['fidelity_weight=0.01,seed=0', 'fidelity_weight=0.01,seed=1']
"""
from __future__ import annotations

import copy
import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from nipkit.config import Config, parse_override
from nipkit.errors import ConfigError
from nipkit.registry import parse_spec
from nipkit.schema import EXPERIMENT_KEYS, validate

__all__ = ["SWEEP_KEY", "RESOURCES_KEY", "DEFAULT_MAX_RUNS", "SweepAxis", "SweepRun", "sweep_axes", "count_runs", "expand_sweep",
           "parse_sweep_option", "check_sweep", "without_sweep"]

SWEEP_KEY = "sweep"
DEFAULT_MAX_RUNS = 100
RESOURCES_KEY = "resources"
# Top-level keys that say where or how runs go, not what they do: never swept.
NOT_SWEPT = ("output", "name", SWEEP_KEY, RESOURCES_KEY)


@dataclass
class SweepAxis:
    """One swept key: its values and where each was written (for messages)."""

    key: str
    values: list[Any]
    origins: list[str]

    @property
    def path(self) -> tuple:
        return parse_override(f"{self.key}=")[0]


@dataclass
class SweepRun:
    """One combination of a sweep: its folder name, its values and its config (without `sweep:`)."""

    name: str
    values: dict[str, Any]
    config: Config


def parse_sweep_option(text: str) -> tuple[str, list[Any]]:
    """`"training.seed=0,1,2"` -> ("training.seed", [0, 1, 2]); each value is parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--sweep {text!r}: expected KEY=V1,V2,..., e.g. training.seed=0,1,2")
    try:
        values = yaml.safe_load(f"[{raw}]")
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"--sweep {text!r}: cannot read the values ({problem})") from None
    if not values:
        raise ConfigError(f"--sweep {text!r}: no values; give at least one, e.g. {key.strip()}=0,1")
    return key.strip(), values


def _check_axis(config: Config, axis: SweepAxis, where: str) -> None:
    top = axis.path[0] if axis.path else ""
    if top in NOT_SWEPT:
        raise ConfigError(f"{where}: sweep key {axis.key!r}: {top} cannot be swept (it says where or how runs go)")
    if top not in EXPERIMENT_KEYS:
        raise ConfigError(f"{where}: sweep key {axis.key!r}: no such config key; allowed sections: "
                          f"{', '.join(k for k in EXPERIMENT_KEYS if k not in NOT_SWEPT)}")
    for i, value in enumerate(axis.values):
        if value in axis.values[:i]:
            raise ConfigError(f"{axis.origins[i]}: sweep key {axis.key!r}: repeats the value {value!r}")


def sweep_axes(config: Config, options: Iterable[str] = ()) -> list[SweepAxis]:
    """The swept keys of the `sweep:` section, then of `--sweep` options (which replace a key's list).

    Raises:
        ConfigError: the section is not a mapping of keys to non-empty lists, a key is
            not a config key, a list repeats a value or an option is malformed.
    """
    section = config.get((SWEEP_KEY,))
    axes: dict[str, SweepAxis] = {}
    if section is not None or SWEEP_KEY in config.data:
        if not isinstance(section, Mapping) or not section:
            raise config.error((SWEEP_KEY,), "must map config keys to lists of values, e.g. training.seed: [0, 1, 2]")
        for key, values in section.items():
            where = config.where((SWEEP_KEY, key))
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}: sweep.{key}: must be a non-empty list of values, got {values!r}")
            origins = [config.where((SWEEP_KEY, key, i)) for i in range(len(values))]
            axes[str(key)] = SweepAxis(str(key), list(values), origins)
    for text in options:
        key, values = parse_sweep_option(text)
        axes[key] = SweepAxis(key, values, [f"--sweep {text}"] * len(values))
    for axis in axes.values():
        _check_axis(config, axis, axis.origins[0])
    return list(axes.values())


def count_runs(axes: Iterable[SweepAxis]) -> int:
    """How many combinations the axes make (1 for no axes)."""
    return math.prod(len(axis.values) for axis in axes)


def without_sweep(config: Config) -> Config:
    """A copy of `config` without its `sweep:` and `resources:` sections: the config of one run."""
    plain = copy.deepcopy(config)
    plain.data.pop(SWEEP_KEY, None)
    plain.data.pop(RESOURCES_KEY, None)
    return plain


def _label(value: Any) -> str:
    """A short, file-name-safe text for a swept value."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, (int, float)):
        text = f"{value:g}"
    elif isinstance(value, str):
        text = Path(value).name or value
    elif isinstance(value, list):
        text = "+".join(_label(v) for v in value)
    else:
        try:
            text = parse_spec(value)[0]
        except ConfigError:
            text = yaml.safe_dump(value, default_flow_style=True).strip()
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-") or "value"


def _labels(axis: SweepAxis) -> list[str]:
    """Each value's label, numbered where two values would read the same."""
    labels = [_label(v) for v in axis.values]
    return [f"{label}-{i + 1}" if labels.count(label) > 1 else label for i, label in enumerate(labels)]


def _short_keys(axes: list[SweepAxis]) -> list[str]:
    """The last part of each key (`fidelity_weight`), or the whole key where two share it."""
    last = [str(next((p for p in reversed(axis.path) if isinstance(p, str)), axis.key)) for axis in axes]
    return [short if last.count(short) == 1 else axis.key for short, axis in zip(last, axes)]


def expand_sweep(config: Config, options: Iterable[str] = ()) -> list[SweepRun]:
    """Every combination of the sweep, in the order its keys were written.

    Args:
        config: a config with a `sweep:` section and/or `options`.
        options: `--sweep KEY=V1,V2` texts.

    Returns:
        One `SweepRun` per combination (one, named "run", when nothing is swept).
    """
    axes = sweep_axes(config, options)
    base = without_sweep(config)
    if not axes:
        return [SweepRun("run", {}, base)]
    shorts, labels = _short_keys(axes), [_labels(axis) for axis in axes]
    runs = []
    for choice in itertools.product(*(range(len(axis.values)) for axis in axes)):
        run = copy.deepcopy(base)
        for axis, i in zip(axes, choice):
            run.set(axis.path, copy.deepcopy(axis.values[i]), origin=axis.origins[i])
        name = ",".join(f"{short}={label[i]}" for short, label, i in zip(shorts, labels, choice))
        runs.append(SweepRun(name, {axis.key: axis.values[i] for axis, i in zip(axes, choice)}, run))
    return runs


def check_sweep(config: Config, options: Iterable[str] = ()) -> list[SweepRun]:
    """Expands the sweep and validates every combination before anything starts.

    Raises:
        ConfigError: the first bad combination, located at the sweep item that made it.
    """
    runs = expand_sweep(config, options)
    for run in runs:
        validate(run.config)
    return runs

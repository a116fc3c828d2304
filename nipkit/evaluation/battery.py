"""Batteries of real channels for `nipkit evaluate`: YAML files of named, whole channels.

A battery file holds `channels:`, a list of entries `{name: ..., channel: [step specs]}`
(or `channel: training`, the run's own channel). Each entry runs every step as its real
counterpart where it has one (`jpeg` as libjpeg, `pillow_resize` as Pillow, `webp`,
`avif`). An entry without a resizing step keeps the run's own resizing steps in front of
its own. A step whose codec this machine's Pillow lacks makes its entry skipped, with a note.

Example:
    >>> entries, notes = load_battery("web")
    >>> entries[0].name, entries[1].name
    ('training channel', 'libjpeg 4:4:4 q30')
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from nipkit import registry
from nipkit.config import Config, load_config
from nipkit.errors import ConfigError
from nipkit.evaluation.scoring import describe_steps
from nipkit.role_check import check_role

__all__ = ["BatteryEntry", "builtin_batteries", "load_battery", "inline_channel", "resizes", "TRAINING_CHANNEL"]

TRAINING_CHANNEL = "training"


def resizes(step: Any) -> bool:
    """Whether a channel step changes the image size (declared by `RESIZES = True`)."""
    return bool(getattr(step, "RESIZES", False))


@dataclass
class BatteryEntry:
    """One channel of a battery: its name and steps (None: the run's training channel)."""

    name: str
    steps: list | None

    def value(self, key: str) -> float | None:
        """The last step's `quality` (or a resizing step's `scale`), for the plots."""
        found = None
        for step in self.steps or []:
            config = step.get_config()
            if key in config and (key != "scale" or resizes(step)):
                found = float(config[key])
        return found

    def family(self, key: str) -> str | None:
        """The line this entry belongs to in a plot against `key` ("quality" or "scale")."""
        if self.steps is None or self.value(key) is None:
            return None
        if key == "scale":
            return next(s.get_config()["filter"] for s in self.steps if resizes(s))
        if len(self.steps) != 1 or any(resizes(s) for s in self.steps):
            return None
        return re.sub(r"\s*q\d+$", "", self.name)


def builtin_batteries() -> list[str]:
    """The names of the batteries nipkit ships (`web`)."""
    return sorted(p.name[:-5] for p in resources.files("nipkit").joinpath("batteries").iterdir() if p.name.endswith(".yaml"))


def load_battery(name_or_path: str) -> tuple[list[BatteryEntry], list[str]]:
    """(entries, notes on skipped entries) of a built-in battery name or a battery YAML file.

    Raises:
        ConfigError: an unknown battery, or a bad entry (FILE:LINE, e.g. an unknown codec).
    """
    if Path(name_or_path).is_file():
        config = load_config(name_or_path)
    elif name_or_path in builtin_batteries():
        file = resources.files("nipkit").joinpath("batteries").joinpath(f"{name_or_path}.yaml")
        config = load_config(Path(str(file)))
    else:
        raise ConfigError(f"--battery {name_or_path!r}: unknown battery; built in: {', '.join(builtin_batteries())} "
                          "(or the path of a battery YAML file)")
    config.check_keys((), ("channels",))
    items = config.get(("channels",))
    if not isinstance(items, list) or not items:
        raise config.error(("channels",), "must be a non-empty list of {name: ..., channel: [...]}")
    entries, notes = [], []
    for i in range(len(items)):
        entry, note = _entry(config, i)
        if note:
            notes.append(note)
        else:
            entries.append(entry)
    return entries, notes


def inline_channel(text: str) -> tuple[list[BatteryEntry], list[str]]:
    """`--channel`: a battery YAML file, or a step spec / list of step specs written inline."""
    if Path(text).is_file():
        return load_battery(text)
    try:
        steps = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--channel {text!r}: invalid YAML ({str(exc).splitlines()[0]})") from None
    config = Config({"channels": [{"channel": steps if isinstance(steps, list) else [steps]}]}, f"--channel {text!r}")
    entry, note = _entry(config, 0)
    return ([] if note else [entry]), ([note] if note else [])


def _entry(config: Config, i: int) -> tuple[BatteryEntry, str | None]:
    path = ("channels", i)
    if not isinstance(config.get(path), dict):
        raise config.error(path, "must be a mapping {name: ..., channel: [...]}")
    config.check_keys(path, ("name", "channel"))
    specs = config.get(path + ("channel",))
    name = config.get(path + ("name",))
    if specs == TRAINING_CHANNEL:
        return BatteryEntry(name or "training channel", None), None
    if not isinstance(specs, list) or not specs:
        raise config.error(path + ("channel",), f"must be a non-empty list of channel steps or '{TRAINING_CHANNEL}'")
    steps = []
    for j in range(len(specs)):
        step_path = path + ("channel", j)
        config.check_spec(step_path, registry.layers)
        check_role(config, step_path, "channel")
        steps.append(config.build(step_path, registry.layers))
    label = name if isinstance(name, str) and name else describe_steps(steps)
    for step in steps:
        available = getattr(step, "available", None)
        if callable(available) and not available():
            return BatteryEntry(label, steps), f"skipped '{label}': this Pillow cannot encode {step.FORMAT}"
    return BatteryEntry(label, steps), None

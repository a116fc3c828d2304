"""Components in their place: a config names a component only where its role fits.

`manipulations:` takes manipulations, `channel:` channel steps, `nip:` a NIP and `fan:` a
FAN (roles are declared by entry-point groups, see `nipkit.registry`). A building block
such as `clip_unit` fits none of them: as a manipulation it would give a class that looks
exactly like `native`.

Example:
    >>> from nipkit.config import Config
    >>> check_roles(Config({"nip": "inet", "manipulations": ["sharpen", "clip_unit"]}, "exp.yaml"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nipkit.errors.ConfigError: exp.yaml: manipulations[1]: 'clip_unit' is a building block, not a manipulation; ...
"""
from __future__ import annotations

import warnings

from nipkit import registry
from nipkit.config import Config, ConfigPath
from nipkit.registry import ROLES, PluginWarning, Registry, parse_spec

__all__ = ["PLACES", "check_roles", "check_role"]

# config key -> the role a component named there must have
PLACES = {"nip": "nip", "manipulations": "manipulation", "channel": "channel", "fan": "fan", "codec": "codec"}


def check_roles(config: Config) -> None:
    """Raises `ConfigError` (FILE:LINE, the path, the keys allowed there) for a component
    named where its role does not fit. Unknown names are left to the schema's checks."""
    for key, role in PLACES.items():
        value = config.get((key,))
        if value is None:
            continue
        paths = [(key, i) for i in range(len(value))] if isinstance(value, list) else [(key,)]
        for path in paths:
            check_role(config, path, role)


def check_role(config: Config, path: ConfigPath, role: str) -> None:
    """Checks the one component spec at `path` against `role` (a key of `ROLES`)."""
    reg: Registry = getattr(registry, ROLES[role].kind)
    name = parse_spec(config.get(path))[0]
    entry = reg.entry(name)
    if not entry.roles:
        warnings.warn(
            f"{config.where(path)}: {reg.kind[:-1]} '{name}' from '{entry.distribution}' declares no role; "
            f"its package should list it under the entry-point group {ROLES[role].group}",
            PluginWarning,
            stacklevel=2,
        )
        return
    if role not in entry.roles:
        allowed = ", ".join(reg.names(role=role)) or "none installed"
        raise config.error(
            config.name_path(path),
            f"'{name}' is {entry.describe()}, not {ROLES[role].label}; allowed here: {allowed}",
        )

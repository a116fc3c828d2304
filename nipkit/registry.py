"""Registries of nipkit components, filled from Python entry points.

Each component declares its roles (what it is, and so where a config may name it) by the
entry-point groups it is listed in, one group per role:

| role | group | registry | a config names it in |
|---|---|---|---|
| manipulation | `nipkit.manipulations` | `layers` | `manipulations:` |
| channel step | `nipkit.channel` | `layers` | `channel:` |
| building block | `nipkit.blocks` | `layers` | nowhere (parts of models) |
| codec | `nipkit.codecs` | `layers` | `codec:` (`nipkit train codec`) |
| NIP | `nipkit.nips` | `models` | `nip:` |
| FAN | `nipkit.fans` | `models` | `fan:` |

A key listed in several groups with the same target is one component with several roles
(`jpeg` is a manipulation and a channel step). nipkit's own components are declared in its
`setup.py` exactly as a plugin package declares its own, so built-ins and plugins take one
path. Listing names and roles reads package metadata only; a class is imported on its
first `get`. Entries in the older groups `nipkit.layers` and `nipkit.models` still load,
with no role declared.

Environment variables:
    NIPKIT_STRICT_PLUGINS=1: a plugin that fails to import is an error, not a warning.
    NIPKIT_DISABLE_PLUGINS=a,b: ignore entries whose distribution is `a`, or whose key is
        `b` (or `layers:b` / `models:b` for one registry only).

Example:
    >>> from nipkit import registry
    >>> "jpeg" in registry.layers.names()
    True
    >>> registry.layers.roles("jpeg")
    ('manipulation', 'channel')
    >>> registry.layers.names("*", role="block")
    ['clip_unit', 'constrained_conv2d', 'depth_to_space', 'gdn']
    >>> registry.layers.build({"jpeg": {"quality": 80}}).quality
    80
"""
from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import os
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Mapping

from nipkit.errors import ConfigError, PluginLoadError, RegistryError

__all__ = [
    "Entry", "Registry", "Role", "ROLES", "PluginWarning", "build", "parse_spec", "roles_of", "describe_roles",
    "builtin_exports", "layers", "models",
]

# Keyword arguments every Keras layer or model accepts besides its own parameters.
_KERAS_BASE_PARAMS = ("name", "dtype", "trainable")


class PluginWarning(UserWarning):
    """A plugin failed to import and was skipped."""


@dataclass(frozen=True)
class Role:
    """What a component is, and the entry-point group that declares it.

    Args:
        name: the role's key (`manipulation`, `channel`, ...).
        label: how messages name one such component ("a building block").
        heading: the plural `nipkit list` groups under ("building blocks").
        group: the entry-point group.
        kind: the registry that holds it (`layers` or `models`).
    """

    name: str
    label: str
    heading: str
    group: str
    kind: str


ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role("manipulation", "a manipulation", "manipulations", "nipkit.manipulations", "layers"),
        Role("channel", "a channel step", "channel steps", "nipkit.channel", "layers"),
        Role("block", "a building block", "building blocks", "nipkit.blocks", "layers"),
        Role("codec", "a codec", "codecs", "nipkit.codecs", "layers"),
        Role("nip", "a NIP", "NIPs", "nipkit.nips", "models"),
        Role("fan", "a FAN", "FANs", "nipkit.fans", "models"),
    )
}


@dataclass(frozen=True)
class Entry:
    """One registry key: where it comes from and what it is, before anything is imported."""

    name: str
    target: str  # "module:attr"
    distribution: str
    version: str
    roles: tuple[str, ...] = ()  # () for an entry in a group without a role

    @property
    def class_name(self) -> str:
        return self.target.rpartition(":")[2]

    def describe(self) -> str:
        """What the entry is, e.g. "a manipulation and a channel step"."""
        return describe_roles(self.roles)


def describe_roles(roles: tuple[str, ...]) -> str:
    """"a building block", "a manipulation and a channel step", or "a component of no
    declared role".

    Example:
        >>> describe_roles(("manipulation", "channel"))
        'a manipulation and a channel step'
    """
    if not roles:
        return "a component of no declared role"
    return " and ".join(ROLES[r].label if r in ROLES else f"a {r}" for r in roles)


def _disabled() -> set[str]:
    raw = os.environ.get("NIPKIT_DISABLE_PLUGINS", "")
    return {item.strip() for item in raw.split(",") if item.strip()}


def _entry_points(groups: Mapping[str, str | None]):
    """(role or None, entry point) for every entry of the groups."""
    for group, role in groups.items():
        for ep in metadata.entry_points(group=group):
            yield role, ep


class Registry:
    """Named components of one kind (layers or models), filled from their roles' groups.

    Args:
        kind: a plural noun used in messages and in `nipkit list KIND`.
        groups: entry-point group -> the role its entries have (None: no role declared).
            Defaults to the groups of every role of this kind, and `nipkit.KIND`.
    """

    def __init__(self, kind: str, groups: Mapping[str, str | None] | None = None) -> None:
        self.kind = kind
        if groups is None:
            groups = {r.group: r.name for r in ROLES.values() if r.kind == kind}
            groups[f"nipkit.{kind}"] = None
        self.groups = dict(groups)
        self._entries: dict[str, list[Entry]] | None = None
        self._local: dict[str, tuple[type, tuple[str, ...]]] = {}
        self._loaded: dict[str, type] = {}
        self._failed: dict[str, BaseException] = {}

    # -- discovery (no imports) -------------------------------------------------------
    def _scan(self) -> dict[str, list[Entry]]:
        if self._entries is None:
            disabled = _disabled()
            found: dict[str, list[Entry]] = {}
            for role, ep in _entry_points(self.groups):
                dist = ep.dist.metadata["Name"] if ep.dist else "<unknown>"
                version = ep.dist.version if ep.dist else "?"
                if {dist, ep.name, f"{self.kind}:{ep.name}"} & disabled:
                    continue
                offers = found.setdefault(ep.name, [])
                roles = (role,) if role else ()
                for i, offer in enumerate(offers):
                    if (offer.target, offer.distribution) == (ep.value, dist):
                        merged = offer.roles + tuple(r for r in roles if r not in offer.roles)
                        offers[i] = Entry(ep.name, ep.value, dist, version, _in_role_order(merged))
                        break
                else:
                    offers.append(Entry(ep.name, ep.value, dist, version, roles))
            self._entries = found
        return self._entries

    def names(self, pattern: str | None = None, role: str | None = None) -> list[str]:
        """Sorted registry keys. Imports nothing.

        Args:
            pattern: an fnmatch wildcard the keys must match.
            role: only keys that declare this role (a key of `ROLES`).
        """
        keys = sorted(set(self._scan()) | set(self._local))
        if pattern:
            keys = [k for k in keys if fnmatch.fnmatchcase(k, pattern)]
        if role:
            keys = [k for k in keys if role in self._declared_roles(k)]
        return keys

    def _declared_roles(self, name: str) -> tuple[str, ...]:
        if name in self._local:
            return self._local[name][1]
        return tuple(r for offer in self._scan().get(name, ()) for r in offer.roles)

    def roles(self, name: str) -> tuple[str, ...]:
        """The roles `name` declares, e.g. `('manipulation', 'channel')`; () if none."""
        return self.entry(name).roles

    def entry(self, name: str) -> Entry:
        """The single entry behind `name`; raises if unknown or offered twice."""
        if name in self._local:
            cls, roles = self._local[name]
            return Entry(name, f"{cls.__module__}:{cls.__qualname__}", "<local>", "", roles)
        offers = self._scan().get(name)
        if not offers:
            raise RegistryError(self._unknown_message(name))
        if len(offers) > 1:
            who = " and ".join(f"'{e.distribution}' ({e.target})" for e in offers)
            raise RegistryError(
                f"{self.kind[:-1]} '{name}' is offered by both {who}; uninstall one or set "
                f"NIPKIT_DISABLE_PLUGINS to the distribution to ignore"
            )
        return offers[0]

    def entries(self) -> list[Entry]:
        """Every entry offered, in key order (a key offered twice gives both). Imports nothing."""
        local = [self.entry(name) for name in sorted(self._local)]
        scanned = [e for name in sorted(self._scan()) if name not in self._local for e in self._scan()[name]]
        return sorted(local + scanned, key=lambda e: e.name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(str(name), self.names(), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind[:-1]} '{name}'{hint} (see `nipkit list {self.kind}`)"

    # -- loading ----------------------------------------------------------------------
    def get(self, name: str) -> type:
        """The class registered as `name`, imported on first use."""
        if name in self._local:
            return self._local[name][0]
        if name in self._loaded:
            return self._loaded[name]
        entry = self.entry(name)
        if name in self._failed:
            raise self._plugin_error(entry, self._failed[name]) from self._failed[name]
        try:
            cls = _import_target(entry.target)
        except Exception as exc:  # any import-time failure of third-party code
            self._failed[name] = exc
            raise self._plugin_error(entry, exc) from exc
        self._loaded[name] = cls
        return cls

    def _plugin_error(self, entry: Entry, exc: BaseException) -> PluginLoadError:
        return PluginLoadError(
            f"{self.kind[:-1]} '{entry.name}' from distribution '{entry.distribution}' "
            f"{entry.version} failed to import ({entry.target}): {type(exc).__name__}: {exc}"
        )

    def load_all(self) -> dict[str, type]:
        """Imports every entry; a broken plugin warns once and is skipped.

        With NIPKIT_STRICT_PLUGINS=1 the first broken plugin raises `PluginLoadError`.
        """
        strict = os.environ.get("NIPKIT_STRICT_PLUGINS", "") not in ("", "0")
        loaded = {}
        for name in self.names():
            already_failed = name in self._failed
            try:
                loaded[name] = self.get(name)
            except (PluginLoadError, RegistryError) as exc:
                if strict:
                    raise
                if not already_failed:
                    warnings.warn(f"skipped: {exc}", PluginWarning, stacklevel=2)
        return loaded

    def register(
        self, name: str, cls: type | None = None, roles: tuple[str, ...] = ()
    ) -> Callable[[type], type] | type:
        """Registers a class in this process only (notebooks, tests); usable as a decorator.

        Args:
            name: the key.
            cls: the class; omit it to use `register` as a decorator.
            roles: what the class is, keys of `ROLES` (e.g. `("manipulation",)`).

        Example:
            >>> @registry.layers.register("my_blur", roles=("manipulation",))  # doctest: +SKIP
            ... class MyBlur(keras.layers.Layer): ...
        """
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise ValueError(f"unknown role {unknown[0]!r}; roles: {', '.join(ROLES)}")

        def add(target: type) -> type:
            self._local[name] = (target, _in_role_order(tuple(roles)))
            return target

        return add(cls) if cls is not None else add

    # -- building ---------------------------------------------------------------------
    def resolve(self, spec: Any) -> tuple[type, dict[str, Any]]:
        """Checks a spec against this registry and the constructor; builds nothing."""
        name, params = parse_spec(spec)
        cls = self.get(name)
        check_params(cls, name, params)
        return cls, params

    def build(self, spec: Any, **defaults: Any) -> Any:
        """Builds a component from a spec: `name`, `{type: name, ...}` or `{name: {...}}`.

        Args:
            spec: the spec.
            **defaults: parameters used where the spec does not set them and the
                constructor accepts them (e.g. a dataset's `cfa`).
        """
        return build(spec, self, **defaults)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, groups={self.groups!r})"


def _in_role_order(roles: tuple[str, ...]) -> tuple[str, ...]:
    order = list(ROLES)
    return tuple(sorted(roles, key=lambda r: order.index(r) if r in order else len(order)))


def _import_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def parse_spec(spec: Any) -> tuple[str, dict[str, Any]]:
    """Splits a spec into (name, params).

    A spec is `"name"`, `{"type": "name", **params}` or `{"name": params}` (params may
    be empty or null).
    """
    if isinstance(spec, str) and spec:
        return spec, {}
    if isinstance(spec, Mapping):
        if "type" in spec:
            if not isinstance(spec["type"], str):
                raise ConfigError(f"'type' must be a component name, got {spec['type']!r}")
            return spec["type"], {k: v for k, v in spec.items() if k != "type"}
        if len(spec) == 1:
            (name, params), = spec.items()
            if params is None:
                params = {}
            if isinstance(name, str) and isinstance(params, Mapping):
                return name, dict(params)
    raise ConfigError(
        f"a component spec is a name, {{type: name, ...}} or {{name: {{...}}}}, got {spec!r}"
    )


def accepted_params(cls: Any) -> tuple[list[str], bool]:
    """The constructor's named parameters, and whether it takes arbitrary **kwargs."""
    params, var_kw = [], False
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.kind is p.VAR_POSITIONAL:
            continue
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        else:
            params.append(p.name)
    return params, var_kw


def check_params(cls: type, name: str, params: Mapping[str, Any]) -> None:
    """Raises `ConfigError` for a parameter the constructor does not accept."""
    own, var_kw = accepted_params(cls)
    allowed = set(own) | (set(_KERAS_BASE_PARAMS) if var_kw else set())
    for key in params:
        if key not in allowed:
            raise ConfigError(
                f"unknown parameter '{key}' for '{name}'; accepted: {', '.join(own) or 'none'}"
            )


def build(spec: Any, registry: Registry, **defaults: Any) -> Any:
    """Builds one component from a spec.

    Args:
        spec: `"name"`, `{"type": "name", **params}` or `{"name": params}`.
        registry: `nipkit.registry.layers` or `nipkit.registry.models`.
        **defaults: parameters applied where the spec leaves them out and the constructor
            names them.

    Returns:
        The component instance.

    Example:
        >>> build({"gaussian": {"sigma": 1.2}}, layers).sigma
        1.2
    """
    cls, params = registry.resolve(spec)
    own, _ = accepted_params(cls)
    for key, value in defaults.items():
        if key in own and key not in params:
            params[key] = value
    name = parse_spec(spec)[0]
    try:
        return cls(**params)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"'{name}': {exc}") from exc


def roles_of(cls: type) -> tuple[str, ...]:
    """The roles declared for a class by its registry entries; () if it is not registered.

    Reads metadata only (a loaded `.keras` model's class is matched by its import path).

    Example:
        >>> from nipkit.models.fan import FAN
        >>> roles_of(FAN)
        ('fan',)
    """
    target = f"{cls.__module__}:{cls.__qualname__}"
    found: list[str] = []
    for registry in (layers, models):
        for entry in registry.entries():
            if entry.target == target:
                found += [r for r in entry.roles if r not in found]
    return _in_role_order(tuple(found))


def builtin_exports(package: str) -> dict[str, str]:
    """`{class name: module}` of nipkit's own components under `package` (e.g.
    `"nipkit.layers"`), read from nipkit's entry points whatever plugins are disabled.

    Example:
        >>> builtin_exports("nipkit.models")["UNet"]
        'unet'
    """
    # The older groups too, so an installation with stale metadata still exports its classes.
    groups: dict[str, str | None] = {r.group: r.name for r in ROLES.values()}
    groups.update({"nipkit.layers": None, "nipkit.models": None})
    exports = {}
    for _, ep in _entry_points(groups):
        module, _, attr = ep.value.partition(":")
        if ep.dist is not None and ep.dist.metadata["Name"] == "nipkit" and module.startswith(f"{package}."):
            exports[attr] = module[len(package) + 1:]
    return dict(sorted(exports.items()))


layers = Registry("layers")
models = Registry("models")

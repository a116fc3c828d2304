"""Registries of nipkit components, filled from Python entry points.

nipkit's own layers and models are declared in its `setup.py` under the entry-point groups
`nipkit.layers` and `nipkit.models`, exactly as a plugin package declares its own, so
built-ins and plugins take one path. Listing names reads package metadata only; a class
is imported on its first `get`.

Environment variables:
    NIPKIT_STRICT_PLUGINS=1: a plugin that fails to import is an error, not a warning.
    NIPKIT_DISABLE_PLUGINS=a,b: ignore entries whose distribution is `a`, or whose key is
        `b` (or `layers:b` / `models:b` for one registry only).

Example:
    >>> from nipkit import registry
    >>> "jpeg" in registry.layers.names()
    True
    >>> jpeg = registry.layers.build({"jpeg": {"quality": 80}})  # doctest: +SKIP
"""
from __future__ import annotations

import difflib
import fnmatch
import inspect
import os
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Mapping

from nipkit.errors import ConfigError, PluginLoadError, RegistryError

__all__ = ["Entry", "Registry", "PluginWarning", "build", "parse_spec", "layers", "models"]

# Keyword arguments every Keras layer or model accepts besides its own parameters.
_KERAS_BASE_PARAMS = ("name", "dtype", "trainable")


class PluginWarning(UserWarning):
    """A plugin failed to import and was skipped."""


@dataclass(frozen=True)
class Entry:
    """One registry key: where it comes from, before anything is imported."""

    name: str
    target: str  # "module:attr"
    distribution: str
    version: str

    @property
    def class_name(self) -> str:
        return self.target.rpartition(":")[2]


def _disabled() -> set[str]:
    raw = os.environ.get("NIPKIT_DISABLE_PLUGINS", "")
    return {item.strip() for item in raw.split(",") if item.strip()}


class Registry:
    """Named components of one kind (layers or models), filled from one entry-point group.

    Args:
        kind: a plural noun used in messages and in `nipkit list KIND`.
        group: the entry-point group to read.
    """

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, list[Entry]] | None = None
        self._local: dict[str, type] = {}
        self._loaded: dict[str, type] = {}
        self._failed: dict[str, BaseException] = {}

    # -- discovery (no imports) -------------------------------------------------------
    def _scan(self) -> dict[str, list[Entry]]:
        if self._entries is None:
            disabled = _disabled()
            found: dict[str, list[Entry]] = {}
            for ep in metadata.entry_points(group=self.group):
                dist = ep.dist.metadata["Name"] if ep.dist else "<unknown>"
                version = ep.dist.version if ep.dist else "?"
                if {dist, ep.name, f"{self.kind}:{ep.name}"} & disabled:
                    continue
                entry = Entry(ep.name, ep.value, dist, version)
                offers = found.setdefault(ep.name, [])
                if entry not in offers:
                    offers.append(entry)
            self._entries = found
        return self._entries

    def refresh(self) -> None:
        """Forgets what was discovered, so newly installed plugins are seen."""
        self._entries = None
        self._loaded.clear()
        self._failed.clear()

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted registry keys, optionally filtered by an fnmatch pattern. Imports nothing."""
        keys = sorted(set(self._scan()) | set(self._local))
        if pattern:
            keys = [k for k in keys if fnmatch.fnmatchcase(k, pattern)]
        return keys

    def entry(self, name: str) -> Entry:
        """The single entry behind `name`; raises if unknown or offered twice."""
        if name in self._local:
            cls = self._local[name]
            return Entry(name, f"{cls.__module__}:{cls.__qualname__}", "<local>", "")
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
            return self._local[name]
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

    def register(self, name: str, cls: type | None = None):
        """Registers a class in this process only (notebooks, tests); usable as a decorator.

        Example:
            >>> @registry.layers.register("my_blur")  # doctest: +SKIP
            ... class MyBlur(keras.layers.Layer): ...
        """

        def add(target: type) -> type:
            self._local[name] = target
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
        return f"Registry({self.kind!r}, group={self.group!r})"


def _import_target(target: str) -> type:
    import importlib

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


def accepted_params(cls: type) -> tuple[list[str], bool]:
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
        >>> blur = build({"gaussian": {"sigma": 1.2}}, layers)  # doctest: +SKIP
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


layers = Registry("layers", "nipkit.layers")
models = Registry("models", "nipkit.models")

"""Experiment and training configs: safe YAML with line numbers, overrides and checks.

Every config error names where it is: `FILE:LINE: path.in[0].document: what is wrong`.

Example:
    >>> cfg = load_config("examples/quickstart.yaml", overrides=["training.steps=50"])  # doctest: +SKIP
    >>> jpeg = cfg.build(("channel", 1), registry.layers)  # doctest: +SKIP
"""
from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from nipkit.errors import ConfigError, NipkitError, PluginLoadError, RegistryError
from nipkit.registry import Registry, parse_spec

__all__ = ["Config", "load_config", "format_path", "parse_override"]

ConfigPath = tuple  # of str keys and int indices


def format_path(path: Iterable) -> str:
    """("channel", 1, "quality") -> "channel[1].quality"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<document>"


def _split_dotted(dotted: str) -> ConfigPath:
    parts: list = []
    for token in re.findall(r"[^.\[\]]+", dotted):
        parts.append(int(token) if token.isdigit() else token)
    return tuple(parts)


MAX_VALUES = 100_000
"""The most values (mappings, lists and scalars) a config may hold once its aliases are
expanded; beyond it, `*alias` references nest into an exponential "alias bomb"."""


def _lines_of(root: yaml.Node, source: str) -> dict:
    """Document path -> line number, walking `root` as the tree its aliases expand to.

    Raises ConfigError past MAX_VALUES expanded values, before the walk (or any later
    walk of the data) can exhaust memory.
    """
    lines: dict = {}
    todo: list[tuple[yaml.Node, ConfigPath]] = [(root, ())]
    seen = 0
    while todo:
        node, path = todo.pop()
        lines.setdefault(path, node.start_mark.line + 1)  # a mapping's value keeps its key's line
        seen += 1
        if seen > MAX_VALUES:
            raise ConfigError(
                f"{source}:{node.start_mark.line + 1}: the YAML's aliases (*name) expand to more than "
                f"{MAX_VALUES:,} values; write the values out instead of nesting aliases of lists or mappings"
            )
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                todo.append((value_node, path + (key_node.value,)))
                lines[path + (key_node.value,)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, path + (i,)) for i, item in enumerate(node.value))
    return lines


class _Loader(yaml.SafeLoader):
    """Safe YAML that also reads `1e-4` as a number (YAML 1.1 wants `1.0e-4`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _parse_yaml(text: str, source: str) -> tuple[Any, dict]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{source}{line}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, _lines_of(node, source) if node is not None else {}


# A plain scalar that starts with `*` at the start of a value or of a flow-list item.
_GLOB_ITEM = re.compile(r"(^|[\[,])(\s*)(\*[^,\]\s]*)")


def parse_override(text: str) -> tuple[ConfigPath, Any]:
    """`"a.b[1].c=value"` -> (("a", "b", 1, "c"), value parsed as YAML).

    A value or list item starting with `*` is a string (a glob such as `*_day`): as YAML
    it would be an alias, which a value on its own cannot refer to."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. training.steps=100")
    value: Any = None
    if raw.strip():
        try:
            value = _parse_yaml(raw, f"--set {text!r}")[0]
        except ConfigError:
            if raw.strip().startswith("*"):  # a lone glob, taken whole (spaces and all)
                return _split_dotted(key.strip()), raw.strip()
            # Without an anchor (`&`) no `*` can be an alias: read those items as globs.
            globs_quoted = _GLOB_ITEM.sub(r'\1\2"\3"', raw)
            if "&" in raw or globs_quoted == raw:
                raise
            value = _parse_yaml(globs_quoted, f"--set {text!r}")[0]
    return _split_dotted(key.strip()), value


class Config:
    """A parsed config document that remembers where each value came from.

    Args:
        data: the document (a mapping).
        source: the file it came from, for messages.
        lines: document path -> line number.
    """

    def __init__(self, data: Mapping, source: str = "<config>", lines: dict | None = None) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}:1: the config must be a mapping of keys, got {type(data).__name__}")
        self.data = dict(data)
        self.source = source
        self.lines = dict(lines or {})
        self.origins: dict[ConfigPath, str] = {}
        # top-level key -> the key the user wrote (see `section_as`)
        self.shown_as: dict[str, str] = {}

    # -- locating --------------------------------------------------------------------
    def where(self, path: Iterable) -> str:
        """`FILE:LINE` of `path`, or of its nearest ancestor present in the file."""
        path = tuple(path)
        for n in range(len(path), -1, -1):
            if path[:n] in self.origins:
                return self.origins[path[:n]]
            if path[:n] in self.lines:
                return f"{self.source}:{self.lines[path[:n]]}"
        return self.source

    def name_of(self, path: Iterable) -> str:
        """`path` as the user wrote it, e.g. "pretrain.learning_rate" in a `section_as` config."""
        path = tuple(path)
        if path and path[0] in self.shown_as:
            path = (self.shown_as[path[0]],) + path[1:]
        return format_path(path)

    def error(self, path: Iterable, message: str) -> ConfigError:
        """A `ConfigError` located at `path`."""
        path = tuple(path)
        return ConfigError(f"{self.where(path)}: {self.name_of(path)}: {message}")

    def section_as(self, sections: Mapping[str, str]) -> "Config":
        """A config of some of this one's sections under other keys, e.g. `pretrain` as `training`.

        Lines, `--set` origins and error messages keep naming the keys as the user wrote
        them (`pretrain.learning_rate`, `--set pretrain.learning_rate=...`).

        Args:
            sections: new top-level key -> the key of this config it takes its value from.
        """
        def moved(table: dict) -> dict:
            return {(new,) + path[1:]: value for new, old in sections.items()
                    for path, value in table.items() if path[:1] == (old,)}

        new = Config({k: copy.deepcopy(self.data.get(old)) for k, old in sections.items()}, self.source, moved(self.lines))
        new.origins = moved(self.origins)
        new.shown_as = {k: old for k, old in sections.items() if k != old}
        return new

    # -- reading and writing ---------------------------------------------------------
    def get(self, path: Iterable | str, default: Any = None) -> Any:
        """The value at `path` (a tuple or a dotted string), or `default`."""
        node: Any = self.data
        for part in _split_dotted(path) if isinstance(path, str) else tuple(path):
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return default
        return node

    def set(self, path: Iterable | str, value: Any, origin: str | None = None) -> None:
        """Sets a value, creating mappings on the way; lists are indexed."""
        path = _split_dotted(path) if isinstance(path, str) else tuple(path)
        node: Any = self.data
        for i, part in enumerate(path[:-1]):
            nxt = path[i + 1]
            if isinstance(node, list):
                if not isinstance(part, int) or part >= len(node):
                    raise self.error(path[: i + 1], "no such list item")
            elif not isinstance(node, dict):
                raise self.error(path[:i], "is not a mapping")
            elif node.get(part) is None:
                node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
        last = path[-1]
        if isinstance(node, list) and (not isinstance(last, int) or last >= len(node)):
            raise self.error(path, "no such list item")
        node[last] = value
        if origin:
            self.origins[path] = origin

    def section(self, key: str) -> dict:
        value = self.data.get(key) or {}
        if not isinstance(value, Mapping):
            raise self.error((key,), f"must be a mapping, got {type(value).__name__}")
        return dict(value)

    def to_yaml(self) -> str:
        """The resolved document as YAML (what a run folder stores as config.yaml)."""
        return yaml.safe_dump(self.data, sort_keys=False)

    # -- schema checks ---------------------------------------------------------------
    def check_keys(self, path: ConfigPath, allowed: Iterable[str]) -> None:
        """Errors on a key of the mapping at `path` that is not in `allowed`."""
        allowed = list(allowed)
        node = self.get(path, {}) or {}
        if not isinstance(node, Mapping):
            raise self.error(path, f"must be a mapping, got {type(node).__name__}")
        for key in node:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise self.error(path + (key,), f"unknown key{hint}; allowed: {', '.join(allowed)}")

    # -- components ------------------------------------------------------------------
    def _spec_param_path(self, path: ConfigPath, param: str) -> ConfigPath:
        spec = self.get(path)
        if isinstance(spec, Mapping) and "type" not in spec and len(spec) == 1:
            return path + (next(iter(spec)), param)
        return path + (param,)

    def _locate(self, path: ConfigPath, exc: NipkitError) -> ConfigError:
        spec = self.get(path)
        message = str(exc)
        try:
            _, params = parse_spec(spec)
        except ConfigError:
            return self.error(path, message)
        # A value error names its parameter; an unknown or broken component does not.
        if not isinstance(exc, (RegistryError, PluginLoadError)):
            for param in params:
                if re.search(rf"\b{re.escape(str(param))}\b", message):
                    return self.error(self._spec_param_path(path, param), message)
        return self.error(self.name_path(path), message)

    def name_path(self, path: ConfigPath) -> ConfigPath:
        """Where the component spec at `path` writes its name: `path`, `path.type` or
        `path.NAME` (for `{NAME: {...}}`)."""
        spec = self.get(path)
        if not isinstance(spec, Mapping):
            return path
        if "type" in spec:
            return path + ("type",)
        return path + (next(iter(spec)),) if len(spec) == 1 else path

    def spec(self, path: ConfigPath, drop: Iterable[str] = ()) -> Any:
        """The component spec at `path`, less keys nipkit reads itself (e.g. `weights`)."""
        spec = copy.deepcopy(self.get(path))
        drop = set(drop)
        if isinstance(spec, dict) and drop:
            if "type" in spec:
                spec = {k: v for k, v in spec.items() if k not in drop}
            elif len(spec) == 1:
                name, params = next(iter(spec.items()))
                if isinstance(params, dict):
                    spec = {name: {k: v for k, v in params.items() if k not in drop}}
        return spec

    def spec_option_path(self, path: ConfigPath, key: str) -> ConfigPath:
        """Where `key` sits inside the component spec at `path` (for messages), e.g. channel[1].jpeg.weights."""
        return self._spec_param_path(tuple(path), key)

    def spec_option(self, path: ConfigPath, key: str) -> Any:
        """A nipkit option written inside a component spec, e.g. a NIP's `weights`."""
        spec = self.get(path)
        if isinstance(spec, Mapping):
            if key in spec:
                return spec[key]
            if len(spec) == 1 and isinstance(next(iter(spec.values())), Mapping):
                return next(iter(spec.values())).get(key)
        return None

    def check_spec(self, path: ConfigPath, registry: Registry, drop: Iterable[str] = ()) -> type:
        """Resolves the spec at `path` against a registry without building it."""
        if self.get(path) is None:
            raise self.error(path, f"is required (a {registry.kind[:-1]} spec)")
        try:
            return registry.resolve(self.spec(path, drop))[0]
        except NipkitError as exc:
            raise self._locate(path, exc) from exc

    def build(self, path: ConfigPath, registry: Registry, drop: Iterable[str] = (),
              values: Mapping[str, Any] | None = None, **defaults: Any) -> Any:
        """Builds the component at `path`; errors carry the spec's location.

        `values` replace parameters of the spec (e.g. a random argument's stand-in).
        """
        if self.get(path) is None:
            raise self.error(path, f"is required (a {registry.kind[:-1]} spec)")
        try:
            spec = self.spec(path, drop)
            if values:
                name, params = parse_spec(spec)
                spec = {"type": name, **params, **values}
            return registry.build(spec, **defaults)
        except NipkitError as exc:
            raise self._locate(path, exc) from exc


EXTENDS = "extends"
"""The top-level key naming the config a config is written on top of."""


def _kept_from_base(child: Any, path: ConfigPath) -> bool:
    """Whether the value at `path` of the base survives the merge with `child`."""
    node = child
    for part in path:
        if not isinstance(node, dict):
            return False  # the child replaces this part of the base (a list or a value)
        if part not in node:
            return True
        node = node[part]
    return False


def _merge(base: Any, child: Any) -> Any:
    """`child` over `base`: mappings merge key by key, lists and values replace."""
    if not (isinstance(base, dict) and isinstance(child, dict)):
        return copy.deepcopy(child)
    merged = {k: (_merge(v, child[k]) if k in child else copy.deepcopy(v)) for k, v in base.items()}
    merged.update({k: copy.deepcopy(v) for k, v in child.items() if k not in base})
    return merged


def _read_config(path: Path, chain: tuple[Path, ...] = ()) -> Config:
    """The config at `path`, written on top of the one its `extends:` names, if any."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    data, lines = _parse_yaml(text, str(path))
    config = Config(data if data is not None else {}, str(path), lines)
    if EXTENDS not in config.data:
        return config
    name = config.data.pop(EXTENDS)
    if not isinstance(name, str) or not name.strip():
        raise config.error((EXTENDS,), f"must name a config file (relative to this one), got {name!r}")
    base_path = path.parent / name
    if base_path.resolve() in chain + (path.resolve(),):
        circle = " -> ".join(p.name for p in chain + (path, base_path))
        raise config.error((EXTENDS,), f"{circle}: configs cannot extend in a circle")
    try:
        base = _read_config(base_path, chain + (path.resolve(),))
    except ConfigError as exc:
        raise config.error((EXTENDS,), str(exc)) from None
    merged = Config(_merge(base.data, config.data), str(path),
                    {p: line for p, line in config.lines.items() if p[:1] != (EXTENDS,)})
    base_paths = set(base.lines) | set(base.origins)
    merged.origins = {p: base.where(p) for p in base_paths if p and _kept_from_base(config.data, p)}
    return merged


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> Config:
    """Reads a YAML config safely and applies `--set` overrides.

    A config may start with `extends: OTHER.yaml` (a path relative to it): it is then
    OTHER's document with this one's keys on top. Mappings merge key by key; a list (a
    channel, the manipulations) or a value replaces OTHER's. Errors name the file and
    line each value came from.

    Args:
        path: the YAML file.
        overrides: `KEY=VALUE` strings; the value is parsed as YAML.

    Returns:
        The `Config`.

    Raises:
        ConfigError: the file (or one it extends) is missing, unreadable, not YAML, or
            extends in a circle; an override is malformed.
    """
    config = _read_config(Path(path))
    for item in overrides:
        key, value = parse_override(item)
        config.set(key, value, origin=f"--set {item}")
    return config

"""Lazy exports for packages whose members import TensorFlow."""
from __future__ import annotations

import importlib
from typing import Callable, Mapping


def lazy_exports(package: str, modules: Mapping[str, str]) -> tuple[Callable, Callable]:
    """`__getattr__` and `__dir__` for a package exporting `name -> submodule` lazily.

    Example:
        >>> __getattr__, __dir__ = lazy_exports(__name__, {"INet": "inet"})  # doctest: +SKIP
    """
    names = sorted(modules)

    def __getattr__(name: str):
        if name in modules:
            return getattr(importlib.import_module(f"{package}.{modules[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__

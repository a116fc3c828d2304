"""Shared fixtures: the `nipkit` command as a user runs it, installed fixture plugins, demo data."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support import FIXTURES, pip_install_target, run_nipkit

# Plugin packages to install, not test modules (pytest --doctest-modules would import them).
collect_ignore = ["fixtures"]


@pytest.fixture(scope="session")
def nipkit_cli():
    return run_nipkit


@pytest.fixture(scope="session")
def fixture_plugins(tmp_path_factory) -> dict[str, Path]:
    """The fixture plugin distributions, each installed into its own folder."""
    root = tmp_path_factory.mktemp("plugins")
    installed = {}
    for name in ("good", "broken", "channel"):
        build = root / f"src-{name}"
        shutil.copytree(FIXTURES / "plugins" / name, build)
        pip_install_target(build, root / name)
        installed[name] = root / name
    return installed


@pytest.fixture(scope="session")
def demo_data() -> Path:
    """The default demo camera, built once into the user's cache and shared."""
    from nipkit.data import resolve_data

    return resolve_data("demo")

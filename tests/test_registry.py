"""The entry-point registries: discovery, lazy loading, errors, building from specs."""
from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from nipkit import registry
from nipkit.errors import ConfigError, PluginLoadError, RegistryError
from nipkit.registry import Registry, build, parse_spec


def test_builtins_come_from_entry_points():
    entry = registry.layers.entry("jpeg")
    assert entry.distribution == "nipkit"
    assert entry.target == "nipkit.layers.jpeg:DifferentiableJPEG"


def test_names_does_not_import_tensorflow():
    code = (
        "import nipkit.registry as r, sys; r.layers.names(); r.models.names('*net');"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pattern_is_fnmatch():
    assert registry.models.names("?net") == ["dnet", "inet", "onet", "unet"]


def test_parse_spec_forms():
    assert parse_spec("jpeg") == ("jpeg", {})
    assert parse_spec({"type": "jpeg", "quality": 80}) == ("jpeg", {"quality": 80})
    assert parse_spec({"jpeg": {"quality": 80}}) == ("jpeg", {"quality": 80})
    assert parse_spec({"jpeg": None}) == ("jpeg", {})
    with pytest.raises(ConfigError):
        parse_spec({"a": 1, "b": 2})
    with pytest.raises(ConfigError):
        parse_spec(3)


def test_unknown_key_suggests_close_matches():
    with pytest.raises(RegistryError) as err:
        registry.layers.get("gausian")
    message = str(err.value)
    assert "'gaussian'" in message and "nipkit list layers" in message


def test_unknown_parameter_lists_accepted_ones():
    with pytest.raises(ConfigError) as err:
        registry.layers.resolve({"gaussian": {"sigmaa": 1.0}})
    assert "unknown parameter 'sigmaa' for 'gaussian'; accepted: sigma, kernel_size" in str(err.value)


def test_build_and_defaults_only_fill_named_parameters():
    layer = build({"type": "gaussian", "sigma": 1.5}, registry.layers, cfa="grbg")
    assert layer.sigma == 1.5
    assert type(layer).__name__ == "Gaussian"


def test_constructor_value_errors_become_config_errors():
    with pytest.raises(ConfigError, match="'jpeg'"):
        registry.layers.build({"jpeg": {"quality": 0}})


def _fake_registry(monkeypatch, entries):
    """A registry over hand-made entry points (two distributions, a broken one)."""
    from importlib import metadata

    eps = metadata.EntryPoints(entries)
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: eps.select(group=group))
    return Registry("layers", {"nipkit.layers": None})


def test_duplicate_key_names_both_distributions(monkeypatch):
    from importlib.metadata import EntryPoint

    reg = _fake_registry(monkeypatch, [
        EntryPoint("blur", "pkg_a:Blur", "nipkit.layers"),
        EntryPoint("blur", "pkg_b:Blur", "nipkit.layers"),
    ])
    with pytest.raises(RegistryError, match=r"pkg_a:Blur.*pkg_b:Blur"):
        reg.get("blur")


def test_broken_entry_warns_once_and_strict_mode_raises(monkeypatch):
    from importlib.metadata import EntryPoint

    reg = _fake_registry(monkeypatch, [
        EntryPoint("ok", "keras.layers:Identity", "nipkit.layers"),
        EntryPoint("broken", "no_such_module_for_nipkit:X", "nipkit.layers"),
    ])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert list(reg.load_all()) == ["ok"]
        reg.load_all()
    assert len(caught) == 1 and "broken" in str(caught[0].message)
    with pytest.raises(PluginLoadError, match="No module named 'no_such_module_for_nipkit'"):
        reg.get("broken")
    monkeypatch.setenv("NIPKIT_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="broken"):
        Registry("layers", {"nipkit.layers": None}).load_all()


def test_disable_plugins_by_key(monkeypatch):
    monkeypatch.setenv("NIPKIT_DISABLE_PLUGINS", "layers:median")
    reg = Registry("layers")
    assert "median" not in reg.names() and "jpeg" in reg.names()


def test_local_registration():
    import keras

    reg = Registry("layers")
    reg.register("identity_here", keras.layers.Identity)
    assert isinstance(reg.build("identity_here"), keras.layers.Identity)

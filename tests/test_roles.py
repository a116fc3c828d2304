"""Component roles: declared by entry-point groups, listed by role, enforced by `validate`."""
from __future__ import annotations

import ast
import importlib
import warnings
from importlib import metadata
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from support import pythonpath

import nipkit
from nipkit import registry
from nipkit.config import load_config
from nipkit.errors import ConfigError, RegistryError
from nipkit.registry import ROLES, PluginWarning, Registry, roles_of
from nipkit.schema import validate
from test_config import EXPERIMENT, write

PACKAGE = Path(nipkit.__file__).parent


def serializable_classes(package: str) -> set[tuple[str, str]]:
    """(module, class) of every Keras-serialisable class defined under nipkit/PACKAGE/."""
    found = set()
    for path in sorted((PACKAGE / package).glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and "register_keras_serializable" in ast.unparse(node.decorator_list):
                found.add((f"nipkit.{package}.{path.stem}", node.name))
    return found


@pytest.mark.parametrize("reg, package, unregistered", [
    (registry.layers, "layers", set()),
    (registry.models, "models", {("nipkit.models.joint", "JointModel")}),  # the assembly, not a component
])
def test_every_builtin_component_is_registered_exported_and_has_a_role(reg, package, unregistered):
    builtins = [e for e in reg.entries() if e.distribution == "nipkit"]
    targets = {tuple(e.target.split(":")) for e in builtins}
    assert serializable_classes(package) - unregistered == targets
    exported = set(importlib.import_module(f"nipkit.{package}").__all__) - {cls for _, cls in unregistered}
    assert exported == {cls for _, cls in targets}
    assert all(e.roles and set(e.roles) <= set(ROLES) for e in builtins)
    assert all(ROLES[r].kind == reg.kind for e in builtins for r in e.roles)


def test_a_component_may_have_several_roles():
    assert registry.layers.roles("jpeg") == ("manipulation", "channel")
    assert registry.layers.roles("gaussian") == ("manipulation", "channel")
    assert registry.layers.roles("downscale") == ("channel",)
    assert "clip_unit" in registry.layers.names(role="block")
    assert "clip_unit" not in registry.layers.names(role="manipulation")
    assert registry.models.names(role="fan") == ["fan"]
    assert "fan" not in registry.models.names(role="nip")


def test_roles_of_a_class_reads_its_entry():
    from nipkit.layers.jpeg import DifferentiableJPEG
    from nipkit.models.fan import FAN
    from nipkit.models.joint import JointModel

    assert roles_of(FAN) == ("fan",)
    assert roles_of(DifferentiableJPEG) == ("manipulation", "channel")
    assert roles_of(JointModel) == ()


def fake_registry(monkeypatch, entries) -> Registry:
    eps = metadata.EntryPoints(entries)
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: eps.select(group=group))
    return Registry("layers")


def test_one_key_in_two_role_groups_is_one_entry(monkeypatch):
    reg = fake_registry(monkeypatch, [
        EntryPoint("blur", "pkg:Blur", "nipkit.channel"),
        EntryPoint("blur", "pkg:Blur", "nipkit.manipulations"),
        EntryPoint("old", "pkg:Old", "nipkit.layers"),
    ])
    assert reg.entry("blur").roles == ("manipulation", "channel")
    assert reg.entry("old").roles == ()  # the older group: no role declared
    assert reg.names(role="channel") == ["blur"]


def test_one_key_with_two_targets_in_two_groups_is_a_conflict(monkeypatch):
    reg = fake_registry(monkeypatch, [
        EntryPoint("blur", "pkg_a:Blur", "nipkit.channel"),
        EntryPoint("blur", "pkg_b:Blur", "nipkit.manipulations"),
    ])
    with pytest.raises(RegistryError, match="offered by both") as err:
        reg.entry("blur")
    assert "pkg_a:Blur" in str(err.value) and "pkg_b:Blur" in str(err.value)


def test_local_registration_declares_roles():
    import keras

    reg = Registry("layers")
    reg.register("here", keras.layers.Identity, roles=("manipulation",))
    assert reg.roles("here") == ("manipulation",) and "here" in reg.names(role="manipulation")
    with pytest.raises(ValueError, match="unknown role 'filter'"):
        reg.register("there", keras.layers.Identity, roles=("filter",))


# -- validate: each wrong role is one located line naming what is allowed ---------------------

@pytest.mark.parametrize("old, new, line, path, what", [
    ("  - resample", "  - clip_unit", 7, "manipulations[3]", "'clip_unit' is a building block, not a manipulation"),
    ("  - resample", "  - downscale: {factor: 2}", 7, "manipulations[3].downscale", "'downscale' is a channel step, not a manipulation"),
    ("  - jpeg: {quality: 50}", "  - sharpen", 10, "channel[1]", "'sharpen' is a manipulation, not a channel step"),
    ("  - jpeg: {quality: 50}", "  - depth_to_space", 10, "channel[1]", "'depth_to_space' is a building block, not a channel step"),
    ("nip: {type: inet}", "nip: {type: fan}", 2, "nip.type", "'fan' is a FAN, not a NIP"),
    ("fan: fan", "fan: unet", 11, "fan", "'unet' is a NIP, not a FAN"),
])
def test_validate_refuses_a_component_in_the_wrong_place(tmp_path, old, new, line, path, what):
    config = write(tmp_path, EXPERIMENT.replace(old, new))
    with pytest.raises(ConfigError) as err:
        validate(load_config(config))
    message = str(err.value)
    assert message.startswith(f"{config}:{line}: {path}: {what}; allowed here: "), message
    role = {"manipulations": "manipulation", "channel": "channel", "nip": "nip", "fan": "fan"}[path.split("[")[0].split(".")[0]]
    kind = ROLES[role].kind
    assert message.endswith(", ".join(getattr(registry, kind).names(role=role)))


def test_nip_config_refuses_a_fan_as_nip(tmp_path):
    config = write(tmp_path, "data: demo\nnip: fan\n")
    with pytest.raises(ConfigError, match=r":2: nip: 'fan' is a FAN, not a NIP; allowed here: dnet, inet, onet, unet"):
        validate(load_config(config))


def test_a_component_without_a_role_warns_and_is_accepted(tmp_path):
    import keras

    registry.layers.register("legacy_identity", keras.layers.Identity)  # no roles
    config = write(tmp_path, EXPERIMENT.replace("  - resample", "  - legacy_identity"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert validate(load_config(config)) == "experiment"
    (warning,) = [w for w in caught if issubclass(w.category, PluginWarning)]
    assert "legacy_identity" in str(warning.message) and "nipkit.manipulations" in str(warning.message)


# -- the command line ----------------------------------------------------------------------------

def sections(stdout: str) -> dict[str, list[str]]:
    """`nipkit list` output as {heading: [key, ...]}."""
    found: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            heading = found.setdefault(line[:-1], [])
        elif line.strip() and line.strip() != "(none)":
            heading.append(line.split()[0])
    return found


def installed(role: str) -> list[str]:
    """Keys of installed components with `role` (not those registered in this process)."""
    reg = getattr(registry, ROLES[role].kind)
    return sorted(e.name for e in reg.entries() if e.distribution != "<local>" and role in e.roles)


def test_list_groups_by_role(nipkit_cli):
    result = nipkit_cli("list")
    assert result.returncode == 0, result.stderr
    listed = sections(result.stdout)
    assert list(listed) == [role.heading for role in ROLES.values()]
    for role in ROLES.values():
        assert listed[role.heading] == installed(role.name)
    assert "jpeg" in listed["manipulations"] and "jpeg" in listed["channel steps"]
    assert listed["codecs"] == ["learned_codec"] and "learned_codec" in listed["channel steps"]

    blocks = nipkit_cli("list", "blocks")
    assert sections(blocks.stdout) == {"building blocks": installed("block")}
    layers = nipkit_cli("list", "layers", "j*")
    assert sections(layers.stdout) == {"manipulations": ["jpeg"], "channel steps": ["jpeg"], "building blocks": [],
                                         "codecs": []}


def test_plugin_roles_are_listed_and_checked(nipkit_cli, fixture_plugins, tmp_path):
    env = pythonpath(fixture_plugins["good"])
    listed = sections(nipkit_cli("list", "layers", "fixture_*", env=env).stdout)
    assert listed["manipulations"] == ["fixture_crop", "fixture_invert"]
    assert listed["channel steps"] == ["fixture_grey"]

    config = write(tmp_path, EXPERIMENT.replace("  - resample", "  - fixture_grey"))
    result = nipkit_cli("validate", config, env=env)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {config}:7: manipulations[3]: 'fixture_grey' is a channel step, not a manipulation; allowed here: ")
    assert "fixture_invert" in line and "sharpen" in line

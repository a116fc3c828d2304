"""The `nipkit` command as a user runs it: version, list, validate, plugins, errors."""
from __future__ import annotations

from support import pythonpath

from nipkit import __version__
from test_config import EXPERIMENT


def test_version(nipkit_cli):
    result = nipkit_cli("--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_list_shows_builtins_with_distribution(nipkit_cli):
    result = nipkit_cli("list", "models")
    assert result.returncode == 0, result.stderr
    assert "unet" in result.stdout and "UNet" in result.stdout and "nipkit" in result.stdout
    only_j = nipkit_cli("list", "layers", "j*")
    assert "jpeg" in only_j.stdout and "gaussian" not in only_j.stdout


def test_installed_plugin_appears_in_list(nipkit_cli, fixture_plugins):
    result = nipkit_cli("list", "layers", env=pythonpath(fixture_plugins["good"]))
    assert result.returncode == 0, result.stderr
    line = next(text for text in result.stdout.splitlines() if "fixture_invert" in text)
    assert "Invert" in line and "nipkit-fixture-good 1.2.3" in line
    assert "fixture_invert" not in nipkit_cli("list", "layers").stdout


def test_broken_plugin_warns_once_and_list_still_works(nipkit_cli, fixture_plugins):
    env = pythonpath(fixture_plugins["good"], fixture_plugins["broken"])
    result = nipkit_cli("list", env=env)
    assert result.returncode == 0
    warnings = [text for text in result.stderr.splitlines() if "fixture_broken" in text]
    assert len(warnings) == 1, result.stderr
    assert "nipkit-fixture-broken" in warnings[0] and "nipkit_fixture_missing_dependency" in warnings[0]
    assert "fixture_invert" in result.stdout and "jpeg" in result.stdout

    strict = nipkit_cli("list", env={**env, "NIPKIT_STRICT_PLUGINS": "1"})
    assert strict.returncode == 2
    assert "fixture_broken" in strict.stderr and "Traceback" not in strict.stderr


def test_validate_ok(nipkit_cli, tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT)
    result = nipkit_cli("validate", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_validate_unknown_channel_type_is_one_line(nipkit_cli, tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT.replace("jpeg: {quality: 50}", "gausian: {sigma: 1}"))
    result = nipkit_cli("validate", path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{path}:10" in lines[0] and "gausian" in lines[0] and "gaussian" in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""

    traced = nipkit_cli("--traceback", "validate", path)
    assert traced.returncode != 0 and "Traceback" in traced.stderr


def test_unknown_command_and_bad_override(nipkit_cli, tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT)
    result = nipkit_cli("validate", path, "--set", "training.steps")
    assert result.returncode == 2 and "KEY=VALUE" in result.stderr
    assert nipkit_cli("frobnicate").returncode == 2

"""The example plugin packages in plugins/, installed with pip as a user would install them.

- installed, `nipkit list` shows their keys with their distribution names and versions;
- `pip uninstall` of one removes its entry and changes nothing else;
- examples/plugins.yaml validates with them and fails with one line without them;
- examples/reuse_layers.py (nipkit layers in a plain Keras model, reloaded elsewhere) runs.
"""
from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from support import HANG_GUARD_S, pip_install_target, pythonpath

REPO = Path(__file__).resolve().parents[1]
PLUGINS = {"nipkit-contrast": REPO / "plugins" / "nipkit-contrast", "nipkit-resnip": REPO / "plugins" / "nipkit-resnip"}
EXAMPLE = REPO / "examples" / "plugins.yaml"
# TensorFlow's native start-up log lines, which no environment variable silences in TF 2.21.
_NATIVE_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl::InitializeLog)")


def version_of(plugin: str) -> str:
    return re.search(r'version="([^"]+)"', (PLUGINS[plugin] / "setup.py").read_text()).group(1)


def nipkit_lines(stream: str) -> list[str]:
    """The lines nipkit itself wrote (TensorFlow's native log lines left out)."""
    return [line for line in stream.splitlines() if line.strip() and not _NATIVE_LOG.match(line)]


def listing(stdout: str) -> dict[str, list[tuple[str, ...]]]:
    """`nipkit list` output as {role: [(key, class, distribution, version), ...]}."""
    rows: dict[str, list[tuple[str, ...]]] = {}
    kind = None
    for line in stdout.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            kind = line[:-1]
            rows[kind] = []
        elif kind and line.strip() and line.strip() != "(none)":
            rows[kind].append(tuple(line.split()))
    return rows


def parent_site_dirs() -> list[str]:
    """The site-packages folders of the running environment (not PYTHONPATH)."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dirs if Path(d).is_dir()]


def require_plugins_not_in_site_packages() -> None:
    """Skips when a plugin is pip-installed here: a venv layered over this one would see it."""
    installed = {d.metadata["Name"] for d in metadata.distributions(path=parent_site_dirs())}
    for dist in sorted(installed & set(PLUGINS)):
        pytest.skip(f"{dist} is installed in this environment's site-packages; install plugins with --target to test them")


def copy_source(plugin: str, tmp: Path) -> Path:
    """A copy of a plugin's source, so building it leaves nothing in the repository."""
    return Path(shutil.copytree(PLUGINS[plugin], tmp / "src" / plugin, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")))


@pytest.fixture(scope="module")
def plugin_target(tmp_path_factory) -> Path:
    """Both plugins pip-installed into one --target folder (to be put on PYTHONPATH)."""
    tmp = tmp_path_factory.mktemp("example-plugins")
    for plugin in PLUGINS:
        pip_install_target(copy_source(plugin, tmp), tmp / "site")
    return tmp / "site"


class ThrowawayVenv:
    """A virtual environment layered over the running one: it sees everything installed
    here (nipkit, Keras, pip), not PYTHONPATH, and pip installs into and uninstalls from
    the venv only."""

    def __init__(self, root: Path) -> None:
        require_plugins_not_in_site_packages()
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        self.python = str(root / ("Scripts" if os.name == "nt" else "bin") / "python")
        purelib = subprocess.run(
            [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        # `site.addsitedir` (unlike a plain path line) also runs the .pth files there,
        # e.g. an editable install of nipkit.
        lines = [f"import site; site.addsitedir({d!r})" for d in parent_site_dirs()]
        Path(purelib, "_layered_on_parent.pth").write_text("\n".join(lines) + "\n")
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.env["TF_CPP_MIN_LOG_LEVEL"] = "2"

    def pip(self, *args: str) -> None:
        subprocess.run([self.python, "-m", "pip", *args, "--quiet"], check=True, env=self.env, capture_output=True, text=True)

    def nipkit(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.python, "-m", "nipkit.cli.main", *map(str, args)],
            capture_output=True, text=True, env=self.env, cwd=REPO, timeout=HANG_GUARD_S,
        )


def test_installed_plugins_are_listed_with_distribution_and_version(nipkit_cli, plugin_target):
    result = nipkit_cli("list", env=pythonpath(plugin_target))
    assert result.returncode == 0, result.stderr
    rows = listing(result.stdout)
    assert ("contrast", "Contrast", "nipkit-contrast", version_of("nipkit-contrast")) in rows["manipulations"]
    assert ("resnip", "ResNIP", "nipkit-resnip", version_of("nipkit-resnip")) in rows["NIPs"]
    assert not [line for line in nipkit_lines(result.stderr) if "contrast" in line or "resnip" in line]


def test_uninstalling_a_plugin_removes_only_its_entry(tmp_path):
    venv = ThrowawayVenv(tmp_path / "venv")
    for plugin in PLUGINS:
        venv.pip("install", "--no-deps", "--no-index", "--no-build-isolation", str(copy_source(plugin, tmp_path)))

    before = venv.nipkit("list")
    assert before.returncode == 0, before.stderr
    venv.pip("uninstall", "--yes", "nipkit-contrast")
    after = venv.nipkit("list")
    assert after.returncode == 0, after.stderr

    rows_before, rows_after = listing(before.stdout), listing(after.stdout)
    assert any(row[0] == "contrast" for row in rows_before["manipulations"])
    assert rows_after == {role: [row for row in rows if row[0] != "contrast"] for role, rows in rows_before.items()}
    assert any(row[0] == "resnip" for row in rows_after["NIPs"])

    # The experiment still finds its NIP, and now names the one missing manipulation.
    result = venv.nipkit("validate", EXAMPLE)
    assert result.returncode == 2
    (line,) = nipkit_lines(result.stderr)
    assert line.startswith(f"error: {EXAMPLE}:") and "unknown layer 'contrast'" in line
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_example_config_validates_only_with_the_plugins(nipkit_cli, plugin_target, tmp_path):
    with_plugins = nipkit_cli("validate", EXAMPLE, env=pythonpath(plugin_target))
    assert with_plugins.returncode == 0, with_plugins.stderr
    assert with_plugins.stdout.strip() == "ok"

    without = ThrowawayVenv(tmp_path / "bare").nipkit("validate", EXAMPLE)
    assert without.returncode == 2
    (line,) = nipkit_lines(without.stderr)
    # The NIP is checked first, so a bare installation stops at `nip:`.
    assert line.startswith(f"error: {EXAMPLE}:") and "unknown model 'resnip'" in line
    assert "Traceback" not in without.stderr


def test_reuse_layers_example_runs():
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "reuse_layers.py")],
        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=HANG_GUARD_S,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "outputs identical" in result.stdout


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_package_passes_its_own_tests(plugin, plugin_target):
    """Each example plugin's own test suite, with the plugins installed as a user would."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGINS[plugin] / "tests")],
        capture_output=True, text=True, env={**os.environ, **pythonpath(plugin_target)}, timeout=HANG_GUARD_S, cwd=REPO,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout

"""Helpers shared by nipkit's tests: run the `nipkit` command as a user would, install local packages."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def nipkit_executable() -> str:
    exe = Path(sys.executable).parent / "nipkit"
    return str(exe) if exe.exists() else shutil.which("nipkit") or "nipkit"


def run_nipkit(*args: str, env: dict | None = None, cwd: str | Path | None = None, timeout: float = 600):
    """Runs `nipkit ARGS...` in a subprocess; returns the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [nipkit_executable(), *map(str, args)],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout,
    )


def pip_install_target(package: Path, target: Path) -> None:
    """Installs a local package into `target` (a folder later put on PYTHONPATH)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--target", str(target), str(package)],
        check=True, capture_output=True, text=True,
    )


def pythonpath(*folders: Path) -> dict[str, str]:
    """An environment whose PYTHONPATH adds `folders` (as a user's site-packages would)."""
    parts = [str(f) for f in folders] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join(parts)}

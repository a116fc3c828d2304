"""Helpers shared by nipkit's tests: run the `nipkit` command as a user would, install local packages."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

import keras

from nipkit.sweep import watch
from nipkit.testing import gradients

FIXTURES = Path(__file__).parent / "fixtures"
# A wall-clock limit only against hangs: far above what any step of a test takes on a
# loaded machine, so that no test's outcome depends on how fast the machine is.
HANG_GUARD_S = 1800


def nipkit_executable() -> str:
    exe = Path(sys.executable).parent / "nipkit"
    return str(exe) if exe.exists() else shutil.which("nipkit") or "nipkit"


def run_nipkit(*args: str, env: dict | None = None, cwd: str | Path | None = None, timeout: float = HANG_GUARD_S):
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


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, what: str, poll_s: float = 0.005) -> None:
    """`nipkit.sweep.watch.wait_for` with HANG_GUARD_S as the limit against hangs: waits until
    `condition()` holds while `process` runs; fails if the process ends first."""
    watch.wait_for(condition, process, what, HANG_GUARD_S, poll_s)


def kill_at_checkpoint(args: Sequence[str], state: Path, step: int) -> None:
    """Starts `nipkit ARGS...`, waits for a checkpoint at `step` or later in `state`
    (a run's checkpoint/state.json), then kills the process (SIGKILL, as a crash would)."""
    import json
    import signal

    process = subprocess.Popen([nipkit_executable(), *map(str, args)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # state.json may vanish or be half-read while a checkpoint is swapped: wait_for retries
    wait_for(lambda: json.loads(state.read_text())["step"] >= step, process, f"a checkpoint at step {step}", poll_s=0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()


def rate_distortion_updates(codec, images, steps: int, learning_rate: float = 1e-2):
    """Gives `codec` (a LearnedCodec) `steps` Adam updates on L2 + its added losses over
    `images`, so that its latents and entropy model are not trivial; returns it."""
    codec(images[:1])
    optimizer = keras.optimizers.Adam(learning_rate)
    for _ in range(steps):
        def loss():
            out = codec(images, training=True)
            return keras.ops.mean(keras.ops.square(out - images)) + sum(codec.losses)
        optimizer.apply(gradients(loss, codec.trainable_weights), codec.trainable_weights)
    return codec

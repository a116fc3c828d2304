"""Atomic training checkpoints: models, optimiser states and the loop's state, together.

A checkpoint is a folder holding one `NAME.keras` per model, one `NAME.optimizer.npz` per
optimiser and `state.json` (the step and whatever the caller adds, plus a SHA-256 of
every file). It is written into a fresh sibling folder and swapped in by renames, so a
process killed at any moment leaves either the previous checkpoint or the new one, never
a mix; a damaged file is caught by its checksum when loading.

Example:
    >>> save_checkpoint(run / "checkpoint", {"nip": model}, {"nip": adam}, {"step": 100})  # doctest: +SKIP
    >>> state = load_checkpoint(run / "checkpoint", {"nip": model}, {"nip": adam})  # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any, Mapping

import keras
import numpy as np

from nipkit.errors import TrainingError
from nipkit.files import atomic_write, fsync_dir, fsync_file

__all__ = [
    "STATE_FILE",
    "has_checkpoint",
    "read_state",
    "save_checkpoint",
    "load_checkpoint",
    "save_model_atomic",
    "publish_copy",
]

STATE_FILE = "state.json"
_NEW, _OLD = ".new", ".old"


def save_model_atomic(model: keras.Model, path: Path) -> None:
    """Saves `model` as a `.keras` file that is never seen half-written."""
    atomic_write(Path(path), lambda tmp: model.save(tmp))


def publish_copy(source: Path, target: Path) -> None:
    """Makes `target` a copy of `source` atomically (a hard link where the disk allows)."""
    def write(tmp: Path) -> None:
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)

    atomic_write(Path(target), write)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _recover(folder: Path) -> None:
    """Finishes a swap that a kill interrupted between its two renames."""
    old = folder.with_name(folder.name + _OLD)
    if not folder.exists() and (old / STATE_FILE).exists():
        os.replace(old, folder)


def has_checkpoint(folder: Path) -> bool:
    """Whether a checkpoint (possibly damaged) exists at `folder`."""
    folder = Path(folder)
    old = folder.with_name(folder.name + _OLD)
    return (folder / STATE_FILE).exists() or (not folder.exists() and (old / STATE_FILE).exists())


def read_state(folder: Path) -> dict:
    """The `state.json` of the checkpoint at `folder`; TrainingError if it is unreadable."""
    folder = Path(folder)
    _recover(folder)
    path = folder / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingError(f"{folder}: no checkpoint to resume from") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainingError(f"{path}: damaged checkpoint state ({exc}); start again with another --out") from None
    if not isinstance(state, dict) or not isinstance(state.get("step"), int) or not isinstance(state.get("files"), dict):
        raise TrainingError(f"{path}: damaged checkpoint state (no step or file list); start again with another --out")
    return state


def _save_optimizer(optimizer: keras.optimizers.Optimizer, path: Path) -> None:
    arrays: dict[str, Any] = {f"v{i:04d}": np.asarray(keras.ops.convert_to_numpy(v)) for i, v in enumerate(optimizer.variables)}
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _load_optimizer(optimizer: keras.optimizers.Optimizer, path: Path, name: str) -> None:
    with np.load(path, allow_pickle=False) as stored:
        arrays = [stored[f"v{i:04d}"] for i in range(len(stored.files))]
    variables = optimizer.variables
    shapes = [tuple(v.shape) for v in variables]
    if [a.shape for a in arrays] != shapes:
        raise TrainingError(
            f"{path}: optimiser state of '{name}' does not fit the model ({len(arrays)} arrays for "
            f"{len(variables)} variables); was the model changed?"
        )
    for variable, value in zip(variables, arrays):
        variable.assign(value)


def save_checkpoint(
    folder: Path,
    models: Mapping[str, keras.Model],
    optimizers: Mapping[str, keras.optimizers.Optimizer],
    state: Mapping[str, Any],
) -> None:
    """Writes a checkpoint atomically, replacing the one at `folder`.

    Args:
        folder: the checkpoint folder, e.g. `RUN/checkpoint`.
        models: built models by name; each becomes `NAME.keras`.
        optimizers: built optimisers by name; each becomes `NAME.optimizer.npz`.
        state: JSON-serialisable values; must hold the integer `step`.
    """
    folder = Path(folder)
    new = folder.with_name(folder.name + _NEW)
    old = folder.with_name(folder.name + _OLD)
    _recover(folder)
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    for name, model in models.items():
        model.save(new / f"{name}.keras")
    for name, optimizer in optimizers.items():
        _save_optimizer(optimizer, new / f"{name}.optimizer.npz")
    files = sorted(p for p in new.iterdir() if p.is_file())
    for path in files:
        fsync_file(path)
    record = {**state, "files": {p.name: _sha256(p) for p in files}}
    (new / STATE_FILE).write_text(json.dumps(record, indent=1), encoding="utf-8")
    fsync_file(new / STATE_FILE)
    fsync_dir(new)
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(new, folder)
    fsync_dir(folder.parent)
    shutil.rmtree(old, ignore_errors=True)


def _verify(folder: Path, state: dict, names: list[str]) -> None:
    for name in names:
        path = folder / name
        expected = state["files"].get(name)
        if expected is None or not path.is_file():
            raise TrainingError(f"{path}: missing from the checkpoint; start again with another --out")
        if _sha256(path) != expected:
            raise TrainingError(f"{path}: damaged checkpoint file (checksum mismatch); start again with another --out")


def load_checkpoint(
    folder: Path,
    models: Mapping[str, keras.Model],
    optimizers: Mapping[str, keras.optimizers.Optimizer],
) -> dict:
    """Restores built models and optimisers from the checkpoint at `folder`.

    Args:
        folder: the checkpoint folder.
        models: the same names as when saved; their weights are overwritten.
        optimizers: the same names as when saved, built for the models' variables.

    Returns:
        The saved state (with `step`).

    Raises:
        TrainingError: the checkpoint is missing, damaged or does not fit the models.
    """
    folder = Path(folder)
    state = read_state(folder)
    model_files = [f"{name}.keras" for name in models]
    optimizer_files = [f"{name}.optimizer.npz" for name in optimizers]
    _verify(folder, state, model_files + optimizer_files)
    for name, model in models.items():
        path = folder / f"{name}.keras"
        try:
            model.load_weights(path)
        except (ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise TrainingError(f"{path}: cannot be loaded into '{name}' ({message})") from None
    for name, optimizer in optimizers.items():
        _load_optimizer(optimizer, folder / f"{name}.optimizer.npz", name)
    return state

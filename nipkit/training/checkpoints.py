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
from nipkit.files import atomic_write, disk_full_error, fsync_dir, fsync_file, is_disk_full

__all__ = [
    "STATE_FILE",
    "NonFiniteWeightsError",
    "non_finite_weights",
    "has_checkpoint",
    "read_state",
    "save_checkpoint",
    "load_checkpoint",
    "save_model_atomic",
    "publish_copy",
]

STATE_FILE = "state.json"
_NEW, _OLD = ".new", ".old"


class NonFiniteWeightsError(TrainingError):
    """A checkpoint was not written (or not loaded) because weights are NaN or infinite.

    Attributes:
        problem: what is not finite, e.g. "12 of 17 weights of 'fan' are NaN or infinite".
    """

    def __init__(self, message: str, problem: str) -> None:
        super().__init__(message)
        self.problem = problem


def non_finite_weights(
    models: Mapping[str, keras.Model], optimizers: Mapping[str, keras.optimizers.Optimizer]
) -> str | None:
    """Says which weights and optimiser variables hold NaN or infinity; None when all are finite.

    A loss can be finite while the update it produced is not, so a checkpoint is only as
    good as this check.
    """
    problems = []
    groups = [(f"weights of '{name}'", model.weights) for name, model in models.items()]
    groups += [(f"optimiser variables of '{name}'", opt.variables) for name, opt in optimizers.items()]
    for what, variables in groups:
        bad = [v for v in variables if not np.all(np.isfinite(np.asarray(keras.ops.convert_to_numpy(v))))]
        if bad:
            problems.append(f"{len(bad)} of {len(variables)} {what} are NaN or infinite (first: {bad[0].path})")
    return "; ".join(problems) or None


def save_model_atomic(model: keras.Model, path: Path) -> None:
    """Saves `model` as a `.keras` file that is never seen half-written."""
    atomic_write(Path(path), lambda tmp: model.save(tmp), keep_suffix=True)  # Keras insists on .keras


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

    Raises:
        NonFiniteWeightsError: a weight or optimiser variable is NaN or infinite; nothing
            is written and the previous checkpoint stays.
        DiskFullError: the disk filled up; the partial new checkpoint is removed and the
            previous one stays.
    """
    folder = Path(folder)
    problem = non_finite_weights(models, optimizers)
    if problem is not None:
        raise NonFiniteWeightsError(f"{folder}: checkpoint of step {state.get('step')} not written: {problem}", problem)
    new = folder.with_name(folder.name + _NEW)
    old = folder.with_name(folder.name + _OLD)
    _recover(folder)
    shutil.rmtree(new, ignore_errors=True)
    try:
        _write_folder(new, models, optimizers, state)
    except Exception as exc:
        shutil.rmtree(new, ignore_errors=True)
        if not is_disk_full(exc):
            raise
        kept = f"the checkpoint of step {read_state(folder)['step']} is kept" if has_checkpoint(folder) else "no checkpoint is kept"
        raise disk_full_error(
            folder.parent, f"the checkpoint of step {state.get('step')}", _expected_size(folder, models, optimizers),
            f"{kept}; free some space, then continue with --resume",
        ) from exc
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(new, folder)
    fsync_dir(folder.parent)
    shutil.rmtree(old, ignore_errors=True)


def _write_folder(new: Path, models, optimizers, state: Mapping[str, Any]) -> None:
    """Writes models, optimiser states and state.json (with checksums) into the folder `new`."""
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


def _expected_size(folder: Path, models, optimizers) -> int:
    """Bytes a new checkpoint takes: the previous one's size, else its arrays' plus 10%."""
    if folder.is_dir():
        previous = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        if previous:
            return previous
    variables = [v for m in models.values() for v in m.weights] + [v for o in optimizers.values() for v in o.variables]
    return int(1.1 * sum(np.dtype(v.dtype).itemsize * int(np.prod(v.shape)) for v in variables)) + 65536


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
    problem = non_finite_weights(models, optimizers)
    if problem is not None:  # written before checkpoints were checked
        raise NonFiniteWeightsError(
            f"{folder}: the checkpoint of step {state['step']} cannot be resumed: {problem}; "
            f"start again with another --out", problem,
        )
    return state

"""The layout of a training run's output folder, and the rules for starting or resuming.

```
RUN/
  config.yaml       the resolved config the run was started with
  history.jsonl     one line per validation (see `History`)
  best.keras        the model with the lowest validation loss so far
  last.keras        the model of the last checkpoint
  checkpoint/       what `--resume` needs: models, optimiser states, state.json
  validation/       step_NNNNNN.png: target | output | difference of a few patches
  tensorboard/      TensorBoard event files (`tensorboard --logdir RUN/tensorboard`)
```

Example:
    >>> run = RunFolder("runs/inet")  # doctest: +SKIP
    >>> resuming = run.prepare(config, resume=False)  # doctest: +SKIP
"""
from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from nipkit.config import Config
from nipkit.errors import TrainingError
from nipkit.files import atomic_write
from nipkit.options import RESUMABLE_CHANGES, CommonOptions, option_names, parse_options
from nipkit.training.checkpoints import has_checkpoint, read_state
from nipkit.training.history import History

__all__ = ["RunFolder", "first_difference", "RESUMED_WITH_CHANGES"]

# The `event` of a history record that says which options changed on --resume.
RESUMED_WITH_CHANGES = "resumed with changes"


def first_difference(old: Any, new: Any, path: tuple = ()) -> tuple | None:
    """The path of the first value that differs between two nested dicts/lists, or None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            found = first_difference(old.get(key), new.get(key), path + (key,))
            if found is not None:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            found = first_difference(a, b, path + (i,))
            if found is not None:
                return found
        return None
    return None if old == new else path


class RunFolder:
    """Paths inside one run folder, and the start/resume checks.

    Args:
        path: the run folder (created when needed).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config = property(lambda self: self.path / "config.yaml")
    history_path = property(lambda self: self.path / "history.jsonl")
    checkpoint = property(lambda self: self.path / "checkpoint")
    validation = property(lambda self: self.path / "validation")
    tensorboard = property(lambda self: self.path / "tensorboard")
    best = property(lambda self: self.path / "best.keras")
    last = property(lambda self: self.path / "last.keras")

    @property
    def history(self) -> History:
        return History(self.history_path)

    def validation_image(self, step: int) -> Path:
        return self.validation / f"step_{step:06d}.png"

    def has_checkpoint(self) -> bool:
        return has_checkpoint(self.checkpoint)

    def prepare(self, config: Config, resume: bool, may_change: Iterable[str] = ("training.steps",)) -> bool:
        """Checks that the run may start (or resume) here and writes `config.yaml`.

        Args:
            config: the resolved config of this invocation.
            resume: whether `--resume` was given.
            may_change: dotted keys that may differ from the stored config on resume
                (e.g. more steps).

        Returns:
            True when a checkpoint will be resumed, False for a fresh start.

        Raises:
            TrainingError: a checkpoint exists but `resume` is False, or the config
                differs from the one the run was started with.
        """
        exists = self.has_checkpoint()
        if exists and not resume:
            step = read_state(self.checkpoint).get("step", "?")
            raise TrainingError(
                f"{self.path} already holds a checkpoint (step {step}); add --resume to continue it, "
                f"or choose another --out"
            )
        if exists:
            self._check_same_config(config, set(may_change))
        else:
            # Left-overs of a run killed before its first checkpoint start over.
            self.history.clear()
            shutil.rmtree(self.tensorboard, ignore_errors=True)
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write(self.config, lambda tmp: tmp.write_text(config.to_yaml(), encoding="utf-8"))
        return exists

    def stored_config(self) -> dict:
        """The config.yaml the run was started with ({} when there is none).

        Raises:
            TrainingError: it cannot be read.
        """
        if not self.config.is_file():
            return {}
        try:
            stored = yaml.safe_load(self.config.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise TrainingError(f"{self.config}: cannot read the run's config ({exc})") from None
        return stored if isinstance(stored, dict) else {}

    def resume_changes(self, config: Config, kind: type[CommonOptions]) -> dict[str, list]:
        """The recovery options (learning rates, clip_norm) that differ from the stored config.

        Returns:
            dotted key -> [stored value, new value].
        """
        stored = self.stored_config().get("training") or {}
        options, defaults = parse_options(config, kind), kind()
        changes = {}
        for key in RESUMABLE_CHANGES:
            if key in option_names(kind):
                old, new = stored.get(key, getattr(defaults, key)), getattr(options, key)
                if old != new:
                    changes[f"training.{key}"] = [old, new]
        return changes

    def record_changes(self, step: int, changes: dict[str, list], echo: Callable[[str], None]) -> None:
        """Appends a "resumed with changes" record to history.jsonl (nothing when none changed)."""
        if changes:
            self.history.append({"step": step, "event": RESUMED_WITH_CHANGES, "changes": changes})
            echo(f"resuming with {', '.join(f'{k} {old} → {new}' for k, (old, new) in changes.items())}")

    def _check_same_config(self, config: Config, may_change: set[str]) -> None:
        old, new = copy.deepcopy(self.stored_config()), copy.deepcopy(config.data)
        for dotted in may_change:
            for tree in (old, new):
                *parents, last = dotted.split(".")
                node: Any = tree
                for key in parents:
                    node = node.get(key) if isinstance(node, dict) else None
                if isinstance(node, dict):
                    node.pop(last, None)
        where = first_difference(old, new)
        if where is not None:
            raise TrainingError(
                f"{config.where(where)}: {config.name_of(where)} differs from the run's {self.config}; "
                f"resume with the same config (only {', '.join(sorted(may_change))} may change) or use another --out"
            )

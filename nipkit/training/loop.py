"""The step loop shared by nipkit's trainers: progress bar, TensorBoard, validation
schedule, checkpoint schedule and the non-finite loss guard.

A trainer supplies three functions and the loop calls them in a fixed order:
`train_step(batch)` after every batch, `validate(step, train_means, seconds)` every
`validate_every` steps and at the last step, and `checkpoint(state)` every
`checkpoint_every` steps (by default right after each validation), at the last step and
when validation asks to stop. A non-finite training value raises `TrainingError` naming
the step before anything is saved, and so does an update that left weights or optimiser
state non-finite (`save_checkpoint` refuses them), so the last checkpoint stays the last
good one.

Example:
    >>> loop = TrainingLoop(run, steps=1000, validate_every=100, description="inet")  # doctest: +SKIP
    >>> state = loop.run(LoopState(), train_step, batches, validate, checkpoint)  # doctest: +SKIP
"""
from __future__ import annotations

import math
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import tensorflow as tf
from tqdm.auto import tqdm

from nipkit.errors import TrainingError
from nipkit.training.checkpoints import NonFiniteWeightsError
from nipkit.training.run_folder import RunFolder

__all__ = ["LoopState", "Validation", "TrainingLoop", "check_finite", "diverged", "allocation_guard"]


@dataclass
class LoopState:
    """Where the loop is; saved in every checkpoint so a resumed run continues exactly.

    Attributes:
        step: training steps done.
        elapsed: seconds spent training (all processes of the run together).
        sums: sums of the training values since the last validation.
        count: how many steps those sums cover.
        stopped: whether validation asked to stop (e.g. early stopping).
    """

    step: int = 0
    elapsed: float = 0.0
    sums: dict[str, float] = field(default_factory=dict)
    count: int = 0
    stopped: bool = False

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping) -> "LoopState":
        return cls(
            step=int(data.get("step", 0)),
            elapsed=float(data.get("elapsed", 0.0)),
            sums={k: float(v) for k, v in (data.get("sums") or {}).items()},
            count=int(data.get("count", 0)),
            stopped=bool(data.get("stopped", False)),
        )

    def means(self) -> dict[str, float]:
        """The mean training values since the last validation."""
        return {k: v / self.count for k, v in self.sums.items()} if self.count else {}


@dataclass
class Validation:
    """What a validation callback returns.

    Attributes:
        metrics: values to log and show, e.g. {"val_loss": ..., "psnr": ..., "ssim": ...}.
        stop: True to end training after this step (a checkpoint is written first).
    """

    metrics: dict[str, float]
    stop: bool = False


def diverged(step: int, problem: str, last_checkpoint: int | None, run: RunFolder) -> TrainingError:
    """The error of a run that diverged at `step`, naming the last good checkpoint."""
    kept = (
        f"the last good checkpoint (step {last_checkpoint}) is kept in {run.checkpoint}"
        if last_checkpoint
        else "no checkpoint had been written yet"
    )
    return TrainingError(f"training diverged at step {step}: {problem}; {kept}; try a lower training.learning_rate")


def check_finite(values: Mapping[str, float], step: int, last_checkpoint: int | None, run: RunFolder) -> None:
    """Raises TrainingError if a value is NaN or infinite, naming the step."""
    for name, value in values.items():
        if not math.isfinite(value):
            raise diverged(step, f"{name} is {value}", last_checkpoint, run)


@contextmanager
def allocation_guard(where: str | Path, sizes: str, keys: Sequence[str]) -> Iterator[None]:
    """Turns a failed allocation (TensorFlow's or Python's) into one `TrainingError` line.

    The memory estimate of `validate` is a lower bound, so a run may still fail to
    allocate; the line names the sizes and the keys to lower instead of a traceback.

    Args:
        where: the run folder (named in the message).
        sizes: what was being allocated, e.g. "batch 20 of 128² patches".
        keys: the options to lower, as the user wrote them, e.g. ["training.batch_size"].

    Example:
        >>> with allocation_guard("runs/x", "batch 8 of 64² patches", ["training.batch_size"]):  # doctest: +SKIP
        ...     loop.run(state, train_step, batches, validate, checkpoint)
    """
    try:
        yield
    except (tf.errors.ResourceExhaustedError, MemoryError):
        raise TrainingError(f"out of memory in {where} ({sizes}); lower {' or '.join(keys)}") from None


def _format(name: str, value: float) -> str:
    if name in ("psnr",):
        return f"{value:.2f}"
    return f"{value:.4g}"


class TrainingLoop:
    """Runs training steps with validation, checkpoints, TensorBoard and a progress bar.

    Args:
        run: the run folder (TensorBoard events go to `run.tensorboard`).
        steps: the step count to reach.
        validate_every: steps between validations.
        checkpoint_every: steps between checkpoints; None means after every validation.
        description: the progress bar's label.
        show: validation metrics shown in the progress bar (training values always are).
        validate_first: validate before the first step of a fresh run (step 0).
    """

    def __init__(
        self,
        run: RunFolder,
        *,
        steps: int,
        validate_every: int,
        checkpoint_every: int | None = None,
        description: str = "train",
        show: tuple[str, ...] = ("psnr",),
        validate_first: bool = True,
    ) -> None:
        self.run_folder = run
        self.steps = steps
        self.validate_every = validate_every
        self.checkpoint_every = checkpoint_every or validate_every
        self.description = description
        self.show = show
        self.validate_first = validate_first
        self.last_metrics: dict[str, float] = {}
        self._last_checkpoint: int | None = None

    def _postfix(self, bar: tqdm, values: Mapping[str, float]) -> None:
        shown = dict(values)
        shown.update({k: v for k, v in self.last_metrics.items() if k in self.show})
        bar.set_postfix({k: _format(k, v) for k, v in shown.items()}, refresh=False)

    def _validate(self, validate, state: LoopState, seconds: float, writer) -> bool:
        result = validate(state.step, state.means(), seconds)
        numbers = {k: float(v) for k, v in result.metrics.items()}
        check_finite(numbers, state.step, self._last_checkpoint, self.run_folder)
        self.last_metrics = numbers
        with writer.as_default(step=state.step):
            for name, value in result.metrics.items():
                tf.summary.scalar(f"validation/{name}", value)
        writer.flush()
        state.sums, state.count = {}, 0
        return result.stop

    def run(
        self,
        state: LoopState,
        train_step: Callable[[object], Mapping[str, tf.Tensor]],
        batches: Iterator,
        validate: Callable[[int, dict, float], Validation],
        checkpoint: Callable[[LoopState], None],
    ) -> LoopState:
        """Trains from `state.step` to `steps` (or until validation says stop).

        Args:
            state: a fresh `LoopState()` or the one restored from a checkpoint.
            train_step: one optimisation step on a batch; returns named scalar tensors
                (at least the loss).
            batches: yields the batch of step `state.step + 1`, then the next ones.
            validate: called as `validate(step, train_means, seconds)`.
            checkpoint: saves everything needed to resume, including `state.to_json()`.

        Returns:
            The final state.

        Raises:
            TrainingError: a training or validation value is not finite.
        """
        writer = tf.summary.create_file_writer(str(self.run_folder.tensorboard))
        started = time.perf_counter()
        before = state.elapsed

        def seconds() -> float:
            return before + time.perf_counter() - started

        self._last_checkpoint = state.step or None
        # In a log file (no terminal) the bar is written every 30 s instead of redrawn.
        interactive = sys.stderr.isatty()
        bar = tqdm(total=self.steps, initial=state.step, desc=self.description, unit="step",
                   dynamic_ncols=True, file=sys.stderr, mininterval=0.1 if interactive else 30.0)
        try:
            if state.step == 0 and self.validate_first and not state.stopped:
                self._validate(validate, state, seconds(), writer)
                self._postfix(bar, {})
            while state.step < self.steps and not state.stopped:
                values = train_step(next(batches))
                step = state.step + 1
                host = {k: float(v) for k, v in values.items()}
                check_finite(host, step, self._last_checkpoint, self.run_folder)
                state.step = step
                state.count += 1
                for name, value in host.items():
                    state.sums[name] = state.sums.get(name, 0.0) + value
                with writer.as_default(step=step):
                    for name, value in host.items():
                        tf.summary.scalar(f"train/{name}", value)
                if step % self.validate_every == 0 or step == self.steps:
                    state.stopped = self._validate(validate, state, seconds(), writer)
                if step % self.checkpoint_every == 0 or step == self.steps or state.stopped:
                    state.elapsed = seconds()
                    try:
                        checkpoint(state)
                    except NonFiniteWeightsError as exc:  # a finite loss, a non-finite update
                        raise diverged(step, f"{exc.problem}, although the loss was finite",
                                       self._last_checkpoint, self.run_folder) from None
                    self._last_checkpoint = step
                self._postfix(bar, host)
                bar.update(1)
        finally:
            bar.close()
            writer.close()
        state.elapsed = seconds()
        return state

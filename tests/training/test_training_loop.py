"""The step loop: validation and checkpoint schedules, the non-finite guard, resuming."""
from __future__ import annotations

import math

import pytest
import tensorflow as tf

from nipkit.errors import TrainingError
from nipkit.training.loop import LoopState, TrainingLoop, Validation
from nipkit.training.run_folder import RunFolder


class Recorder:
    """Loss values per step (a list), and what the loop asked for."""

    def __init__(self, losses, stop_at=None):
        self.losses = losses
        self.stop_at = stop_at
        self.validated, self.checkpoints, self.means = [], [], []

    def step(self, batch):
        return {"loss": tf.constant(self.losses[batch], tf.float32)}

    def validate(self, step, means, seconds):
        self.validated.append(step)
        self.means.append(means.get("loss"))
        return Validation({"psnr": 30.0 + step}, stop=step == self.stop_at)

    def checkpoint(self, state):
        self.checkpoints.append(LoopState.from_json(state.to_json()))


def run_loop(tmp_path, recorder, state=None, steps=10, **kwargs):
    loop = TrainingLoop(RunFolder(tmp_path), steps=steps, validate_every=kwargs.pop("validate_every", 4), **kwargs)
    state = state or LoopState()
    return loop.run(state, recorder.step, iter(range(state.step, steps + 100)), recorder.validate, recorder.checkpoint)


def test_schedules_and_running_means(tmp_path):
    recorder = Recorder([float(i) for i in range(20)])
    state = run_loop(tmp_path, recorder)
    assert state.step == 10 and not state.stopped
    assert recorder.validated == [0, 4, 8, 10]
    assert recorder.means == [None, 1.5, 5.5, 8.5]  # steps 1-4 see batches 0-3, ...
    assert [c.step for c in recorder.checkpoints] == [4, 8, 10]
    assert list((tmp_path / "tensorboard").iterdir())


def test_checkpoint_every_and_resume_continue_the_means(tmp_path):
    losses = [float(i) for i in range(20)]
    whole = Recorder(losses)
    run_loop(tmp_path / "a", whole, checkpoint_every=3)
    assert [c.step for c in whole.checkpoints] == [3, 6, 9, 10]
    resumed = Recorder(losses)
    run_loop(tmp_path / "b", resumed, state=whole.checkpoints[1])  # from step 6, mid-interval
    assert resumed.validated == [8, 10] and resumed.means == whole.means[2:]


def test_validation_can_stop_training(tmp_path):
    recorder = Recorder([1.0] * 20, stop_at=8)
    state = run_loop(tmp_path, recorder)
    assert state.step == 8 and state.stopped
    assert recorder.checkpoints[-1].step == 8 and recorder.checkpoints[-1].stopped


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_loss_names_the_step_and_saves_nothing_after(tmp_path, bad):
    losses = [1.0] * 6 + [bad] + [1.0] * 10
    recorder = Recorder(losses)
    with pytest.raises(TrainingError, match=rf"diverged at step 7: loss is {bad}; the last good checkpoint \(step 4\)"):
        run_loop(tmp_path, recorder)
    assert [c.step for c in recorder.checkpoints] == [4]


def test_non_finite_before_any_checkpoint(tmp_path):
    with pytest.raises(TrainingError, match="step 1: .*no checkpoint had been written yet"):
        run_loop(tmp_path, Recorder([math.nan] * 20))

"""Run folders: fresh start, refusal without --resume, config changes on resume."""
from __future__ import annotations

import keras
import pytest
import yaml

from nipkit.config import load_config
from nipkit.errors import TrainingError
from nipkit.training.checkpoints import save_checkpoint
from nipkit.training.run_folder import RunFolder, first_difference

CONFIG = "data: demo\nnip: inet\ntraining:\n  steps: 10\n  batch_size: 4\n"


def checkpointed(run: RunFolder) -> None:
    model = keras.Sequential([keras.Input((4, 4, 4)), keras.layers.Conv2D(3, 1)])
    save_checkpoint(run.checkpoint, {"nip": model}, {}, {"step": 5})


def config(tmp_path, *overrides):
    path = tmp_path / "nip.yaml"
    path.write_text(CONFIG)
    return load_config(path, overrides)


def test_fresh_start_writes_config_and_clears_leftovers(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.history_path.write_text('{"step": 0}\n')  # from a run killed before its first checkpoint
    (run.tensorboard).mkdir()
    assert run.prepare(config(tmp_path), resume=False) is False
    assert yaml.safe_load(run.config.read_text())["training"]["steps"] == 10
    assert not run.history_path.exists() and not run.tensorboard.exists()


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    assert RunFolder(tmp_path / "run").prepare(config(tmp_path), resume=True) is False


def test_existing_checkpoint_needs_resume(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.prepare(config(tmp_path), resume=False)
    checkpointed(run)
    with pytest.raises(TrainingError, match=r"already holds a checkpoint \(step 5\); add --resume .* another --out"):
        run.prepare(config(tmp_path), resume=False)
    assert run.prepare(config(tmp_path, "training.steps=20"), resume=True) is True
    assert yaml.safe_load(run.config.read_text())["training"]["steps"] == 20


def test_resume_with_another_config_names_the_key(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.prepare(config(tmp_path), resume=False)
    checkpointed(run)
    with pytest.raises(TrainingError, match=r"--set training.batch_size=8: training.batch_size differs"):
        run.prepare(config(tmp_path, "training.batch_size=8"), resume=True)
    (tmp_path / "nip.yaml").write_text(CONFIG.replace("nip: inet", "nip: unet"))
    with pytest.raises(TrainingError, match=r"nip.yaml:2: nip differs"):
        run.prepare(load_config(tmp_path / "nip.yaml"), resume=True)


def test_first_difference():
    assert first_difference({"a": {"b": [1, 2]}}, {"a": {"b": [1, 2]}}) is None
    assert first_difference({"a": {"b": [1, 2]}}, {"a": {"b": [1, 3]}}) == ("a", "b", 1)
    assert first_difference({"a": 1}, {"a": 1, "c": 2}) == ("c",)

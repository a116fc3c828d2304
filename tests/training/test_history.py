"""history.jsonl: appending, reading, cutting back to a checkpoint."""
from __future__ import annotations

import json
import math

import pytest

from nipkit.errors import TrainingError
from nipkit.training.history import History


def test_append_read_truncate(tmp_path):
    history = History(tmp_path / "run" / "history.jsonl")
    assert history.records() == [] and history.size() == 0
    history.append({"step": 0, "loss": None, "psnr": 30.0})
    kept = history.size()
    history.append({"step": 10, "loss": 0.1, "psnr": 31.5})
    assert [r["step"] for r in history.records()] == [0, 10]
    history.truncate(kept)
    assert history.records() == [{"step": 0, "loss": None, "psnr": 30.0}]
    with pytest.raises(TrainingError, match="shorter"):
        history.truncate(kept + 1)


def test_non_finite_values_become_null(tmp_path):
    history = History(tmp_path / "history.jsonl")
    history.append({"step": 1, "psnr": math.inf, "ssim": math.nan})
    assert json.loads((tmp_path / "history.jsonl").read_text()) == {"step": 1, "psnr": None, "ssim": None}


def test_damaged_line_is_named(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"step": 0}\n{"step": 1\n')
    with pytest.raises(TrainingError, match="history.jsonl:2"):
        History(path).records()

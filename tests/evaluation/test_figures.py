"""nipkit.evaluation.figures: the experiment's plots, drawn from computed run folders."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix

from nipkit.evaluation.summary import RunSummary
from nipkit.evaluation.figures import plot_confusion, plot_examples, plot_progress, plot_tradeoff, row_percent
from run_folders import CLASSES, make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs"), "fan", 0)


def size(path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.size


def test_row_percent_matches_sklearn_normalisation():
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    counts = confusion_matrix(truth, predicted, labels=range(5))
    np.testing.assert_allclose(row_percent(counts), 100 * confusion_matrix(truth, predicted, normalize="true"))
    counts[2] = 0  # a class missing from the validation set stays all zero
    assert np.array_equal(row_percent(counts)[2], np.zeros(5))


def test_plot_confusion(run, tmp_path):
    summary = json.loads((run / "summary.json").read_text())
    width, height = size(plot_confusion(summary["confusion"], CLASSES, tmp_path / "c.png", "F"))
    assert width > 300 and height > 300
    with pytest.raises(ValueError, match="must be 4x4 for 4 classes"):
        plot_confusion(summary["confusion"], CLASSES[:4], tmp_path / "bad.png")


def test_plot_examples_with_and_without_target(run, tmp_path):
    with np.load(run / "examples.npz") as data:
        examples = dict(data)
    with_target = size(plot_examples(examples, CLASSES, tmp_path / "a.png"))
    without = size(plot_examples({k: examples[k] for k in ("manipulated", "channel")}, CLASSES, tmp_path / "b.png"))
    assert with_target[0] > without[0] > 500 and with_target[1] == without[1]
    with pytest.raises(ValueError, match=r"after channel must be \(4, h, w, 3\)"):
        plot_examples({**examples, "manipulated": examples["manipulated"][:4], "channel": examples["channel"][:3]},
                      CLASSES[:4], tmp_path / "bad.png")


def test_plot_progress_and_tradeoff(run, tmp_path):
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    # runs without a known mode get their own colour and legend entry
    assert size(plot_progress({"a": rows, "b": rows[:2]}, tmp_path / "p.png"))[0] > 300
    summary = json.loads((run / "summary.json").read_text())
    summaries = [RunSummary.from_json(summary), RunSummary.from_json({**summary, "mode": "joint"})]
    assert size(plot_tradeoff(summaries, tmp_path / "t.png"))[0] > 300

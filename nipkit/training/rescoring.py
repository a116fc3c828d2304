"""Re-scores finished runs through other channels, without training (`nipkit evaluate`).

Each run folder's models (nip.keras, fan.keras, channel-N.keras) are loaded into the
experiment its config.yaml describes, and its fixed validation patches (the same as the
run's own scorer) go through every channel of a battery, each step as its real
counterpart.

Example:
    >>> entries, notes = load_battery("web")  # doctest: +SKIP
    >>> results = rescore_runs(["runs/quickstart"], entries)  # doctest: +SKIP
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Sequence

from tqdm.auto import tqdm

from nipkit.config import load_config
from nipkit.errors import DataError
from nipkit.evaluation.battery import BatteryEntry, resizes
from nipkit.evaluation.confidence import wilson_interval
from nipkit.evaluation.report import find_runs
from nipkit.evaluation.scoring import describe_steps
from nipkit.evaluation.summary import RunSummary, decision_counts
from nipkit.layers.channel_step import ITSELF, REFERENCE, has_reference
from nipkit.training.experiment import Experiment, step_model_name

__all__ = ["MODELS", "load_finished_run", "rescore_run", "rescore_runs"]

MODELS = ("nip.keras", "fan.keras")


def load_finished_run(folder: Path) -> tuple[Experiment, RunSummary]:
    """The experiment of a finished run folder, with the run's trained models loaded.

    Raises:
        DataError: the folder lacks config.yaml, nip.keras or fan.keras.
    """
    missing = [name for name in ("config.yaml", *MODELS) if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder}: no {', '.join(missing)}; `nipkit evaluate` needs a finished run folder "
                        "(it holds config.yaml, nip.keras and fan.keras)")
    summary = RunSummary.read(folder / "summary.json")
    config = load_config(folder / "config.yaml")
    exp = Experiment.from_config(config, mode=summary.mode, nip_weights=folder / "nip.keras", repeat=summary.repeat)
    exp.fan.load_weights(folder / "fan.keras")
    for index in range(len(exp.channel)):
        name = step_model_name(index)
        if name in exp.step_models:
            exp.step_models[name].load_weights(folder / f"{name}.keras")
    return exp, summary


def rescore_run(folder: Path, entries: Sequence[BatteryEntry], echo: Callable[[str], None] | None = None,
                progress: bool = False) -> dict:
    """{"run", "mode", "channels": [{name, accuracy, interval, image_accuracy, quality, scale, ...}]}.

    Args:
        folder: a finished run folder.
        entries: the channels to score it through.
        echo: called with a line per channel.
        progress: show a progress bar over the validation batches (on stderr).
    """
    exp, summary = load_finished_run(folder)
    scorer = exp.scorer()
    kept = [step for step in exp.channel if resizes(step)]
    channels = [None if e.steps is None else e.steps if any(resizes(s) for s in e.steps) else kept + e.steps
                for e in entries]
    rows = []
    bar = tqdm(total=scorer.batch_count, desc=f"{folder.name}: {len(channels)} channels", unit="batch",
               file=sys.stderr, disable=not progress, leave=False, dynamic_ncols=True)
    with bar:
        results = scorer.classifications(channels, progress=bar.update)
    for entry, channel, result in zip(entries, channels, results):
        scores = scorer.scores(result)
        correct, total = decision_counts(scores["confusion"])
        rows.append({"name": entry.name, "accuracy": scores["accuracy"],
                     "interval": list(wilson_interval(correct, total)), "image_accuracy": scores["image_accuracy"],
                     "ran": [f"{describe_steps([s])} as {REFERENCE if has_reference(s) else ITSELF}"
                             for s in (exp.channel if channel is None else channel)],
                     "quality": entry.value("quality"), "scale": entry.value("scale"),
                     "quality_family": entry.family("quality"), "scale_family": entry.family("scale")})
        if echo:
            echo(f"{folder.name}: {entry.name}: accuracy {rows[-1]['accuracy']:.3f}")
    return {"run": str(folder), "mode": summary.mode, "accuracy_training": summary.accuracy_real, "channels": rows}


def rescore_runs(paths: Sequence[str | Path], entries: Sequence[BatteryEntry],
                 echo: Callable[[str], None] | None = None, progress: bool = False) -> list[dict]:
    """`rescore_run` of every run folder at or below `paths`."""
    return [rescore_run(folder, entries, echo, progress) for folder in find_runs(paths)]

"""Runs an experiment: NIP pre-training, every mode × repeat as a run folder, the report.

A run folder holds config.yaml, history.jsonl, checkpoint/, nip.keras, fan.keras (and
channel-N.keras for channel steps with weights), summary.json, examples.npz and its
plots. Its summary records a digest of the effective config (`nipkit.training.digest`):
a finished run is reused only when its config agrees with the new one, and `nipkit
report` groups runs by that digest.

Example:
    >>> results, report = run_experiment(load_config("examples/quickstart.yaml"))  # doctest: +SKIP
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


from nipkit.config import Config
from nipkit.data import Dataset
from nipkit.errors import ConfigError, TrainingError
from nipkit.evaluation.report import write_report
from nipkit.evaluation.summary import SUMMARY_FILE, RunSummary
from nipkit.options import JointTrainingOptions, parse_options
from nipkit.schema import config_kind, validate
from nipkit.training.digest import default_fan, effective_config
from nipkit.training.experiment import Experiment
from nipkit.training.nip import default_output, train_nip
from nipkit.training.run_folder import RunFolder, first_difference

__all__ = ["RunResult", "run_experiment", "train_joint", "pretrain_config"]


@dataclass
class RunResult:
    """One finished run: its folder and its summary."""

    path: Path
    summary: RunSummary


def train_joint(
    config: Config, out: Path, mode: str, repeat: int = 0, nip_weights: Path | None = None,
    resume: bool = False, echo: Callable[[str], None] | None = None,
) -> RunResult:
    """Trains and evaluates one run (one mode, one repeat) into `out` (see `Experiment.train`).

    Args:
        config: a validated experiment config.
        out: the run folder.
        mode: "fan" (NIP frozen) or "joint" (NIP and FAN trained together).
        repeat: the repeat number; the seed is `training.seed + repeat`.
        nip_weights: a `.keras` file with the NIP's starting weights (overrides `nip.weights`).
        resume: continue from the folder's checkpoint; learning rates and clip_norm may
            have changed (the change is recorded in history.jsonl).
        echo: where to write progress messages.
    """
    experiment = Experiment.from_config(config, mode, nip_weights, repeat)
    return RunResult(Path(out), experiment.train(out, resume, echo))


def pretrain_config(config: Config) -> Config:
    """The NIP-training config of an experiment's `pretrain:` section (its keys still named as written)."""
    return config.section_as({"data": "data", "nip": "nip", "training": "pretrain"})


def _pretrain(config: Config, out: Path, resume: bool, echo) -> Path | None:
    """Pre-trains the NIP when the config has a `pretrain:` section; returns best.keras."""
    if config.get(("pretrain",)) is None:
        return None
    result = train_nip(pretrain_config(config), out=out / "nip", resume=resume or (out / "nip").exists(), echo=echo)
    if echo:
        echo(f"pre-trained NIP: PSNR {result.best_psnr:.2f} dB at step {result.best_step} ({result.run.best})")
    return result.run.best


def _stale_key(path: Path, config: Config) -> tuple | None:
    """The first key where the finished run's effective config differs from `config`'s, or None."""
    stored = RunFolder(path).stored_config()
    return first_difference(effective_config(stored), effective_config(config.data))


def _value(data: dict, path: tuple) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _reuse(path: Path, config: Config, options: JointTrainingOptions, resume: bool, overwrite: bool) -> RunSummary | None:
    """The summary of a finished run that may be reused as it is; None to train (again).

    Raises:
        TrainingError: the finished run's config differs and neither --resume (for more
            steps) nor --overwrite says what to do.
    """
    if not (path / SUMMARY_FILE).is_file():
        if overwrite and RunFolder(path).has_checkpoint() and _stale_key(path, config) is not None:
            shutil.rmtree(path)
        return None
    finished = RunSummary.read(path / SUMMARY_FILE)
    stale = _stale_key(path, config)
    if stale is None:
        return finished
    if stale == ("training", "steps") and resume and finished.steps < options.steps:
        return None  # continues from its checkpoint to the new step count
    if overwrite:
        shutil.rmtree(path)
        return None
    stored = effective_config(RunFolder(path).stored_config())
    raise TrainingError(
        f"{config.where(stale)}: {path} finished with another config ({config.name_of(stale)} was {_value(stored, stale)!r}, now "
        f"{_value(effective_config(config.data), stale)!r}); add --overwrite to train it again, or choose another --out")


def run_experiment(
    config: Config, out: str | Path | None = None, resume: bool = False, echo: Callable[[str], None] | None = None,
    overwrite: bool = False,
) -> tuple[list[RunResult], Path]:
    """Runs every mode and repeat of an experiment config, then writes the report.

    A finished run (with summary.json) is kept when its config agrees with `config`. With
    `resume` an unfinished run continues from its checkpoint, and so does a finished one
    when only `training.steps` has grown (e.g. `--set training.steps=4000 --resume`). A
    finished run whose config differs otherwise is refused, or with `overwrite` trained again.

    Returns:
        The runs' results and the path of report.md.
    """
    kind = config_kind(config)
    if kind != "experiment":
        raise ConfigError(f"{config.source}: a {'codec' if kind == 'codec' else 'NIP'}-training config (no manipulations); "
                          f"use `nipkit train {kind}`")
    if config.get(("sweep",)) is not None:
        raise config.error(("sweep",), "a sweep runs with `nipkit sweep CONFIG`; `nipkit run` runs one config")
    validate(config)
    default_fan(config)
    options = parse_options(config, JointTrainingOptions)
    root = Path(out) if out is not None else default_output(config)
    paths = [(mode, repeat, root / f"{mode}-r{repeat}") for mode in options.modes for repeat in range(options.repeats)]
    reused = {path: _reuse(path, config, options, resume, overwrite) for _, _, path in paths}
    options.select_train_images(Dataset.open(config.get(("data",))))  # before pre-training
    root.mkdir(parents=True, exist_ok=True)
    nip_weights = _pretrain(config, root, resume, echo)
    started = time.perf_counter()
    results = []
    for mode, repeat, path in paths:
        finished = reused[path]
        if finished is not None:
            results.append(RunResult(path, finished))
            if echo:
                echo(f"run {path.name}: already finished at step {finished.steps}")
            continue
        results.append(train_joint(config, path, mode, repeat, nip_weights, resume, echo))
    report, _ = write_report([result.path for result in results], root / "report")
    if echo:
        echo(f"{len(results)} runs in {time.perf_counter() - started:.0f} s")
    return results, report

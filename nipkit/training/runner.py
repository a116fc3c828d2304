"""Runs an experiment: NIP pre-training, every mode × repeat as a run folder, the report.

A run folder holds config.yaml, history.jsonl, checkpoint/, nip.keras, fan.keras (and
channel-N.keras for channel steps with weights), summary.json, examples.npz and its
plots. Its summary records a digest of the effective config (the config with every
default filled in, less the keys that only choose which runs exist): a finished run is
reused only when its config agrees with the new one, and `nipkit report` groups runs by
that digest.

Example:
    >>> results, report = run_experiment(load_config("examples/quickstart.yaml"))  # doctest: +SKIP
"""
from __future__ import annotations

import copy
import hashlib
import json
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from nipkit import registry
from nipkit.config import Config
from nipkit.errors import ConfigError, TrainingError
from nipkit.evaluation.report import write_report, write_run_figures
from nipkit.evaluation.scoring import describe_steps
from nipkit.evaluation.summary import SUMMARY_FILE, NipFidelity, RunSummary
from nipkit.files import atomic_write
from nipkit.options import RESUMABLE_CHANGES, JointTrainingOptions, NipTrainingOptions, options_dict, parse_options
from nipkit.schema import NIP_SPEC_OPTIONS, config_kind, validate
from nipkit.training.checkpoints import load_checkpoint, save_checkpoint
from nipkit.training.experiment import Experiment, default_fan
from nipkit.training.loop import LoopState, TrainingLoop, Validation
from nipkit.training.nip import default_output, train_nip
from nipkit.training.run_folder import RunFolder, first_difference

__all__ = ["RunResult", "run_experiment", "train_joint", "effective_config", "config_digest", "pretrain_config",
           "MODE_LABELS"]

MODE_LABELS = {"fan": "F", "joint": "F+N"}
# Keys that choose which runs exist, or where: they may change when a run is resumed or re-reported.
MAY_CHANGE = ("training.steps", "training.mode", "training.repeats", "output")
RESUMABLE = tuple(f"training.{key}" for key in RESUMABLE_CHANGES)


@dataclass
class RunResult:
    """One finished run: its folder and its summary."""

    path: Path
    summary: RunSummary


def effective_config(data: dict) -> dict:
    """The config with every training default filled in, less `mode`, `repeats` and `output`."""
    config = Config(copy.deepcopy(data))
    default_fan(config)
    effective = {k: v for k, v in config.data.items() if k not in ("output", "name")}
    try:
        training = options_dict(parse_options(config, JointTrainingOptions))
        effective["training"] = {k: v for k, v in training.items() if k not in ("mode", "repeats")}
        if config.get(("pretrain",)) is not None:
            effective["pretrain"] = options_dict(parse_options(config, NipTrainingOptions, "pretrain"))
    except ConfigError:
        pass  # a stored config from another version: compared as written
    return effective


def config_digest(data: dict) -> str:
    """A SHA-256 (first 16 hex digits) of the effective config."""
    text = json.dumps(effective_config(data), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _fidelity_guard(options: JointTrainingOptions, start: dict) -> Callable[[int, float], None]:
    """Warns when NIP PSNR has fallen half `fidelity_drop_limit` below its start, stops at the full limit."""
    limit = options.fidelity_drop_limit
    warned = []

    def check(step: int, psnr: float) -> None:
        if limit is None or "psnr" not in start:
            return
        drop = start["psnr"] - psnr
        if drop > limit:
            raise TrainingError(
                f"the NIP collapsed at step {step}: PSNR {psnr:.2f} dB is {drop:.1f} dB below its start "
                f"({start['psnr']:.2f} dB, limit training.fidelity_drop_limit={limit:g}); "
                f"try a lower training.nip_learning_rate (the last checkpoint is kept)")
        if drop > limit / 2 and not warned:
            warned.append(step)
            warnings.warn(f"NIP PSNR fell {drop:.1f} dB below its start at step {step} "
                          f"(the run stops at training.fidelity_drop_limit={limit:g} dB)", stacklevel=2)

    return check


def train_joint(
    config: Config, out: Path, mode: str, repeat: int = 0, nip_weights: Path | None = None,
    resume: bool = False, echo: Callable[[str], None] | None = None,
) -> RunResult:
    """Trains and evaluates one run (one mode, one repeat) into `out`.

    Args:
        config: a validated experiment config.
        out: the run folder.
        mode: "fan" (NIP frozen) or "joint" (NIP and FAN trained together).
        repeat: the repeat number; the seed is `training.seed + repeat`.
        nip_weights: a `.keras` file with the NIP's starting weights (overrides `nip.weights`).
        resume: continue from the folder's checkpoint; learning rates and clip_norm may
            have changed (the change is recorded in history.jsonl).
        echo: where to write progress messages.

    Returns:
        The run's RunResult.
    """
    say = echo or (lambda line: None)
    default_fan(config)
    run = RunFolder(out)
    changes = run.resume_changes(config, JointTrainingOptions) if resume and run.has_checkpoint() else {}
    resuming = run.prepare(config, resume, may_change=MAY_CHANGE + RESUMABLE)
    exp = Experiment.from_config(config, mode, nip_weights, repeat)
    options = exp.options
    history, loop_state = run.history, LoopState()
    if resuming:
        saved = load_checkpoint(run.checkpoint, exp.models, exp.optimizers)
        loop_state = LoopState.from_json(saved.get("loop", {"step": saved["step"]}))
        history.truncate(int(saved.get("history_bytes", 0)))
        run.record_changes(loop_state.step, changes, say)
        say(f"resuming {run.path} from step {loop_state.step}")

    scorer = exp.scorer()
    latest: dict[int, tuple[dict, dict]] = {}

    def at_step(step: int) -> tuple[dict, dict]:
        """(differentiable-channel scores, NIP fidelity) after `step`, computed once."""
        if step not in latest:
            latest.clear()
            latest[step] = (scorer.scores(scorer.classification()), scorer.fidelity())
        return latest[step]

    records = history.records()
    start = next((r for r in records if r.get("step") == 0 and "psnr" in r), {})
    guard = _fidelity_guard(options, start)

    def validate_run(step: int, train_means: dict, seconds: float) -> Validation:
        scores, fidelity = at_step(step)
        metrics = {"accuracy": scores["accuracy"], "image_accuracy": scores["image_accuracy"], **fidelity}
        history.append({
            "step": step, "loss": train_means.get("loss"), "fidelity_loss": train_means.get("fidelity_loss"),
            "train_accuracy": train_means.get("accuracy"), **metrics,
            "learning_rate": exp.learning_rate(), "time": round(seconds, 3),
        })
        if step == 0:
            start.update(fidelity)
        guard(step, fidelity["psnr"])
        return Validation(metrics)

    def checkpoint(state: LoopState) -> None:
        save_checkpoint(run.checkpoint, exp.models, exp.optimizers,
                        {"step": state.step, "loop": state.to_json(), "history_bytes": history.size(), "mode": mode})

    say(f"run {run.path.name}: mode {MODE_LABELS[mode]}, classes {', '.join(exp.classes)}, "
        f"channel {describe_steps(exp.channel)} [{exp.runtime.device}]")
    loop = TrainingLoop(run, steps=options.steps, validate_every=options.validate_every,
                        checkpoint_every=options.checkpoint_every, description=f"{run.path.name}",
                        show=("accuracy", "psnr"))
    if loop_state.step < options.steps:
        try:
            loop_state = loop.run(loop_state, exp.train_step(), exp.batches(loop_state.step), validate_run, checkpoint)
        except (tf.errors.ResourceExhaustedError, MemoryError):
            raise TrainingError(
                f"out of memory in {run.path} (batch {options.batch_size} of {options.patch_size}² patches); "
                f"lower training.batch_size or training.patch_size") from None

    summary = _final_summary(run, exp, at_step, repeat, loop_state, config)
    say(f"run {run.path.name}: accuracy {summary.accuracy:.3f} (real channel {summary.accuracy_real:.3f}), "
        f"NIP PSNR {summary.nip.psnr_initial:.2f} → {summary.nip.psnr:.2f} dB")
    return RunResult(run.path, summary)


def _final_summary(run: RunFolder, exp: Experiment, at_step: Callable, repeat: int, loop_state: LoopState,
                   config: Config) -> RunSummary:
    scorer = exp.scorer()
    differentiable, fidelity = at_step(loop_state.step)
    real = scorer.scores(scorer.classification(real=True))
    records = [r for r in run.history.records() if "psnr" in r]
    initial = records[0] if records and records[0].get("step") == 0 else {}
    summary = RunSummary(
        mode=exp.mode, repeat=repeat, classes=exp.classes, **differentiable,
        accuracy_real=real["accuracy"], confusion_real=real["confusion"], image_accuracy_real=real["image_accuracy"],
        real_channel=scorer.real_steps,
        nip=NipFidelity(psnr=fidelity["psnr"], ssim=fidelity["ssim"],
                        psnr_initial=initial.get("psnr", fidelity["psnr"]), ssim_initial=initial.get("ssim", fidelity["ssim"])),
        nip_name=registry.parse_spec(config.spec(("nip",), drop=NIP_SPEC_OPTIONS))[0],
        channel=describe_steps(exp.channel), steps=loop_state.step, seed=exp.seed,
        seconds=round(loop_state.elapsed, 2), patches=int(len(scorer.accuracy_set["raw"])),
        config_digest=config_digest(config.data),
    )
    exp.save_models(run.path)
    atomic_write(run.path / "examples.npz", lambda tmp: np.savez_compressed(tmp, **scorer.examples()))
    atomic_write(run.path / SUMMARY_FILE,
                 lambda tmp: tmp.write_text(json.dumps(summary.to_json(), indent=1), encoding="utf-8"))
    write_run_figures(run.path)
    return summary


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
    if config_kind(config) != "experiment":
        raise ConfigError(f"{config.source}: a NIP-training config (no manipulations); use `nipkit train nip`")
    validate(config)
    default_fan(config)
    options = parse_options(config, JointTrainingOptions)
    root = Path(out) if out is not None else default_output(config)
    paths = [(mode, repeat, root / f"{mode}-r{repeat}") for mode in options.modes for repeat in range(options.repeats)]
    reused = {path: _reuse(path, config, options, resume, overwrite) for _, _, path in paths}
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

"""The run loop of one experiment run: train, validate, checkpoint, guard, summarise.

`Experiment.train` calls `train_run`; it trains the experiment's models in a run folder
from a fresh start or its checkpoint, records one history row per validation, stops with
one line when the NIP collapses (`training.fidelity_drop_limit`), and writes the models,
examples, figures and the typed summary at the end.

Example:
    >>> summary = Experiment.from_config(config, mode="joint").train("runs/x/joint-r0")  # doctest: +SKIP
"""
from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Callable

import numpy as np

from nipkit import registry
from nipkit.errors import TrainingError
from nipkit.evaluation.report import write_run_figures
from nipkit.evaluation.scoring import describe_steps
from nipkit.evaluation.confidence import mean_of_last
from nipkit.evaluation.rate_distortion import codec_point, validation_photos
from nipkit.evaluation.summary import LAST_VALIDATIONS, SUMMARY_FILE, NipFidelity, RunSummary
from nipkit.layers.channel_step import channel_rate_weight
from nipkit.layers.learned_codec import LearnedCodec
from nipkit.files import atomic_write
from nipkit.options import MODE_LABELS, JointTrainingOptions
from nipkit.random_config import layer_names
from nipkit.schema import NIP_SPEC_OPTIONS
from nipkit.training.checkpoints import load_checkpoint, save_checkpoint
from nipkit.training.digest import config_digest
from nipkit.training.loop import LoopState, TrainingLoop, Validation, allocation_guard
from nipkit.training.run_folder import RunFolder

if TYPE_CHECKING:
    from nipkit.training.experiment import Experiment

__all__ = ["train_run", "fidelity_guard", "MODE_LABELS", "CODEC_CHECK_SIDE"]

CODEC_CHECK_SIDE = 1024  # bounds the time and memory of a learned codec's final check on a real camera's photos


def fidelity_guard(options: JointTrainingOptions, start: dict) -> Callable[[int, float], None]:
    """Warns when NIP PSNR has fallen half `fidelity_drop_limit` below its start, stops at the full limit."""
    limit = options.fidelity_drop_limit
    warned: list[int] = []

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


def train_run(exp: "Experiment", run: RunFolder, resuming: bool, changes: dict, repeat: int,
              echo: Callable[[str], None] | None = None) -> RunSummary:
    """Trains `exp` in a prepared run folder and writes its summary.

    Args:
        exp: the experiment of this run.
        run: the run folder, already prepared (`RunFolder.prepare`).
        resuming: continue from the folder's checkpoint.
        changes: recovery options changed on resume (recorded in history.jsonl).
        repeat: the repeat number (recorded in the summary).
        echo: where to write progress messages.
    """
    say = echo or (lambda line: None)
    options = exp.options
    history, loop_state = run.history, LoopState()
    if resuming:
        saved = load_checkpoint(run.checkpoint, exp.models, exp.optimizers)
        loop_state = LoopState.from_json(saved.get("loop", {"step": saved["step"]}))
        history.truncate(int(saved.get("history_bytes", 0)))
        run.record_changes(loop_state.step, changes, say)
        say(f"resuming {run.path} from step {loop_state.step}")

    with allocation_guard(run.path, f"{options.validation_patches} + {options.fidelity_patches} validation patches "
                          f"of {options.patch_size}² per validation image",
                          ("training.validation_patches", "training.fidelity_patches", "training.patch_size")):
        scorer = exp.scorer()
    latest: dict[int, tuple[dict, dict]] = {}

    def at_step(step: int) -> tuple[dict, dict]:
        """(differentiable-channel scores, NIP fidelity) after `step`, computed once."""
        if step not in latest:
            latest.clear()
            with exp.averaged():
                latest[step] = (scorer.scores(scorer.classification()), scorer.fidelity())
        return latest[step]

    start = next((r for r in history.records() if r.get("step") == 0 and "psnr" in r), {})
    guard = fidelity_guard(options, start)

    def validate_run(step: int, train_means: dict, seconds: float) -> Validation:
        scores, fidelity = at_step(step)
        metrics = {"accuracy": scores["accuracy"], "image_accuracy": scores["image_accuracy"], **fidelity}
        rates = ({"train_bpp_estimate": train_means.get("bpp"), "bpp_estimate": scores["bpp"]}
                 if scores.get("bpp") is not None else {})
        rate_weight = channel_rate_weight(exp.channel)
        if rate_weight is not None:
            rates["rate_weight"] = rate_weight
        history.append({
            "step": step, "loss": train_means.get("loss"), "fidelity_loss": train_means.get("fidelity_loss"),
            "train_accuracy": train_means.get("accuracy"), **metrics, **rates,
            "learning_rate": exp.learning_rate(), "time": round(seconds, 3),
        })
        if step == 0:
            start.update(fidelity)
        guard(step, fidelity["psnr"])
        return Validation(metrics)

    def checkpoint(state: LoopState) -> None:
        save_checkpoint(run.checkpoint, exp.models, exp.optimizers,
                        {"step": state.step, "loop": state.to_json(), "history_bytes": history.size(), "mode": exp.mode})

    say(f"run {run.path.name}: mode {MODE_LABELS[exp.mode]}, classes {', '.join(exp.classes)}, "
        f"channel {describe_steps(exp.channel)}, {len(options.select_train_images(exp.dataset))} training images [{exp.runtime.device}]")
    for where, distribution in exp.random_arguments.describe(layer_names(exp.config)).items():
        say(f"run {run.path.name}: {where} drawn from {distribution}")
    loop = TrainingLoop(run, steps=options.steps, validate_every=options.validate_every,
                        checkpoint_every=options.checkpoint_every, description=f"{run.path.name}",
                        show=("accuracy", "psnr"))
    if loop_state.step < options.steps:
        with allocation_guard(run.path, f"batch {options.batch_size} of {options.patch_size}² patches",
                              ("training.batch_size", "training.patch_size")):
            loop_state = loop.run(loop_state, exp.train_step(), exp.batches(loop_state.step), validate_run, checkpoint)

    with exp.averaged():  # the models a run ends with are the average, where it keeps one
        summary = _final_summary(run, exp, at_step, repeat, loop_state)
    rate = f", {summary.bpp:.3f} bpp from the bitstream" if summary.bpp is not None else ""
    if summary.codec is not None:
        rate += (f"; codec {summary.codec['psnr']:.2f} dB, SSIM {summary.codec['ssim']:.3f} at "
                 f"{summary.codec['bpp']:.3f} bpp on the validation photos")
    fidelity = "" if summary.nip.exact else f", NIP PSNR {summary.nip.psnr_initial:.2f} → {summary.nip.psnr:.2f} dB"
    say(f"run {run.path.name}: accuracy {summary.accuracy:.3f} (real channel {summary.accuracy_real:.3f}{rate}){fidelity}")
    return summary


def _codec_point(exp: "Experiment") -> dict[str, float] | None:
    """The rate–distortion of the channel's first learned codec on the validation photos (centre
    crops of CODEC_CHECK_SIDE where larger); None without a learned codec."""
    codecs = [step for step in exp.channel if isinstance(step, LearnedCodec)]
    if not codecs:
        return None
    return codec_point(codecs[0], validation_photos(exp.dataset, CODEC_CHECK_SIDE)[1])


def _final_summary(run: RunFolder, exp: "Experiment", at_step: Callable, repeat: int,
                   loop_state: LoopState) -> RunSummary:
    scorer = exp.scorer()
    differentiable, fidelity = at_step(loop_state.step)
    real = scorer.scores(scorer.classification(real=True))
    records = [r for r in run.history.records() if "psnr" in r]
    initial = records[0] if records and records[0].get("step") == 0 else {}
    summary = RunSummary(
        mode=exp.mode, repeat=repeat, classes=exp.classes, **{k: v for k, v in differentiable.items() if k != "bpp"},
        accuracy_real=real["accuracy"], confusion_real=real["confusion"], image_accuracy_real=real["image_accuracy"],
        bpp=real.get("bpp"), bpp_estimate=differentiable.get("bpp"),
        real_channel=scorer.real_steps,
        nip=NipFidelity(psnr=fidelity["psnr"], ssim=fidelity["ssim"],
                        psnr_initial=initial.get("psnr", fidelity["psnr"]), ssim_initial=initial.get("ssim", fidelity["ssim"])),
        nip_name=registry.parse_spec(exp.config.spec(("nip",), drop=NIP_SPEC_OPTIONS))[0],
        channel=describe_steps(exp.channel), steps=loop_state.step, seed=exp.seed,
        seconds=round(loop_state.elapsed, 2), patches=int(len(scorer.accuracy_set["raw"])),
        config_digest=config_digest(exp.config.data),
        accuracy_last_mean=mean_of_last(records, "accuracy", LAST_VALIDATIONS),
        random_arguments=exp.random_arguments.describe(layer_names(exp.config)),
        codec=_codec_point(exp),
    )
    exp.save_models(run.path)
    atomic_write(run.path / "examples.npz", lambda tmp: np.savez_compressed(tmp, **scorer.examples()), keep_suffix=True)
    atomic_write(run.path / SUMMARY_FILE,
                 lambda tmp: tmp.write_text(json.dumps(summary.to_json(), indent=1), encoding="utf-8"))
    write_run_figures(run.path)
    return summary

"""The joint experiment (paper 4.4): does the manipulation survive the channel?

One run trains the FAN to name the class of every branch (native + manipulations) after
the distribution channel. In mode `fan` (the paper's F) the NIP is frozen; in mode
`joint` (F+N) two Adam optimisers work together: one updates the FAN and the NIP on
cross-entropy, the other the NIP on L2 fidelity to the target (or, with
`fidelity_weight: λ`, one optimiser updates both on CE + λ·L2). Learning rates decay by
`lr_decay` every `lr_decay_every` steps.

A run folder holds config.yaml, history.jsonl, checkpoint/, nip.keras, fan.keras,
summary.json, examples.npz and its plots. Validation patches are fixed at the start and
shared by every run of an experiment.

Example:
    >>> results = run_experiment(load_config("examples/quickstart.yaml"))  # doctest: +SKIP
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from nipkit import registry
from nipkit.config import Config
from nipkit.data import Dataset, resolve_data
from nipkit.data.patches import train_batches, validation_patches
from nipkit.errors import ConfigError
from nipkit.evaluation.classification import accuracy, confusion_matrix, image_level_accuracy
from nipkit.evaluation.libjpeg import roundtrip
from nipkit.evaluation.metrics import psnr, ssim
from nipkit.evaluation.report import write_report, write_run_figures
from nipkit.layers.jpeg import DifferentiableJPEG
from nipkit.models.joint import JointModel
from nipkit.schema import (
    JOINT_TRAINING, NIP_SPEC_OPTIONS, check_manipulation_names, config_kind, training_options, validate,
)
from nipkit.files import atomic_write
from nipkit.training.checkpoints import load_checkpoint, save_checkpoint, save_model_atomic
from nipkit.training.loop import LoopState, TrainingLoop, Validation
from nipkit.training.losses import l2_loss
from nipkit.training.nip import build_nip, check_patch_sizes, default_output, load_nip_weights, train_nip
from nipkit.training.run_folder import RunFolder
from nipkit.training.runtime import Runtime, select_runtime

__all__ = ["RunResult", "run_experiment", "train_joint"]

EVAL_BATCH = 16
PSNR_CAP = 100.0  # dB
SUMMARY = "summary.json"
# Keys that may change when a run is resumed or re-reported.
MAY_CHANGE = ("training.steps", "training.mode", "training.repeats", "output")


@dataclass
class RunResult:
    """One finished run: its folder and its summary."""

    path: Path
    summary: dict


def _describe(layers: list[keras.layers.Layer]) -> str:
    parts = []
    for layer in layers:
        config = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable", "dtype")}
        args = ", ".join(f"{k}={v}" for k, v in config.items() if not isinstance(v, (dict, list)))
        parts.append(f"{type(layer).__name__}({args})")
    return " → ".join(parts) or "none"


class _Experiment:
    """The components of one run, built from the config on one runtime."""

    def __init__(self, config: Config, runtime: Runtime, dataset: Dataset, options: dict, nip_weights: Path | None):
        self.classes = check_manipulation_names(config)
        with runtime.build_scope():
            nip = build_nip(config, dataset)
            manipulations = [config.build(("manipulations", i), registry.layers) for i in range(len(self.classes) - 1)]
            channel = [config.build(("channel", i), registry.layers) for i in range(len(config.get(("channel",)) or []))]
            fan = config.build(("fan",), registry.models, n_classes=len(self.classes))
            if getattr(fan, "n_classes", len(self.classes)) != len(self.classes):
                raise config.error(("fan",), f"n_classes must be {len(self.classes)} (native + {len(manipulations)} manipulations)")
            self.joint = JointModel(nip, manipulations, channel, fan, classes=self.classes)
            self.rgb_input = getattr(nip, "input_channels", 4) == 3
            check_patch_sizes(config, nip, options, keys=("patch_size",))
            size = options["patch_size"]
            self.joint(self.nip_input(np.zeros((1, size // 2, size // 2, 4), "float32"), np.zeros((1, size, size, 3), "float32")))
            load_nip_weights(config, nip, nip_weights)

    @property
    def nip(self) -> keras.Model:
        return self.joint.nip

    @property
    def fan(self) -> keras.Model:
        return self.joint.fan

    def nip_input(self, raw, rgb):
        """What the NIP develops: the RAW stack, or the RGB target for ONet."""
        return rgb if self.rgb_input else raw


def _default_fan(config: Config) -> None:
    """Writes the default FAN into a config that names none, before any run stores it."""
    if config.get(("fan",)) is None:
        config.set(("fan",), "fan")


def _schedule(rate: float, options: dict) -> keras.optimizers.schedules.LearningRateSchedule:
    return keras.optimizers.schedules.ExponentialDecay(
        rate, decay_steps=options["lr_decay_every"], decay_rate=options["lr_decay"], staircase=True
    )


def _optimizers(runtime: Runtime, exp: _Experiment, mode: str, options: dict) -> dict:
    with runtime.build_scope():
        optimizers = {"fan": runtime.adam(_schedule(options["learning_rate"], options), options["clip_norm"])}
        optimizers["fan"].build(_ce_variables(exp, mode))
        if mode == "joint" and options["fidelity_weight"] is None and exp.nip.trainable_variables:
            optimizers["nip"] = runtime.adam(_schedule(options["nip_learning_rate"], options), options["clip_norm"])
            optimizers["nip"].build(exp.nip.trainable_variables)
    return optimizers


def _ce_variables(exp: _Experiment, mode: str) -> list:
    return exp.fan.trainable_variables + (exp.nip.trainable_variables if mode == "joint" else [])


def _train_step(runtime: Runtime, exp: _Experiment, mode: str, optimizers: dict, options: dict) -> Callable:
    joint, batch = exp.joint, options["batch_size"]
    n_classes, weight = joint.n_classes, options["fidelity_weight"]
    ce_vars = _ce_variables(exp, mode)
    nip_vars = exp.nip.trainable_variables

    def replica_step(raw, rgb):
        with tf.GradientTape(persistent=True) as tape:
            developed = tf.cast(joint.develop(exp.nip_input(raw, rgb), training=mode == "joint"), tf.float32)
            probs = tf.cast(joint.classify(developed, training=True), tf.float32)
            labels = joint.labels(tf.shape(developed)[0])
            ce = tf.nn.compute_average_loss(
                keras.losses.sparse_categorical_crossentropy(labels, probs), global_batch_size=n_classes * batch
            )
            fidelity = tf.nn.compute_average_loss(l2_loss(rgb, developed), global_batch_size=batch)
            loss = ce + weight * fidelity if mode == "joint" and weight is not None else ce
            scaled = optimizers["fan"].scale_loss(loss)
            scaled_fidelity = optimizers["nip"].scale_loss(fidelity) if "nip" in optimizers else None
        optimizers["fan"].apply_gradients(zip(tape.gradient(scaled, ce_vars), ce_vars))
        if scaled_fidelity is not None:
            optimizers["nip"].apply_gradients(zip(tape.gradient(scaled_fidelity, nip_vars), nip_vars))
        del tape
        hits = tf.cast(tf.equal(tf.argmax(probs, axis=-1, output_type=tf.int32), labels), tf.float32)
        return {"loss": ce, "fidelity_loss": fidelity, "accuracy": tf.reduce_sum(hits) / (n_classes * batch)}

    return runtime.distributed_step(replica_step)


def _batches(arrays: dict, size: int):
    count = len(next(iter(arrays.values())))
    for start in range(0, count, size):
        yield {k: v[start : start + size] for k, v in arrays.items()}


class _Evaluator:
    """Scores the run on the fixed validation patches, through either channel."""

    def __init__(self, runtime: Runtime, exp: _Experiment, accuracy_set: dict, fidelity_set: dict) -> None:
        self.exp, self.accuracy_set, self.fidelity_set = exp, accuracy_set, fidelity_set
        joint = exp.joint
        self.develop = runtime.compile(lambda x: tf.cast(joint.develop(x), tf.float32))
        self.classify = runtime.compile(lambda rgb: tf.cast(joint.classify(rgb), tf.float32))
        self.manipulate = runtime.compile(lambda rgb: joint.manipulate(rgb))
        self.fan = runtime.compile(lambda x: tf.cast(joint.fan(x), tf.float32))
        self._latest: tuple[int, dict, dict] | None = None

    def at_step(self, step: int) -> tuple[dict, dict]:
        """(scores through the differentiable channel, NIP fidelity) after `step`.

        Computed once per step: the summary reuses the last validation's figures.
        """
        if self._latest is None or self._latest[0] != step:
            self._latest = (step, _scores(self.classification(), self.exp.joint.n_classes), self.fidelity())
        return self._latest[1:]

    def _developed(self, batch: dict) -> tf.Tensor:
        return self.develop(tf.constant(self.exp.nip_input(batch["raw"], batch["rgb"])))

    def _libjpeg_probs(self, rgb: tf.Tensor) -> np.ndarray:
        images = self.manipulate(rgb)
        for layer in self.exp.joint.channel:
            if isinstance(layer, DifferentiableJPEG):
                images = roundtrip(np.asarray(images), int(layer.quality), layer.subsampling)
            else:
                images = layer(images)
        return self.fan(tf.constant(np.asarray(images, "float32"))).numpy()

    def classification(self, libjpeg: bool = False) -> dict:
        """Probabilities, labels and source images of every validation branch."""
        probs, labels, images = [], [], []
        n = self.exp.joint.n_classes
        for batch in _batches(self.accuracy_set, EVAL_BATCH):
            rgb = self._developed(batch)
            probs.append(self._libjpeg_probs(rgb) if libjpeg else self.classify(rgb).numpy())
            labels.append(np.repeat(np.arange(n), len(batch["raw"])))
            images.append(np.tile(batch["image"], n))
        return dict(zip(("probs", "labels", "images"), map(np.concatenate, (probs, labels, images))))

    def fidelity(self) -> dict:
        outputs = np.concatenate([self._developed(b).numpy() for b in _batches(self.fidelity_set, EVAL_BATCH)])
        target = self.fidelity_set["rgb"]
        return {
            # Capped: ONet reproduces its target exactly, and an infinite PSNR is not a divergence.
            "psnr": float(np.mean(keras.ops.convert_to_numpy(psnr(target, outputs, max_db=PSNR_CAP)))),
            "ssim": float(np.mean(keras.ops.convert_to_numpy(ssim(target, outputs)))),
        }

    def examples(self) -> dict:
        first = {k: v[:1] for k, v in self.accuracy_set.items()}
        rgb = self._developed(first)
        manipulated = np.asarray(self.manipulate(rgb))
        return {"manipulated": manipulated, "channel": np.asarray(self.exp.joint.transmit(manipulated)),
                "target": first["rgb"][0]}


def _scores(result: dict, n_classes: int) -> dict:
    confusion = confusion_matrix(result["labels"], result["probs"].argmax(axis=1), n_classes)
    return {
        "accuracy": accuracy(confusion),
        "confusion": confusion.tolist(),
        "image_accuracy": image_level_accuracy(result["probs"], result["labels"], result["images"]),
    }


def _current_rate(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


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
        resume: continue from the folder's checkpoint.
        echo: where to write progress messages.

    Returns:
        The run's RunResult.
    """
    say = echo or (lambda line: None)
    _default_fan(config)
    options = training_options(config, JOINT_TRAINING)
    seed = options["seed"] + repeat
    run = RunFolder(out)
    resuming = run.prepare(config, resume, may_change=MAY_CHANGE)
    runtime = select_runtime(options["distribute"], options["mixed_precision"], options["xla"])
    runtime.check_batch_size(options["batch_size"])
    keras.utils.set_random_seed(seed)

    dataset = Dataset(resolve_data(config.get(("data",))))
    exp = _Experiment(config, runtime, dataset, options, nip_weights)
    optimizers = _optimizers(runtime, exp, mode, options)
    models = {"nip": exp.nip, "fan": exp.fan}
    history, loop_state = run.history, LoopState()
    if resuming:
        saved = load_checkpoint(run.checkpoint, models, optimizers)
        loop_state = LoopState.from_json(saved.get("loop", {"step": saved["step"]}))
        history.truncate(int(saved.get("history_bytes", 0)))
        say(f"resuming {run.path} from step {loop_state.step}")

    size, base_seed = options["patch_size"], options["seed"]
    variance = options["variance_rule"]
    evaluator = _Evaluator(
        runtime, exp,
        validation_patches(dataset, size, options["validation_patches"], base_seed, variance_rule=variance),
        validation_patches(dataset, size, options["fidelity_patches"], base_seed + 1, variance_rule=variance),
    )

    def validate_run(step: int, train_means: dict, seconds: float) -> Validation:
        scores, fidelity = evaluator.at_step(step)
        metrics = {"accuracy": scores["accuracy"], "image_accuracy": scores["image_accuracy"], **fidelity}
        history.append({
            "step": step, "loss": train_means.get("loss"), "fidelity_loss": train_means.get("fidelity_loss"),
            "train_accuracy": train_means.get("accuracy"), **metrics,
            "learning_rate": _current_rate(optimizers["fan"]), "time": round(seconds, 3),
        })
        return Validation(metrics)

    def checkpoint(state: LoopState) -> None:
        save_checkpoint(run.checkpoint, models, optimizers,
                        {"step": state.step, "loop": state.to_json(), "history_bytes": history.size(), "mode": mode})

    label = {"fan": "F", "joint": "F+N"}[mode]
    say(f"run {run.path.name}: mode {label}, classes {', '.join(exp.classes)}, channel {_describe(exp.joint.channel)} "
        f"[{runtime.device}]")
    loop = TrainingLoop(run, steps=options["steps"], validate_every=options["validate_every"],
                        checkpoint_every=options["checkpoint_every"], description=f"{run.path.name}",
                        show=("accuracy", "psnr"))
    if loop_state.step < options["steps"]:
        batches = runtime.distribute(train_batches(
            dataset, size, options["batch_size"], seed, start_step=loop_state.step, variance_rule=variance))
        loop_state = loop.run(loop_state, _train_step(runtime, exp, mode, optimizers, options), batches,
                              validate_run, checkpoint)

    summary = _final_summary(run, exp, evaluator, mode, repeat, seed, loop_state, config)
    say(f"run {run.path.name}: accuracy {summary['accuracy']:.3f} (libjpeg channel {summary['accuracy_libjpeg']:.3f}), "
        f"NIP PSNR {summary['nip']['psnr_initial']:.2f} → {summary['nip']['psnr']:.2f} dB")
    return RunResult(run.path, summary)


def _final_summary(run: RunFolder, exp: _Experiment, evaluator: _Evaluator, mode: str, repeat: int, seed: int,
                   loop_state: LoopState, config: Config) -> dict:
    n_classes = exp.joint.n_classes
    differentiable, fidelity = evaluator.at_step(loop_state.step)
    real = _scores(evaluator.classification(libjpeg=True), n_classes)
    records = run.history.records()
    initial = records[0] if records and records[0].get("step") == 0 else {}
    summary = {
        "mode": mode,
        "repeat": repeat,
        "classes": exp.classes,
        **differentiable,
        "accuracy_libjpeg": real["accuracy"],
        "confusion_libjpeg": real["confusion"],
        "image_accuracy_libjpeg": real["image_accuracy"],
        "nip": {**fidelity, "psnr_initial": initial.get("psnr", fidelity["psnr"]),
                "ssim_initial": initial.get("ssim", fidelity["ssim"])},
        "steps": loop_state.step,
        "seed": seed,
        "seconds": round(loop_state.elapsed, 2),
        "nip_name": registry.parse_spec(config.spec(("nip",), drop=NIP_SPEC_OPTIONS))[0],
        "channel": _describe(exp.joint.channel),
        "patches": int(len(evaluator.accuracy_set["raw"])),
    }
    save_model_atomic(exp.nip, run.path / "nip.keras")
    save_model_atomic(exp.fan, run.path / "fan.keras")
    atomic_write(run.path / "examples.npz", lambda tmp: np.savez_compressed(tmp, **evaluator.examples()), keep_suffix=True)
    atomic_write(run.path / SUMMARY, lambda tmp: tmp.write_text(json.dumps(summary, indent=1), encoding="utf-8"))
    write_run_figures(run.path)
    return summary


def _finished_summary(path: Path) -> dict | None:
    """The summary of a finished run folder, or None."""
    summary = path / SUMMARY
    return json.loads(summary.read_text(encoding="utf-8")) if summary.is_file() else None


def _pretrain(config: Config, out: Path, resume: bool, echo) -> Path | None:
    """Pre-trains the NIP when the config has a `pretrain:` section; returns best.keras."""
    if config.get(("pretrain",)) is None:
        return None
    nip_config = Config(
        {"data": config.get(("data",)), "nip": config.get(("nip",)), "training": config.get(("pretrain",))},
        config.source,
    )
    nip_config.lines = {("training",) + k[1:]: v for k, v in config.lines.items() if k[:1] == ("pretrain",)}
    result = train_nip(nip_config, out=out / "nip", resume=resume or (out / "nip").exists(), echo=echo)
    if echo:
        echo(f"pre-trained NIP: PSNR {result.best_psnr:.2f} dB at step {result.best_step} ({result.run.best})")
    return result.run.best


def run_experiment(
    config: Config, out: str | Path | None = None, resume: bool = False, echo: Callable[[str], None] | None = None,
) -> tuple[list[RunResult], Path]:
    """Runs every mode and repeat of an experiment config, then writes the report.

    Finished runs (with summary.json) are kept as they are; with `resume` an unfinished
    run continues from its checkpoint, and so does a finished one when `training.steps`
    has grown (e.g. `--set training.steps=4000 --resume`).

    Returns:
        The runs' results and the path of report.md.
    """
    if config_kind(config) != "experiment":
        raise ConfigError(f"{config.source}: a NIP-training config (no manipulations); use `nipkit train nip`")
    validate(config)
    _default_fan(config)
    options = training_options(config, JOINT_TRAINING)
    root = Path(out) if out is not None else default_output(config)
    root.mkdir(parents=True, exist_ok=True)
    nip_weights = _pretrain(config, root, resume, echo)
    modes = options["mode"] if isinstance(options["mode"], list) else [options["mode"]]
    started = time.perf_counter()
    results = []
    for mode in modes:
        for repeat in range(options["repeats"]):
            path = root / f"{mode}-r{repeat}"
            finished = _finished_summary(path)
            # A finished run is kept, unless --resume asks it for more steps.
            if finished is not None and not (resume and finished["steps"] < options["steps"]):
                results.append(RunResult(path, finished))
                if echo:
                    echo(f"run {path.name}: already finished at step {finished['steps']}")
                continue
            results.append(train_joint(config, path, mode, repeat, nip_weights, resume, echo))
    report, _ = write_report([root], root / "report")
    if echo:
        echo(f"{len(results)} runs in {time.perf_counter() - started:.0f} s")
    return results, report

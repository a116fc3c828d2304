"""NIP pre-training: teach a NIP to reproduce the dataset's target developer (paper 4.1).

Each step takes a batch of random aligned (RAW, RGB) patches of the training photos and
makes one Adam update on a fidelity loss (L2 by default), at a learning rate that decays
×lr_decay every lr_decay_every steps (constant by default). Every `validate_every` steps
the NIP develops a fixed set of validation patches: loss, PSNR, SSIM and learning rate go to
`history.jsonl` and TensorBoard, a target | output | difference PNG to `validation/`, the
model to `best.keras` when its validation loss is the lowest so far, and a checkpoint
(model, optimiser, loop state) is written atomically. With `early_stop` training ends
when the paper's rule says the validation loss has converged. With `ema: m` validation,
`best.keras` and `last.keras` use the weights' moving average (`averaged_weights`).

Example:
    >>> result = train_nip(load_config("examples/nip/inet.yaml"), out="runs/inet")  # doctest: +SKIP
    >>> result.psnr, result.run.best  # doctest: +SKIP
    (41.7, PosixPath('runs/inet/best.keras'))
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import keras
import numpy as np
import tensorflow as tf

from nipkit import registry
from nipkit.codecs.files import codec_class_in
from nipkit.config import Config
from nipkit.data import Dataset, resolve_data
from nipkit.data.patches import train_batches, validation_patches
from nipkit.errors import ConfigError
from nipkit.evaluation.metrics import mean_psnr, mean_ssim
from nipkit.evaluation.plots import save_comparison
from nipkit.options import RESUMABLE_CHANGES, NipTrainingOptions, option_names, parse_options
from nipkit.schema import NIP_SPEC_OPTIONS, config_kind, validate
from nipkit.training.checkpoints import load_checkpoint, publish_copy, save_checkpoint, save_model_atomic
from nipkit.training.averaged_weights import averaged_weights, keeps_average
from nipkit.training.early_stop import EarlyStopping
from nipkit.training.loop import LoopState, TrainingLoop, Validation, allocation_guard
from nipkit.training.losses import FIDELITY_LOSSES
from nipkit.training.run_folder import RunFolder
from nipkit.training.runtime import Runtime, select_runtime, step_decay
from nipkit.training.steps import nip_step

__all__ = ["NipResult", "NipTrainer", "train_nip", "train_model", "default_output", "load_nip_weights", "build_nip",
           "check_patch_sizes"]

MODEL_KEY = "nip"
RESUMABLE = tuple(f"training.{key}" for key in RESUMABLE_CHANGES if key in option_names(NipTrainingOptions))
VALIDATION_BATCH = 4
FIGURE_PATCHES = 3


@dataclass
class NipResult:
    """The outcome of `train_nip`.

    Attributes:
        run: the run folder.
        step: the step training reached.
        psnr: mean validation PSNR at that step (dB).
        ssim: mean validation SSIM at that step.
        best_step: the step of `best.keras`.
        best_psnr: its validation PSNR (dB).
        stopped_early: whether the early-stopping rule ended training.
    """

    run: RunFolder
    step: int
    psnr: float
    ssim: float
    best_step: int
    best_psnr: float
    stopped_early: bool


def default_output(config: Config) -> Path:
    """`output:` of the config, else runs/<config file name without extension>."""
    output = config.get(("output",))
    return Path(output) if output else Path("runs") / Path(config.source).stem


def check_patch_sizes(config: Config, model: keras.Model, sizes: dict[str, int]) -> None:
    """Errors on a training size the NIP cannot take (its RAW input must fit `input_multiple`).

    Args:
        sizes: option name -> size in RGB pixels, e.g. {"patch_size": 128}.
    """
    multiple = int(getattr(model, "input_multiple", 1))
    for key, size in sizes.items():
        if size % (2 * multiple):
            raise config.error(
                ("training", key),
                f"must be a multiple of {2 * multiple} for {type(model).__name__} (its RAW input's sides must be "
                f"multiples of {multiple}), got {size}",
            )


def build_nip(config: Config, dataset: Dataset) -> keras.Model:
    """The config's NIP, given the dataset's CFA and colour matrix where it takes them."""
    colour = dataset.meta(dataset.train[0]).get("color_matrix") if dataset.train else None
    return config.build(("nip",), registry.models, drop=NIP_SPEC_OPTIONS, cfa=dataset.cfa, color_matrix=colour)


def load_nip_weights(config: Config, model: keras.Model, path: str | Path | None = None) -> None:
    """Loads weights into a built NIP: from `path`, else from the config's `nip.weights`.

    Args:
        config: the config (errors are located at its `nip.weights`).
        model: the built NIP.
        path: a `.keras` (or `.weights.h5`) file; None reads `nip: {NAME: {weights: FILE}}`
            and does nothing when the config names none.

    Raises:
        ConfigError: the file is missing or does not fit the NIP.
    """
    weights = path if path is not None else config.spec_option(("nip",), "weights")
    if weights is None:
        return
    file = Path(weights).expanduser()
    if not file.is_file():
        raise config.error(("nip", "weights"), f"no such file: {file}")
    codec = codec_class_in(file)
    if codec:
        raise config.error(("nip", "weights"), f"{file} holds a codec ({codec}), not a NIP; a codec belongs in "
                                               f"`channel:`, e.g. {{learned_codec: {{weights: {file}}}}}")
    try:
        model.load_weights(file)
    except (ValueError, OSError, KeyError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise config.error(("nip", "weights"), f"cannot load {file} into this NIP ({first})") from None


class NipTrainer:
    """A NIP, its optimiser and its compiled pre-training step, built from a config.

    Args:
        config: a NIP-training config.
        runtime: the device/strategy to build on.
        dataset: the training data.
        options: the config's training options.

    Example:
        >>> trainer = NipTrainer.from_config(load_config("examples/nip/inet.yaml"))  # doctest: +SKIP
        >>> trainer.train_step()(next(trainer.batches()))["loss"]  # doctest: +SKIP
    """

    model_key = MODEL_KEY  # the model's name in checkpoints
    section = "nip"  # the config key of the model's spec

    def __init__(self, config: Config, runtime: Runtime, dataset: Dataset, options: NipTrainingOptions) -> None:
        self.config, self.runtime, self.dataset, self.options = config, runtime, dataset, options
        with runtime.build_scope():
            self.model = build_nip(config, dataset)
            check_patch_sizes(config, self.model, {"patch_size": options.patch_size,
                                                   "validation_size": options.validation_size})
            half = options.patch_size // 2
            self.model(np.zeros((1, half, half, 4), "float32"))
            load_nip_weights(config, self.model)
            self.optimizer = runtime.adam(self.schedule(), options.clip_norm, options.ema)
            self.optimizer.build(self.model.trainable_variables)

    @classmethod
    def from_config(cls, config: Config, runtime: Runtime | None = None, dataset: Dataset | None = None) -> "NipTrainer":
        """Builds the trainer of `config` on the runtime its options ask for (or `runtime`)."""
        options = parse_options(config, NipTrainingOptions)
        if runtime is None:
            runtime = select_runtime(options.distribute, options.mixed_precision, options.xla)
        runtime.check_batch_size(options.batch_size)
        dataset = dataset or Dataset(resolve_data(config.get(("data",))))
        keras.utils.set_random_seed(options.seed)  # the same initial weights for the same seed
        return cls(config, runtime, dataset, options)

    def train_step(self, runtime: Runtime | None = None) -> Callable:
        """The compiled pre-training step (on `runtime`, default the trainer's)."""
        return nip_step(runtime or self.runtime, self.model, self.optimizer, self.options.loss, self.options.batch_size)

    def batches(self, start_step: int = 0) -> Iterator:
        """The training batches from `start_step` on, distributed on the runtime."""
        options = self.options
        return self.runtime.distribute(train_batches(self.dataset, options.patch_size, options.batch_size, options.seed,
                                                     start_step=start_step, images=options.select_train_images(self.dataset),
                                                     augment=options.augment))

    def schedule(self) -> float | keras.optimizers.schedules.LearningRateSchedule:
        """The options' learning rate, ×lr_decay every lr_decay_every steps."""
        options = self.options
        return step_decay(options.learning_rate, options.lr_decay, options.lr_decay_every)

    def restore_learning_rate(self) -> None:
        """Sets the learning rate of the options again (a checkpoint restores the saved one)."""
        self.optimizer.learning_rate = self.schedule()

    def name(self) -> str:
        """The registry key of the trained model."""
        return registry.parse_spec(self.config.spec((self.section,), drop=NIP_SPEC_OPTIONS))[0]

    def validation_set(self) -> dict:
        """The fixed validation patches {"raw", "rgb", "image"}; the model develops "raw"."""
        options = self.options
        return validation_patches(self.dataset, options.validation_size, options.validation_patches, options.seed)

    def validation_metrics(self, target: np.ndarray, output: np.ndarray, val_loss: float) -> dict:
        """Metrics beyond loss, PSNR and SSIM that validation records (none for a NIP)."""
        return {}


def _figure_patches(images: np.ndarray, count: int) -> np.ndarray:
    """Indices of `count` patches taken from as many different photos as possible."""
    seen: dict[int, int] = {}
    rank = []  # how many patches of the same photo come before each patch
    for image in images.tolist():
        rank.append(seen.get(image, 0))
        seen[image] = rank[-1] + 1
    return np.argsort(rank, kind="stable")[:count]


class _Validator:
    """Develops the fixed validation patches; logs, plots and keeps the best model (all with the
    weights' moving average when the optimiser keeps one)."""

    def __init__(self, run: RunFolder, runtime: Runtime, model: keras.Model, optimizer: keras.optimizers.Optimizer,
                 patches: dict, loss: str, best: dict, stopper: EarlyStopping | None,
                 extra: Callable[[np.ndarray, np.ndarray, float], dict]) -> None:
        self.run, self.model, self.optimizer, self.patches, self.extra = run, model, optimizer, patches, extra
        self.fidelity = FIDELITY_LOSSES[loss]
        self.predict = runtime.compile(lambda raw: tf.cast(model(raw, training=False), tf.float32))
        self.best = best
        self.stopper = stopper
        self.history = run.history
        self.shown = _figure_patches(patches["image"], FIGURE_PATCHES)
        self.last: dict = {}

    def develop(self) -> np.ndarray:
        raw = self.patches["raw"]
        parts = [self.predict(tf.constant(raw[i : i + VALIDATION_BATCH])) for i in range(0, len(raw), VALIDATION_BATCH)]
        return np.concatenate([p.numpy() for p in parts])

    def __call__(self, step: int, train_means: dict, seconds: float) -> Validation:
        with averaged_weights(self.optimizer, self.model.trainable_variables):
            return self.validate(step, train_means, seconds)

    def validate(self, step: int, train_means: dict, seconds: float) -> Validation:
        target = self.patches["rgb"]
        output = self.develop()
        val_loss = float(np.mean(keras.ops.convert_to_numpy(self.fidelity(target, output))))
        metrics = {"val_loss": val_loss, "psnr": mean_psnr(target, output), "ssim": mean_ssim(target, output)}
        metrics.update(self.extra(target, output, val_loss))
        rate = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
        record = {"step": step, "loss": train_means.get("loss"), **metrics, "learning_rate": rate, "time": round(seconds, 3)}
        self.history.append(record)
        self.last = record
        save_comparison(
            self.run.validation_image(step), target[self.shown], output[self.shown],
            title=f"step {step}: PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.4f}",
        )
        if self.best.get("val_loss") is None or metrics["val_loss"] < self.best["val_loss"]:
            save_model_atomic(self.model, self.run.best)
            self.best.update(step=step, val_loss=metrics["val_loss"], psnr=metrics["psnr"])
        stop = self.stopper.update(metrics["val_loss"]) if self.stopper else False
        return Validation(metrics, stop)


def train_nip(
    config: Config,
    out: str | Path | None = None,
    resume: bool = False,
    echo: Callable[[str], None] | None = None,
) -> NipResult:
    """Pre-trains the config's NIP on its dataset, into a run folder (see `train_model`).

    Raises:
        ConfigError: the config is wrong (or is not a NIP-training config).
    """
    if config_kind(config) != "nip":
        raise ConfigError(f"{config.source}: not a NIP-training config (it names {_names_of(config)}); "
                          f"use `nipkit {'train codec' if config_kind(config) == 'codec' else 'run'}`")
    return train_model(config, NipTrainer, out, resume, echo)


def _names_of(config: Config) -> str:
    return "/".join(k for k in ("manipulations", "channel", "fan", "codec") if k in config.data)


def train_model(
    config: Config,
    trainer_type: type[NipTrainer],
    out: str | Path | None = None,
    resume: bool = False,
    echo: Callable[[str], None] | None = None,
) -> NipResult:
    """Trains one model of a config on its dataset, into a run folder (NIP or codec pre-training).

    Args:
        config: a training config (keys `data`, `nip` or `codec`, `training`, `output`).
        trainer_type: `NipTrainer` or a subclass (e.g. `nipkit.training.codec.CodecTrainer`).
        out: the run folder; `output:` of the config, else runs/<config name>, when None.
        resume: continue from the folder's checkpoint (same step count, learning rate and
            data order as an uninterrupted run).
        echo: where to write progress messages (None: silent, except the progress bar).

    Returns:
        A NipResult.

    Raises:
        ConfigError: the config is wrong. DataError: the data cannot be used.
        TrainingError: a checkpoint exists without `resume`, the checkpoint is damaged,
            the loss stops being finite, or memory runs out (one line naming the keys to lower).
    """
    say = echo or (lambda line: None)
    validate(config)
    run = RunFolder(Path(out) if out is not None else default_output(config))
    changes = run.resume_changes(config, NipTrainingOptions) if resume and run.has_checkpoint() else {}
    resuming = run.prepare(config, resume, may_change=("training.steps",) + RESUMABLE)
    trainer = trainer_type.from_config(config)
    model, optimizer, options = trainer.model, trainer.optimizer, trainer.options
    history = run.history
    loop_state, best = LoopState(), {}
    if resuming:
        saved = load_checkpoint(run.checkpoint, {trainer.model_key: model}, {trainer.model_key: optimizer})
        trainer.restore_learning_rate()
        loop_state = LoopState.from_json(saved.get("loop", {"step": saved["step"]}))
        best = dict(saved.get("best") or {})
        history.truncate(int(saved.get("history_bytes", 0)))
        run.record_changes(loop_state.step, changes, say)
        say(f"resuming {run.path} from step {loop_state.step}")
    stopper = None
    if options.early_stop:
        past = [r["val_loss"] for r in history.records() if r.get("val_loss") is not None]
        stopper = EarlyStopping(options.early_stop_checks, options.early_stop_tolerance, past)

    name = trainer.name()
    say(f"training {name} ({model.count_params():,} parameters) on {len(options.select_train_images(trainer.dataset))} training images of "
        f"{trainer.dataset.camera} [{trainer.runtime.device}] into {run.path}")
    with allocation_guard(run.path, f"{options.validation_patches} validation patches of {options.validation_size}² "
                          "per validation image", [config.name_of(("training", "validation_patches")),
                                                   config.name_of(("training", "validation_size"))]):
        patches = trainer.validation_set()
    validator = _Validator(run, trainer.runtime, model, optimizer, patches, options.loss, best, stopper,
                           trainer.validation_metrics)

    def checkpoint(state: LoopState) -> None:
        save_checkpoint(
            run.checkpoint, {trainer.model_key: model}, {trainer.model_key: optimizer},
            {"step": state.step, "loop": state.to_json(), "history_bytes": history.size(), "best": best},
        )
        if keeps_average(optimizer):
            with averaged_weights(optimizer, model.trainable_variables):
                save_model_atomic(model, run.last)
        else:
            publish_copy(run.checkpoint / f"{trainer.model_key}.keras", run.last)

    loop = TrainingLoop(
        run, steps=options.steps, validate_every=options.validate_every,
        checkpoint_every=options.checkpoint_every, description=name,
    )
    if loop_state.step >= options.steps or loop_state.stopped:
        say(f"{run.path} is already complete at step {loop_state.step}")
    else:
        with allocation_guard(run.path, f"batch {options.batch_size} of {options.patch_size}² patches",
                              [config.name_of(("training", "batch_size")), config.name_of(("training", "patch_size"))]):
            loop_state = loop.run(loop_state, trainer.train_step(), trainer.batches(loop_state.step), validator,
                                  checkpoint)

    final = validator.last or (history.records() or [{}])[-1]
    return NipResult(
        run=run,
        step=loop_state.step,
        psnr=float(final.get("psnr", float("nan"))),
        ssim=float(final.get("ssim", float("nan"))),
        best_step=int(best.get("step", loop_state.step)),
        best_psnr=float(best.get("psnr", float("nan"))),
        stopped_early=loop_state.stopped,
    )

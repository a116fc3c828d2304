"""The public training API of the joint experiment: one `Experiment` per run.

An Experiment is built from a config for one mode ("fan" = F, "joint" = F+N) and holds
the models (NIP, manipulations, channel steps, FAN, joined in a `JointModel`), their
optimisers, the compiled train step, the scorer of the fixed validation patches and the
run loop (`train`, in `nipkit.training.run_loop`). `nipkit run` (through `nipkit.training.runner`), the benchmarks and the tests all use it.

Example:
    >>> exp = Experiment.from_config(load_config("examples/quickstart.yaml"), mode="joint")  # doctest: +SKIP
    >>> step = exp.train_step()  # doctest: +SKIP
    >>> values = step(next(exp.batches()))  # doctest: +SKIP
    >>> exp.scorer().fidelity()["psnr"]  # doctest: +SKIP
    >>> summary = exp.train("runs/quickstart/joint-r0")  # the run loop  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, ContextManager, Iterator

import keras
import numpy as np

from nipkit import registry
from nipkit.config import Config
from nipkit.data import Dataset, resolve_data
from nipkit.data.patches import train_batches, validation_patches
from nipkit.evaluation.scoring import ChannelScorer
from nipkit.layers.channel_step import step_model, trains_in
from nipkit.models.joint import JointModel
from nipkit.evaluation.summary import RunSummary
from nipkit.random_config import build_step, config_random_arguments
from nipkit.random_values import VALIDATION
from nipkit.options import RESUMABLE_CHANGES, JointTrainingOptions, parse_options, trains_nip
from nipkit.schema import check_manipulation_names
from nipkit.training.averaged_weights import averaged_weights
from nipkit.training.checkpoints import save_model_atomic
from nipkit.training.digest import default_fan
from nipkit.training.draws import with_draws
from nipkit.training.nip import build_nip, check_patch_sizes, load_nip_weights
from nipkit.training.run_folder import RunFolder
from nipkit.training.run_loop import train_run
from nipkit.training.runtime import Runtime, select_runtime, step_decay
from nipkit.training.steps import joint_step

__all__ = ["Experiment", "default_fan", "step_model_name", "MAY_CHANGE", "RESUMABLE"]

# Keys that choose which runs exist, or where: they may change when a run is resumed or re-reported.
MAY_CHANGE = ("training.steps", "training.mode", "training.repeats", "output", "resources")
# Keys a user may change on --resume to recover from a divergence.
RESUMABLE = tuple(f"training.{key}" for key in RESUMABLE_CHANGES)


def step_model_name(index: int) -> str:
    """The name a channel step with weights is saved under: `channel-INDEX` (.keras)."""
    return f"channel-{index}"


class Experiment:
    """The models, optimisers, train step and scorer of one run of the joint experiment.

    Args:
        config: a validated experiment config (with a `fan:`; see `default_fan`).
        mode: "fan" (F: NIP frozen), "joint" (F+N: NIP trained too), "codec" (F+C: the channel
            steps whose `trainable:` lists it trained with the FAN) or "joint_codec" (F+N+C).
        runtime: the device/strategy to build on.
        dataset: the training data.
        options: the config's training options.
        nip_weights: a `.keras` file with the NIP's starting weights (overrides `nip.weights`).
        seed: the seed of training batches (validation patches use `options.seed`).
        repeat: the repeat number (recorded in the summary).

    Use `Experiment.from_config` to build one with the runtime the options ask for.
    """

    def __init__(self, config: Config, mode: str, runtime: Runtime, dataset: Dataset,
                 options: JointTrainingOptions, nip_weights: str | Path | None = None, seed: int | None = None,
                 repeat: int = 0) -> None:
        self.config, self.mode, self.runtime, self.dataset, self.options = config, mode, runtime, dataset, options
        self.seed, self.repeat = options.seed + repeat if seed is None else seed, repeat
        self.classes = check_manipulation_names(config)
        self.random_arguments = config_random_arguments(config)
        steps = config.get(("channel",)) or []
        self.trainable_steps = [trains_in(config.spec_option(("channel", i), "trainable"), mode) for i in range(len(steps))]
        with runtime.build_scope():
            nip = build_nip(config, dataset)
            manipulations = [build_step(config, "manipulations", i) for i in range(len(self.classes) - 1)]
            channel = [build_step(config, "channel", i) for i in range(len(steps))]
            fan = config.build(("fan",), registry.models, n_classes=len(self.classes))
            if getattr(fan, "n_classes", len(self.classes)) != len(self.classes):
                raise config.error(("fan",), f"n_classes must be {len(self.classes)} (native + {len(manipulations)} manipulations)")
            self.joint = JointModel(nip, manipulations, channel, fan, classes=self.classes)
            self.rgb_input = getattr(nip, "input_channels", 4) == 3
            check_patch_sizes(config, nip, {"patch_size": options.patch_size})
            size = options.patch_size
            self.joint(self.nip_input(np.zeros((1, size // 2, size // 2, 4), "float32"), np.zeros((1, size, size, 3), "float32")))
            for step, trainable in zip(channel, self.trainable_steps):
                step.trainable = trainable
            self.step_models = {step_model_name(i): step_model(step) for i, step in enumerate(channel) if step.weights}
            load_nip_weights(config, nip, nip_weights)
            self._load_step_weights()
            self.optimizers = self._build_optimizers()
        self._scorer: ChannelScorer | None = None

    @classmethod
    def from_config(cls, config: Config, mode: str = "joint", nip_weights: str | Path | None = None,
                    repeat: int = 0, runtime: Runtime | None = None, dataset: Dataset | None = None) -> "Experiment":
        """Builds the experiment of `config` for one mode and repeat.

        Args:
            config: an experiment config (its default FAN is filled in).
            mode: "fan" or "joint".
            nip_weights: the NIP's starting weights (e.g. the pre-trained best.keras).
            repeat: the repeat number; initial weights and training batches use seed
                `training.seed + repeat`.
            runtime: defaults to what the options ask for (`select_runtime`).
            dataset: defaults to the config's `data:`.
        """
        default_fan(config)
        options = parse_options(config, JointTrainingOptions)
        if runtime is None:
            runtime = select_runtime(options.distribute, options.mixed_precision, options.xla)
        runtime.check_batch_size(options.batch_size)
        if dataset is None:
            dataset = Dataset(resolve_data(config.get(("data",))))
        seed = options.seed + repeat
        keras.utils.set_random_seed(seed)  # the same initial weights for the same seed
        return cls(config, mode, runtime, dataset, options, nip_weights, seed=seed, repeat=repeat)

    # -- the models ------------------------------------------------------------------
    @property
    def nip(self) -> keras.Model:
        return self.joint.nip

    @property
    def fan(self) -> keras.Model:
        return self.joint.fan

    @property
    def channel(self) -> list[keras.layers.Layer]:
        return self.joint.channel

    @property
    def models(self) -> dict[str, keras.Model]:
        """Everything with weights a checkpoint holds: nip, fan and each channel step with weights."""
        return {"nip": self.nip, "fan": self.fan, **self.step_models}

    def nip_input(self, raw, rgb):
        """What the NIP develops: the RAW stack, or the RGB target for ONet."""
        return rgb if self.rgb_input else raw

    def ce_variables(self, mode: str | None = None) -> list:
        """What the first optimiser updates: the FAN, trainable channel steps, and in F+N the NIP."""
        mode = mode or self.mode
        steps = [v for step, trains in zip(self.channel, self.trainable_steps) if trains for v in step.trainable_variables]
        return self.fan.trainable_variables + steps + (self.nip.trainable_variables if trains_nip(mode) else [])

    # -- optimisation ----------------------------------------------------------------
    def schedule(self, rate: float) -> float | keras.optimizers.schedules.LearningRateSchedule:
        """The learning-rate decay of the options: ×lr_decay every lr_decay_every steps."""
        return step_decay(rate, self.options.lr_decay, self.options.lr_decay_every)

    def _build_optimizers(self) -> dict:
        options = self.options
        # The first optimiser keeps the average (`training.ema`) of everything it trains; it
        # averages the variables' values, so in F+N the NIP's fidelity steps are in it too.
        optimizers = {"fan": self.runtime.adam(self.schedule(options.learning_rate), options.clip_norm, options.ema)}
        optimizers["fan"].build(self.ce_variables())
        if trains_nip(self.mode) and options.fidelity_weight is None and self.nip.trainable_variables:
            optimizers["nip"] = self.runtime.adam(self.schedule(options.nip_learning_rate), options.clip_norm)
            optimizers["nip"].build(self.nip.trainable_variables)
        return optimizers

    def averaged(self) -> ContextManager[None]:
        """A block in which the models hold the moving average of `training.ema` (none: as they are)."""
        return averaged_weights(self.optimizers["fan"], self.ce_variables())

    def learning_rate(self) -> float:
        """The first optimiser's current learning rate."""
        return float(keras.ops.convert_to_numpy(self.optimizers["fan"].learning_rate))

    def train_step(self, runtime: Runtime | None = None) -> Callable:
        """The compiled train step of this mode (on `runtime`, default the experiment's)."""
        return joint_step(runtime or self.runtime, self, self.mode)

    def batches(self, start_step: int = 0) -> Iterator:
        """The training batches from `start_step` on, distributed on the runtime."""
        options = self.options
        batches = train_batches(self.dataset, options.patch_size, options.batch_size, self.seed,
                                start_step=start_step, variance_rule=options.variance_rule, images=options.select_train_images(self.dataset),
                                augment=options.augment)
        if self.random_arguments:
            batches = with_draws(batches, self.random_arguments, self.seed, start_step, options.batch_size,
                                 len(self.classes))
        return self.runtime.distribute(batches)

    def validation_draws(self, batch: int, photos: int) -> dict:
        """The random arguments of validation batch `batch` (fixed: the same in every run and repeat)."""
        return self.random_arguments.draw(self.options.seed, batch, photos, len(self.classes), VALIDATION)

    # -- evaluation ------------------------------------------------------------------
    def scorer(self) -> ChannelScorer:
        """Scores on the fixed validation patches (drawn once, the same for every repeat)."""
        if self._scorer is None:
            options = self.options
            size, seed, rule = options.patch_size, options.seed, options.variance_rule
            self._scorer = ChannelScorer(
                self.joint,
                validation_patches(self.dataset, size, options.validation_patches, seed, variance_rule=rule),
                validation_patches(self.dataset, size, options.fidelity_patches, seed + 1, variance_rule=rule),
                self.nip_input, self.runtime.compile,
                draws=self.validation_draws if self.random_arguments else None,
            )
        return self._scorer

    # -- the run loop ----------------------------------------------------------------
    def train(self, out: str | Path, resume: bool = False, echo: Callable[[str], None] | None = None) -> RunSummary:
        """Trains this run into the run folder `out`, evaluates it and writes its summary.

        Args:
            out: the run folder.
            resume: continue from its checkpoint; learning rates and clip_norm may have
                changed (recorded in history.jsonl), other keys may not.
            echo: where to write progress messages.

        Raises:
            TrainingError: a checkpoint exists without `resume`, the config differs from
                the run's, training diverges or the NIP collapses.
        """
        run = RunFolder(out)
        changes = run.resume_changes(self.config, JointTrainingOptions) if resume and run.has_checkpoint() else {}
        resuming = run.prepare(self.config, resume, may_change=MAY_CHANGE + RESUMABLE)
        return train_run(self, run, resuming, changes, self.repeat, echo)

    def save_models(self, folder: Path) -> None:
        """Writes nip.keras, fan.keras and channel-N.keras (steps with weights) into `folder`."""
        for name, model in self.models.items():
            save_model_atomic(model, Path(folder) / f"{name}.keras")

    def _load_step_weights(self) -> None:
        for i, step in enumerate(self.channel):
            weights = self.config.spec_option(("channel", i), "weights")
            if weights is None:
                continue
            file = Path(weights).expanduser()
            where = self.config.spec_option_path(("channel", i), "weights")
            if not step.weights:
                raise self.config.error(where, f"{type(step).__name__} has no weights to load")
            if not file.is_file():
                raise self.config.error(where, f"no such file: {file}")
            try:
                self.step_models[step_model_name(i)].load_weights(file)
            except (ValueError, OSError, KeyError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise self.config.error(where, f"cannot load {file} into {type(step).__name__} ({first})") from None



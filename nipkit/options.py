"""Typed training options, parsed once from a Config and then read by name.

Each option is a dataclass field that declares its default, its check and what is
allowed; `parse_options` checks a `training:` (or `pretrain:`) section against one of the
option types and reports the first bad value as `FILE:LINE: training.KEY: must be ...`.
Every numeric option is bounded, so an absurd value (`steps: 1000000000000`) is refused
by `nipkit validate` before anything is allocated.

Example:
    >>> from nipkit.config import Config
    >>> options = parse_options(Config({"training": {"steps": 50}}), NipTrainingOptions)
    >>> options.steps, options.batch_size
    (50, 20)
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from nipkit.config import Config

if TYPE_CHECKING:
    from nipkit.data.dataset import Dataset

__all__ = [
    "MODES", "MODE_LABELS", "NIP_MODES", "CODEC_MODES", "AUGMENTS", "mode_order", "trains_nip", "NipTrainingOptions", "JointTrainingOptions",
    "parse_options", "option_names", "options_dict",
    "RESUMABLE_CHANGES", "RunResources",
]

# fan = F (the FAN alone), joint = F+N (FAN and NIP), codec = F+C (FAN and the channel's
# trainable steps, e.g. a learned codec), joint_codec = F+N+C (all three). A channel step
# trains in a mode its `trainable:` lists.
MODES = ("fan", "joint", "codec", "joint_codec")
MODE_LABELS = {"fan": "F", "joint": "F+N", "codec": "F+C", "joint_codec": "F+N+C"}  # the papers' names
NIP_MODES = ("joint", "joint_codec")  # the modes that train the NIP
CODEC_MODES = ("codec", "joint_codec")  # the modes that need a trainable channel step
AUGMENTS = ("none", "dihedral")  # dihedral: a random flip and quarter turn of every training patch
MAX_STEPS = 10_000_000
MAX_BATCH = 4096
MAX_PATCH = 8192  # RGB pixels per side
MAX_RATE = 1e30  # learning rates, norms and weights must stay representable in float32
MAX_SEED = 2**31 - 1
# Options a user may change on `--resume` to recover from a divergence; the change is
# recorded in history.jsonl.
RESUMABLE_CHANGES = ("learning_rate", "nip_learning_rate", "clip_norm")

Check = Callable[[Any], bool]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def int_in(low: int, high: int, even: bool = False) -> Check:
    """A check: an integer in [low, high] (and even, if asked)."""
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high and not (even and v % 2)


def number_in(low: float, high: float, low_open: bool = True) -> Check:
    """A check: a finite number in (low, high] (or [low, high] with `low_open=False`)."""
    return lambda v: _number(v) and (v > low if low_open else v >= low) and v <= high


def trains_nip(mode: str) -> bool:
    """Whether `mode` trains the NIP (F+N, F+N+C)."""
    return mode in NIP_MODES


def mode_order(mode: str) -> tuple[int, str]:
    """A sort key: F, F+N, F+C, F+N+C in the order of `MODES`, then any other mode by name."""
    return (MODES.index(mode) if mode in MODES else len(MODES), mode)


def one_of(*choices: Any) -> Check:
    return lambda v: v in choices


def optional(check: Check) -> Check:
    return lambda v: v is None or check(v)


def is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def globs(v: Any) -> bool:
    """A check: an fnmatch glob, or a non-empty list of them (image names to match)."""
    items = v if isinstance(v, (list, tuple)) else [v]
    return bool(items) and all(isinstance(g, str) and g for g in items)


def modes(v: Any) -> bool:
    items = v if isinstance(v, list) else [v]
    return bool(items) and all(m in MODES for m in items)


def option(default: Any, check: Check, what: str) -> Any:
    """A dataclass field with its check and the description of what is allowed."""
    return field(default=default, metadata={"check": check, "what": what})


def _positive(high: int, unit: str = "") -> Any:
    return f"a positive integer up to {high:,}{unit}"


@dataclass(frozen=True)
class CommonOptions:
    """Options every trainer takes (the `training:` section)."""

    steps: int = option(1000, int_in(1, MAX_STEPS), _positive(MAX_STEPS))
    batch_size: int = option(20, int_in(1, MAX_BATCH), _positive(MAX_BATCH))
    patch_size: int = option(128, int_in(2, MAX_PATCH, even=True), f"an even positive integer up to {MAX_PATCH} (RGB pixels)")
    seed: int = option(0, int_in(0, MAX_SEED), f"a non-negative integer up to {MAX_SEED}")
    validate_every: int = option(100, int_in(1, MAX_STEPS), _positive(MAX_STEPS, " (steps)"))
    checkpoint_every: int | None = option(None, optional(int_in(1, MAX_STEPS)), _positive(MAX_STEPS, " (steps) or null"))
    mixed_precision: bool = option(False, is_bool, "true or false")
    xla: bool = option(False, is_bool, "true or false")
    distribute: str = option("none", one_of("none", "mirrored", "multi_worker"),
                             "none, mirrored or multi_worker (the cluster in TF_CONFIG)")
    clip_norm: float | None = option(None, optional(number_in(0, MAX_RATE)),
                                     f"a positive number up to {MAX_RATE:g} or null (global gradient norm)")
    train_images: str | tuple[str, ...] = option(
        "*", globs, "a glob or a list of globs of training image names (fnmatch, e.g. 'scene_*')")
    exclude_images: str | tuple[str, ...] | None = option(
        None, optional(globs), "a glob or a list of globs of training image names to leave out, or null")
    ema: float | None = option(None, optional(lambda v: number_in(0, 1)(v) and v < 1),
                               "a number in (0, 1) or null (momentum of the weights' moving average, e.g. 0.999)")
    augment: str = option("none", one_of(*AUGMENTS),
                          f"{' or '.join(AUGMENTS)} (dihedral: a random flip and quarter turn of every training patch)")

    def select_train_images(self, dataset: Dataset) -> list[str]:
        """The training images of `dataset` that `train_images` and `exclude_images` select.

        Raises:
            DataError: none is left.
        """
        return dataset.select_train(self.train_images, self.exclude_images)


@dataclass(frozen=True)
class NipTrainingOptions(CommonOptions):
    """NIP pre-training (`nipkit train nip`, or an experiment's `pretrain:` section)."""

    steps: int = option(5000, int_in(1, MAX_STEPS), _positive(MAX_STEPS))
    learning_rate: float = option(1e-4, number_in(0, MAX_RATE), f"a positive number up to {MAX_RATE:g}")
    lr_decay: float = option(1.0, number_in(0, 1), "a number in (0, 1] (1: a constant rate)")
    lr_decay_every: int = option(1000, int_in(1, MAX_STEPS), _positive(MAX_STEPS, " (steps)"))
    loss: str = option("l2", one_of("l2", "l1", "ssim"), "l2, l1 or ssim")
    early_stop: bool = option(True, is_bool, "true or false")
    early_stop_checks: int = option(5, int_in(1, 1000), _positive(1000, " (validations the mean covers)"))
    early_stop_tolerance: float = option(1e-4, number_in(0, 1), "a positive number up to 1 (relative change)")
    validation_size: int = option(256, int_in(2, MAX_PATCH, even=True), f"an even positive integer up to {MAX_PATCH} (RGB pixels)")
    validation_patches: int = option(1, int_in(1, 10_000), _positive(10_000, " (patches per validation image)"))


@dataclass(frozen=True)
class JointTrainingOptions(CommonOptions):
    """The joint experiment (`nipkit run`): modes F and F+N, repeats, schedules."""

    patch_size: int = option(256, int_in(2, MAX_PATCH, even=True), f"an even positive integer up to {MAX_PATCH} (RGB pixels)")
    validate_every: int = option(50, int_in(1, MAX_STEPS), _positive(MAX_STEPS, " (steps)"))
    mode: Any = option(("fan", "joint"), modes, f"{', '.join(MODES)} or a list of them")
    learning_rate: float = option(1e-4, number_in(0, MAX_RATE), f"a positive number up to {MAX_RATE:g}")
    nip_learning_rate: float = option(1e-4, number_in(0, MAX_RATE), f"a positive number up to {MAX_RATE:g}")
    lr_decay: float = option(0.85, number_in(0, 1), "a number in (0, 1]")
    lr_decay_every: int = option(100, int_in(1, MAX_STEPS), _positive(MAX_STEPS, " (steps)"))
    fidelity_weight: float | None = option(None, optional(number_in(0, MAX_RATE)), f"a positive number up to {MAX_RATE:g} or null")
    validation_patches: int = option(100, int_in(1, 10_000), _positive(10_000, " (patches per validation image)"))
    fidelity_patches: int = option(2, int_in(1, 10_000), _positive(10_000, " (patches per validation image)"))
    repeats: int = option(1, int_in(1, 1000), _positive(1000))
    variance_rule: bool = option(True, is_bool, "true or false")
    fidelity_drop_limit: float | None = option(
        15.0, optional(number_in(0, 200)),
        "a positive number of dB up to 200, or null (stop when NIP PSNR falls this far below its start)")

    @property
    def modes(self) -> list[str]:
        """The modes to run, in order."""
        return [self.mode] if isinstance(self.mode, str) else list(self.mode)


Options = TypeVar("Options", bound="CommonOptions | RunResources")  # an options dataclass (fields made with `option`)


def option_names(kind: type) -> list[str]:
    """The keys a section of this kind may hold, in declaration order."""
    return [f.name for f in fields(kind)]


def options_dict(options: CommonOptions) -> dict:
    """The options as a plain dict (lists for tuples), e.g. for a config digest."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(options).items()}


def parse_options(config: Config, kind: type[Options], section: str = "training") -> Options:
    """The section `section` of `config`, checked and with defaults filled in.

    Raises:
        ConfigError: an unknown key or a bad value, located at its line.
    """
    config.check_keys((section,), option_names(kind))
    values = config.section(section)
    given: dict[str, Any] = {}
    for spec in fields(kind):
        if spec.name in values:
            value = values[spec.name]
            if not spec.metadata["check"](value):
                raise config.error((section, spec.name), f"must be {spec.metadata['what']}, got {value!r}")
            given[spec.name] = tuple(value) if isinstance(value, list) else value
    return kind(**given)


@dataclass(frozen=True)
class RunResources:
    """What each run of a sweep gets (the `resources:` section, read by `nipkit sweep`)."""

    cpus: float = option(1, number_in(0, 1024), "a positive number up to 1024 (CPUs per run)")
    gpus: float = option(0, number_in(0, 64, low_open=False), "a number from 0 to 64 (GPUs per run; fractions share one)")
    retries: int = option(3, int_in(0, 100), "an integer from 0 to 100 (how often a run whose process died is retried)")

"""What a NIP-training config and an experiment config may contain, and their defaults.

`nipkit validate` and the training commands read these tables, so a key is documented,
defaulted and checked in one place.
"""
from __future__ import annotations

from typing import Any, Callable

from nipkit.config import Config
from nipkit.errors import ConfigError
from nipkit import registry
from nipkit.role_check import check_roles
from nipkit.shape_check import check_shapes

__all__ = ["NIP_TRAINING", "JOINT_TRAINING", "config_kind", "validate", "training_options"]

MODES = ("fan", "joint")


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _non_negative_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _positive_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")


def _even_int(v: Any) -> bool:
    return _positive_int(v) and v % 2 == 0


def _fraction(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1


def _one_of(*options: str) -> Callable[[Any], bool]:
    return lambda v: v in options


def _modes(v: Any) -> bool:
    items = v if isinstance(v, list) else [v]
    return bool(items) and all(m in MODES for m in items)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


_bool = lambda v: isinstance(v, bool)  # noqa: E731

# key: (default, check, what is allowed)
_COMMON = {
    "steps": (1000, _positive_int, "a positive integer"),
    "batch_size": (20, _positive_int, "a positive integer"),
    "patch_size": (128, _even_int, "an even positive integer (RGB pixels)"),
    "seed": (0, _non_negative_int, "a non-negative integer"),
    "validate_every": (100, _positive_int, "a positive integer (steps)"),
    "checkpoint_every": (None, _optional(_positive_int), "a positive integer (steps) or null"),
    "mixed_precision": (False, _bool, "true or false"),
    "xla": (False, _bool, "true or false"),
    "distribute": ("none", _one_of("none", "mirrored"), "none or mirrored"),
    "clip_norm": (None, _optional(_positive_number), "a positive number or null (global gradient norm)"),
}

NIP_TRAINING = {
    **_COMMON,
    "steps": (5000, _positive_int, "a positive integer"),
    "learning_rate": (1e-4, _positive_number, "a positive number"),
    "loss": ("l2", _one_of("l2", "l1", "ssim"), "l2, l1 or ssim"),
    "early_stop": (True, _bool, "true or false"),
    "early_stop_checks": (5, _positive_int, "a positive integer (validations the mean covers)"),
    "early_stop_tolerance": (1e-4, _positive_number, "a positive number (relative change)"),
    "validation_size": (256, _even_int, "an even positive integer (RGB pixels)"),
    "validation_patches": (1, _positive_int, "a positive integer (patches per validation image)"),
}

JOINT_TRAINING = {
    **_COMMON,
    "patch_size": (256, _even_int, "an even positive integer (RGB pixels)"),
    "validate_every": (50, _positive_int, "a positive integer (steps)"),
    "mode": (["fan", "joint"], _modes, "fan, joint or a list of them"),
    "learning_rate": (1e-4, _positive_number, "a positive number"),
    "nip_learning_rate": (1e-4, _positive_number, "a positive number"),
    "lr_decay": (0.85, _fraction, "a number in (0, 1]"),
    "lr_decay_every": (100, _positive_int, "a positive integer (steps)"),
    "fidelity_weight": (None, _optional(_positive_number), "a positive number or null"),
    "validation_patches": (100, _positive_int, "a positive integer (patches per validation image)"),
    "fidelity_patches": (2, _positive_int, "a positive integer (patches per validation image)"),
    "repeats": (1, _positive_int, "a positive integer"),
    "variance_rule": (True, _bool, "true or false"),
}

NIP_KEYS = ("data", "nip", "training", "output", "name")
EXPERIMENT_KEYS = ("data", "nip", "pretrain", "manipulations", "channel", "fan", "training", "output", "name")
NIP_SPEC_OPTIONS = ("weights",)  # read by nipkit, not passed to the NIP's constructor


def config_kind(config: Config) -> str:
    """"experiment" when the config names manipulations, a channel or a FAN, else "nip"."""
    return "experiment" if any(k in config.data for k in ("manipulations", "channel", "fan")) else "nip"


def training_options(config: Config, table: dict, section: str = "training") -> dict:
    """A training section checked against `table`, with defaults filled in."""
    config.check_keys((section,), table)
    values = config.section(section)
    options = {}
    for key, (default, check, what) in table.items():
        value = values.get(key, default)
        if key in values and not check(value):
            raise config.error((section, key), f"must be {what}, got {value!r}")
        options[key] = value
    return options


def _check_data(config: Config) -> None:
    data = config.get(("data",))
    if not isinstance(data, str) or not data:
        raise config.error(("data",), "is required: 'demo', 'demo:CAMERA' or a prepared dataset folder")


def _check_nip(config: Config) -> None:
    config.check_spec(("nip",), registry.models, drop=NIP_SPEC_OPTIONS)
    weights = config.spec_option(("nip",), "weights")
    if weights is not None and not isinstance(weights, str):
        raise config.error(("nip", "weights"), f"must be a path to a .keras file, got {weights!r}")


def _check_layer_list(config: Config, key: str, required: bool) -> None:
    items = config.get((key,))
    if items is None and not required:
        return
    if not isinstance(items, list) or (required and not items):
        raise config.error((key,), "must be a non-empty list of layer specs" if required else "must be a list of layer specs")
    for i in range(len(items)):
        # Layers are cheap to construct, so values (e.g. `quality: 0`) are checked too.
        config.build((key, i), registry.layers)


def validate(config: Config) -> str:
    """Checks a config without building models or touching data; returns its kind.

    Raises:
        ConfigError: naming FILE:LINE and the path of the first problem.
    """
    kind = config_kind(config)
    config.check_keys((), EXPERIMENT_KEYS if kind == "experiment" else NIP_KEYS)
    _check_data(config)
    _check_nip(config)
    if kind == "experiment":
        _check_layer_list(config, "manipulations", required=True)
        _check_layer_list(config, "channel", required=False)
        if config.get(("fan",)) is not None:
            config.check_spec(("fan",), registry.models)
        training_options(config, JOINT_TRAINING)
        if config.get(("pretrain",)) is not None:
            training_options(config, NIP_TRAINING, section="pretrain")
    else:
        training_options(config, NIP_TRAINING)
    output = config.get(("output",))
    if output is not None and not isinstance(output, str):
        raise config.error(("output",), f"must be a folder path, got {output!r}")
    check_roles(config)
    check_shapes(config)
    return kind


def check_manipulation_names(config: Config) -> list[str]:
    """Class names: `native`, then each manipulation's key (numbered if repeated)."""
    names = ["native"]
    for i, spec in enumerate(config.get(("manipulations",)) or []):
        try:
            name = registry.parse_spec(spec)[0]
        except ConfigError as exc:
            raise config.error(("manipulations", i), str(exc)) from None
        if name == "native":
            raise config.error(("manipulations", i), "'native' is implicit and always the first class")
        base, n = name, 2
        while name in names:
            name, n = f"{base}{n}", n + 1
        names.append(name)
    return names

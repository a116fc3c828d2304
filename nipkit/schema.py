"""What a NIP-training config and an experiment config may contain.

`nipkit validate` and the training commands read these checks; the training options
themselves are declared (with defaults and bounds) in `nipkit.options`.
"""
from __future__ import annotations

from nipkit import registry
from nipkit.config import Config
from nipkit.errors import ConfigError
from nipkit.layers.channel_step import check_trainable, trains_in
from nipkit.random_config import build_step, random_arguments
from nipkit.options import CODEC_MODES, MODES, CommonOptions, JointTrainingOptions, NipTrainingOptions, RunResources, parse_options
from nipkit.resources import check_memory
from nipkit.role_check import check_roles
from nipkit.shape_check import check_shapes

__all__ = ["NIP_TRAINING", "JOINT_TRAINING", "config_kind", "validate", "training_options"]

# The option types of each section (kept under their former names).
NIP_TRAINING = NipTrainingOptions
JOINT_TRAINING = JointTrainingOptions

NIP_KEYS = ("data", "nip", "training", "output", "name")
CODEC_KEYS = ("data", "codec", "training", "output", "name")
EXPERIMENT_KEYS = ("data", "nip", "pretrain", "manipulations", "channel", "fan", "training", "output", "name",
                   "sweep", "resources")  # sweep, resources: read by `nipkit sweep`
NIP_SPEC_OPTIONS = ("weights",)  # read by nipkit, not passed to the NIP's constructor


def config_kind(config: Config) -> str:
    """"experiment" when the config names manipulations, a channel or a FAN, "codec" when it
    names a codec (`nipkit train codec`), else "nip"."""
    if any(k in config.data for k in ("manipulations", "channel", "fan")):
        return "experiment"
    return "codec" if "codec" in config.data else "nip"


def training_options(config: Config, kind: type[CommonOptions], section: str = "training") -> CommonOptions:
    """A training section checked against its option type, with defaults filled in."""
    return parse_options(config, kind, section)


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
        # Layers are cheap to construct, so values (e.g. `quality: 0`) are checked too,
        # random ones at every end of their distribution.
        random_arguments(config, key, i)
        if getattr(build_step(config, key, i), "REAL_ONLY", False):
            raise config.error(config.name_path((key, i)), "has no differentiable model: it runs only as a real "
                               "channel step (`nipkit evaluate --channel ...`); train through `jpeg` instead")
        if key == "channel":
            _check_step_options(config, i)


def _check_step_options(config: Config, i: int) -> None:
    """A channel step's `trainable:` (true, false or modes) and `weights:` (a path)."""
    trainable = config.spec_option(("channel", i), "trainable")
    if not check_trainable(trainable, MODES):
        raise config.error(config.spec_option_path(("channel", i), "trainable"), f"must be true, false or a list of modes ({', '.join(MODES)}), "
                           f"got {trainable!r}")
    weights = config.spec_option(("channel", i), "weights")
    if weights is not None and not isinstance(weights, str):
        raise config.error(config.spec_option_path(("channel", i), "weights"), f"must be a path to a .keras file, got {weights!r}")


def _check_codec_sizes(config: Config, cell: int = 8) -> None:
    """A codec's training and validation patches hold at least one latent cell."""
    options = parse_options(config, NipTrainingOptions)
    for key in ("patch_size", "validation_size"):
        if getattr(options, key) < cell:
            raise config.error(("training", key), f"must be at least {cell} (one latent cell of the codec), "
                                                  f"got {getattr(options, key)}")


def _check_codec_modes(config: Config) -> None:
    """A mode that trains the channel (F+C, F+N+C) needs a channel step that trains in it."""
    steps = range(len(config.get(("channel",)) or []))
    for mode in parse_options(config, JointTrainingOptions).modes:
        if mode in CODEC_MODES and not any(trains_in(config.spec_option(("channel", i), "trainable"), mode) for i in steps):
            raise config.error(("training", "mode"), f"mode {mode} trains a channel step with the FAN, but no step of "
                               f"`channel:` lists it in `trainable:` (e.g. {{learned_codec: {{trainable: [{mode}]}}}})")


def validate(config: Config) -> str:
    """Checks a config without building models or touching data; returns its kind.

    Raises:
        ConfigError: naming FILE:LINE and the path of the first problem.
    """
    kind = config_kind(config)
    config.check_keys((), {"experiment": EXPERIMENT_KEYS, "codec": CODEC_KEYS, "nip": NIP_KEYS}[kind])
    _check_data(config)
    if kind == "codec":
        config.build(("codec",), registry.layers)  # values too (e.g. `beta: -1`)
        _check_codec_sizes(config)
        check_memory(config, parse_options(config, NipTrainingOptions))
    else:
        _check_nip(config)
    if kind == "experiment":
        _check_layer_list(config, "manipulations", required=True)
        _check_layer_list(config, "channel", required=False)
        if config.get(("fan",)) is not None:
            config.check_spec(("fan",), registry.models)
        n_classes = len(check_manipulation_names(config))
        _check_codec_modes(config)
        check_memory(config, parse_options(config, JointTrainingOptions), n_classes)
        if config.get(("pretrain",)) is not None:
            check_memory(config, parse_options(config, NipTrainingOptions, "pretrain"), section="pretrain")
        parse_options(config, RunResources, "resources")
    elif kind == "nip":
        check_memory(config, parse_options(config, NipTrainingOptions))
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

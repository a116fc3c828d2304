"""Shapes checked without data: a symbolic pass NIP → manipulations → channel → FAN.

Every step of an experiment is built and called on a symbolic `keras.KerasTensor` of the
configured patch size (a NIP takes (patch/2, patch/2, 4) RAW stacks, `ONet` RGB
patches), so no image is read and nothing is computed. A step that refuses the shape it
is given, a manipulation that changes the image size, and a FAN left with too little
image after the channel each end in one `ConfigError` naming the step's FILE:LINE and
config path.

Example:
    >>> from nipkit.config import Config
    >>> spec = {"nip": "onet", "manipulations": ["sharpen"], "channel": [{"downscale": {"factor": 4}}]}
    >>> check_shapes(Config({**spec, "training": {"patch_size": 128}}, "exp.yaml"))
    >>> check_shapes(Config({**spec, "training": {"patch_size": 64}}, "exp.yaml"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nipkit.errors.ConfigError: exp.yaml: fan: cannot take the output of channel[0] (16×16×3): ValueError: FAN needs ... at least 20; ...
"""
from __future__ import annotations

import re
from typing import Any

from nipkit import registry
from nipkit.config import Config, ConfigPath
from nipkit.errors import NipkitError

__all__ = ["check_shapes", "format_shape"]

ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")  # Keras' messages embolden the original error


def format_shape(shape: tuple) -> str:
    """(None, 64, 64, 3) -> "64×64×3" (the batch axis left out)."""
    return "×".join("?" if side is None else str(side) for side in tuple(shape)[1:])


def _first_line(exc: BaseException) -> str:
    """The exception's own first line, without the frame Keras wraps around it."""
    lines = [ANSI_CODE.sub("", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line and not line.startswith("Exception encountered when calling")]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _apply(config: Config, path: ConfigPath, step: Any, inputs: Any, source: str, hint: str = "") -> Any:
    """`step(inputs)` on symbolic inputs; a refusal becomes a `ConfigError` at `path`."""
    try:
        return step(inputs)
    except NipkitError:
        raise
    except Exception as exc:  # layers refuse shapes with ValueError, TypeError, backend errors
        raise config.error(
            config.name_path(path),
            f"cannot take {source} ({format_shape(inputs.shape)}): {_first_line(exc)}{hint}",
        ) from exc


def check_shapes(config: Config) -> None:
    """Runs an experiment config's steps symbolically at `training.patch_size`; a
    NIP-training config (no manipulations, channel or FAN) is left alone.

    Raises:
        ConfigError: a step refuses its input's shape, a manipulation changes the image
            size, or the FAN's output is not one probability per class.
    """
    # Imported here: nipkit.schema imports this module (and stays free of TensorFlow).
    import keras

    from nipkit.options import JointTrainingOptions, parse_options
    from nipkit.random_config import build_step
    from nipkit.schema import NIP_SPEC_OPTIONS, check_manipulation_names, config_kind

    if config_kind(config) != "experiment":
        return
    size = parse_options(config, JointTrainingOptions).patch_size
    classes = check_manipulation_names(config)

    # No data is read, so the dataset's CFA is not known; shapes do not depend on it.
    nip = config.build(("nip",), registry.models, drop=NIP_SPEC_OPTIONS, cfa="rggb")
    rgb_input = getattr(nip, "input_channels", 4) == 3
    stacks = keras.KerasTensor((None, size, size, 3) if rgb_input else (None, size // 2, size // 2, 4))
    rgb = _apply(config, ("nip",), nip, stacks, f"the {'RGB patches' if rgb_input else 'RAW stacks'} of patch_size {size}")
    if tuple(rgb.shape[1:]) != (size, size, 3):
        raise config.error(
            config.name_path(("nip",)),
            f"develops {format_shape(rgb.shape)} images from patch_size {size}; a NIP must give {size}×{size}×3",
        )

    for i in range(len(classes) - 1):
        path = ("manipulations", i)
        out = _apply(config, path, build_step(config, *path), rgb, "the NIP's photos")
        if tuple(out.shape) != tuple(rgb.shape):
            raise config.error(
                config.name_path(path),
                f"changes the image size from {format_shape(rgb.shape)} to {format_shape(out.shape)}; a manipulation "
                "must keep it (size changes belong in `channel:`)",
            )

    images, source = rgb, "the manipulated photos"
    for i in range(len(config.get(("channel",)) or [])):
        path = ("channel", i)
        images = _apply(config, path, build_step(config, *path), images, source)
        if images.shape[-1] != 3 or 0 in images.shape[1:3]:
            raise config.error(
                config.name_path(path),
                f"gives {format_shape(images.shape)} images; a channel step must give non-empty RGB images (…×3)",
            )
        source = f"the output of channel[{i}]"

    fan_path = ("fan",)  # without a `fan:` key, errors name the default FAN by this path too
    if config.get(fan_path) is None:
        fan = registry.models.build("fan", n_classes=len(classes))
    else:
        fan = config.build(fan_path, registry.models, n_classes=len(classes))
    hint = f"; raise training.patch_size (now {size})" + (" or shrink less in `channel:`" if config.get(("channel",)) else "")
    probs = _apply(config, fan_path, fan, images, source, hint)
    if tuple(probs.shape[1:]) != (len(classes),):
        raise config.error(
            config.name_path(fan_path),
            f"gives {format_shape(probs.shape)} outputs; the FAN must give one probability per class ({len(classes)})",
        )

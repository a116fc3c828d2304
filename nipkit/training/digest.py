"""The digest of a run's effective config: what a finished run is compared and grouped by.

The effective config is the config with every training default filled in (and the default
FAN), less the keys that only choose which runs exist or where (`training.mode`,
`training.repeats`, `output`, `name`, `resources`). Two runs whose digests agree were trained on the
same settings.

Example:
    >>> config_digest({"data": "demo", "nip": "inet", "manipulations": ["sharpen"]}) == config_digest(
    ...     {"data": "demo", "nip": "inet", "manipulations": ["sharpen"], "training": {"steps": 1000}})
    True
"""
from __future__ import annotations

import copy
import hashlib
import json

from nipkit.config import Config
from nipkit.errors import ConfigError
from nipkit.options import JointTrainingOptions, NipTrainingOptions, options_dict, parse_options

__all__ = ["effective_config", "config_digest", "default_fan"]


def default_fan(config: Config) -> None:
    """Writes the default FAN into a config that names none, before any run stores it."""
    if config.get(("fan",)) is None:
        config.set(("fan",), "fan")


def effective_config(data: dict) -> dict:
    """The config with every training default filled in, less `mode`, `repeats` and `output`."""
    config = Config(copy.deepcopy(data))
    default_fan(config)
    effective = {k: v for k, v in config.data.items() if k not in ("output", "name", "resources")}
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

"""Codec pre-training: rate–distortion training of a learned codec on a data set's photos.

The codec learns to reproduce the dataset's target images (the demo camera's by
default) at a low rate: each step minimises the fidelity loss (L2 by default) plus the
codec's added loss, β · bits per pixel (β is the codec's `beta`). It runs in the same
loop as NIP pre-training (`nipkit.training.nip.train_model`): run folder, resume,
TensorBoard, history, checkpoints, best model and the non-finite-loss guard. Validation
records PSNR, SSIM, the rate measured from real bitstreams of the validation patches
(`bpp`) and the model's estimate (`bpp_estimate`); the best model is the one with the
lowest L + β·R (with the codec's `target_bpp`, R counts only above the target).
`best.keras` and `last.keras` hold the codec as a one-layer model, the layout of an
experiment's `channel-N.keras`, so either can be a channel step's `weights:`.

Example:
    >>> result = train_codec(load_config("examples/codec/codec32.yaml"), out="runs/codec32")  # doctest: +SKIP
    >>> result.psnr, result.run.best  # doctest: +SKIP
    (30.4, PosixPath('runs/codec32/best.keras'))
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import keras
import numpy as np

from nipkit import registry
from nipkit.codecs.streams import stream_bpp
from nipkit.config import Config
from nipkit.data import Dataset
from nipkit.data.patches import train_batches
from nipkit.errors import ConfigError
from nipkit.layers.channel_step import channel_rate_weight, step_model
from nipkit.options import NipTrainingOptions
from nipkit.schema import config_kind
from nipkit.training.nip import NipResult, NipTrainer, train_model
from nipkit.training.runtime import Runtime

__all__ = ["CodecTrainer", "train_codec"]


class CodecTrainer(NipTrainer):
    """A codec, its optimiser and its rate–distortion step, built from a codec-training config.

    The model the loop trains is the codec wrapped in a one-layer model; it takes the
    target images as input, so the NIP pre-training step and validation apply unchanged.

    Example:
        >>> trainer = CodecTrainer.from_config(load_config("examples/codec/tiny.yaml"))  # doctest: +SKIP
        >>> trainer.train_step()(next(trainer.batches()))["loss"]  # doctest: +SKIP
    """

    model_key = "codec"
    section = "codec"

    def __init__(self, config: Config, runtime: Runtime, dataset: Dataset, options: NipTrainingOptions) -> None:
        self.config, self.runtime, self.dataset, self.options = config, runtime, dataset, options
        with runtime.build_scope():
            self.codec = config.build(("codec",), registry.layers)
            self.model = step_model(self.codec)
            self.model(np.zeros((1, options.patch_size, options.patch_size, 3), "float32"))
            self.optimizer = runtime.adam(self.schedule(), options.clip_norm, options.ema)
            self.optimizer.build(self.model.trainable_variables)

    def batches(self, start_step: int = 0) -> Iterator:
        """Batches of (target, target) patches: the codec's input is the image it must reproduce."""
        options = self.options
        batches = train_batches(self.dataset, options.patch_size, options.batch_size, options.seed, start_step=start_step,
                                images=options.select_train_images(self.dataset), augment=options.augment)
        return self.runtime.distribute(batches.map(lambda raw, rgb: (rgb, rgb)))

    def validation_set(self) -> dict:
        patches = super().validation_set()
        return {**patches, "raw": patches["rgb"]}

    def validation_metrics(self, target: np.ndarray, output: np.ndarray, val_loss: float) -> dict:
        """Measured and estimated rate; the validation loss becomes L + β·R (estimated)."""
        estimates = []
        for start in range(0, len(target), 8):
            self.codec(target[start : start + 8])
            estimates.append(float(keras.ops.convert_to_numpy(self.codec.last_bpp)) * len(target[start : start + 8]))
        estimate = sum(estimates) / len(target)
        measured = stream_bpp(self.codec.compress(target), target.shape)
        target_bpp = self.codec.target_bpp
        # With a rate target, bits count only above it: the best model is the least distorted at the target.
        charged = estimate if target_bpp is None else max(0.0, estimate - target_bpp)
        metrics = {"distortion": val_loss, "val_loss": val_loss + self.codec.beta * charged,
                   "bpp": measured, "bpp_estimate": estimate}
        rate_weight = channel_rate_weight([self.codec])
        return metrics if rate_weight is None else {**metrics, "rate_weight": rate_weight}


def train_codec(
    config: Config,
    out: str | Path | None = None,
    resume: bool = False,
    echo: Callable[[str], None] | None = None,
) -> NipResult:
    """Pre-trains the config's codec for rate–distortion, into a run folder.

    Args:
        config: a codec-training config (keys `data`, `codec`, `training`, `output`).
        out: the run folder; `output:` of the config, else runs/<config name>, when None.
        resume: continue from the folder's checkpoint.
        echo: where to write progress messages.

    Raises:
        ConfigError: the config is wrong or names no codec. DataError, TrainingError: as
            `nipkit.training.nip.train_model`.
    """
    if config_kind(config) != "codec":
        raise ConfigError(f"{config.source}: not a codec-training config (it needs `codec:` and no nip, "
                          "manipulations, channel or fan); see examples/codec/")
    return train_model(config, CodecTrainer, out, resume, echo)

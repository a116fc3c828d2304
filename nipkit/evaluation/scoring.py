"""Scores a joint model on fixed validation patches: through the differentiable channel,
through the real channel (every step that offers a counterpart runs as it), and the NIP's
fidelity.

Example:
    >>> scorer = ChannelScorer(joint, accuracy_set, fidelity_set, nip_input=lambda raw, rgb: raw)  # doctest: +SKIP
    >>> scorer.scores(scorer.classification(real=True))["accuracy"]  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from nipkit.evaluation.classification import accuracy, confusion_matrix, image_level_accuracy
from nipkit.evaluation.metrics import psnr, ssim
from nipkit.evaluation.prefetch import prefetched
from nipkit.evaluation.summary import PSNR_CAP, StepRun
from nipkit.layers.channel_step import channel_rate, run_real

__all__ = ["ChannelScorer", "batches", "describe_steps", "EVAL_BATCH"]

EVAL_BATCH = 16


def describe_steps(layers: list[keras.layers.Layer]) -> str:
    """`Downscale(factor=2) → DifferentiableJPEG(quality=50, ...)`: the layers and their scalar options."""
    parts = []
    for layer in layers:
        config = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable", "dtype")}
        args = ", ".join(f"{k}={v}" for k, v in config.items() if not isinstance(v, (dict, list)))
        parts.append(f"{type(layer).__name__}({args})")
    return " → ".join(parts) or "none"


def batches(arrays: dict, size: int) -> Iterator[dict]:
    """Consecutive slices of `size` of every array in `arrays`."""
    count = len(next(iter(arrays.values())))
    for start in range(0, count, size):
        yield {k: v[start : start + size] for k, v in arrays.items()}


class ChannelScorer:
    """Scores a JointModel on fixed patches, through either channel.

    Args:
        joint: the JointModel.
        accuracy_set: patches {"raw", "rgb", "image"} for classification.
        fidelity_set: patches {"raw", "rgb"} for NIP fidelity.
        nip_input: (raw, rgb) -> what the NIP develops (the RGB target for ONet).
        compile: wraps a function into a compiled one (e.g. `tf.function`).
        draws: (batch number, photos) -> the random arguments of that validation batch
            (fixed draws, see `nipkit.random_values`), or None when nothing is random.
    """

    def __init__(self, joint, accuracy_set: dict, fidelity_set: dict,
                 nip_input: Callable, compile: Callable = tf.function, draws: Callable | None = None) -> None:
        self.joint, self.accuracy_set, self.fidelity_set, self.nip_input = joint, accuracy_set, fidelity_set, nip_input
        self.draws = draws or (lambda batch, photos: {})
        self.develop = compile(lambda x: tf.cast(joint.develop(x), tf.float32))
        self.codes = any(hasattr(step, "last_bpp") for step in joint.channel)  # a step reports its rate
        self.classify = compile(self._classify_and_rate)
        self.manipulate = compile(lambda rgb, draws: joint.manipulate(rgb, draws))
        self.fan = compile(lambda x: tf.cast(joint.fan(x), tf.float32))
        self.real_steps: list[StepRun] = []

    def _classify_and_rate(self, rgb, draws):
        """FAN probabilities through the differentiable channel, and the channel's rate (0 if none)."""
        probs = tf.cast(self.joint.classify(rgb, draws=draws), tf.float32)
        rate = channel_rate(self.joint.channel)
        return probs, tf.zeros(()) if rate is None else tf.cast(rate, tf.float32)

    def developed(self, batch: dict) -> tf.Tensor:
        return self.develop(tf.constant(self.nip_input(batch["raw"], batch["rgb"])))

    def real_channel(self, images, draws: dict | None = None, channel: list | None = None) -> tuple:
        """Manipulated branches through a real channel: (images, the channel's rate measured
        from bytes or None, what each step ran as).

        Args:
            images: the manipulated branches (`self.manipulate`).
            draws: their random arguments (see `JointModel.arguments_of`).
            channel: other steps to run instead of the joint model's channel (their
                draws are not given); each runs as its real counterpart where it has one.
        """
        ran = []
        steps = self.joint.channel if channel is None else channel
        for i, layer in enumerate(steps):
            arguments = self.joint.arguments_of(draws, "channel", i) if channel is None else {}
            images, how = run_real(layer, images, arguments)
            ran.append(StepRun(describe_steps([layer]), how))
        return images, channel_rate(steps, real=True), ran

    @property
    def batch_count(self) -> int:
        """How many validation batches a classification runs."""
        return -(-len(self.accuracy_set["raw"]) // EVAL_BATCH)

    def classification(self, real: bool = False, channel: list | None = None) -> dict:
        """Probabilities, labels and source images of every validation branch, and the
        channel's mean rate ("bpp": estimated, or measured from bytes through a real
        channel; None when no step codes).

        Args:
            real: through the real channel (each step that offers a counterpart runs as it).
            channel: through these steps instead of the joint model's channel (real).
        """
        if real or channel is not None:
            return self.classifications([channel])[0]

        def through_differentiable(rgb, draws):
            probs, rate = self.classify(rgb, draws)
            return [(probs.numpy(), float(rate) if self.codes else None)]

        return self._classify_batches(through_differentiable, 1)[0]

    def classifications(self, channels: Sequence[list | None], progress: Callable[[], None] | None = None) -> list[dict]:
        """`classification` through each real channel (None: the joint model's), developing
        and manipulating every validation batch once for all of them.

        The next batch is developed, manipulated and sent through the real channels in a
        background thread while the FAN classifies this one, so the codecs and TensorFlow
        share the cores.

        Args:
            channels: the channels, each a list of steps or None.
            progress: called after each validation batch (of `batch_count`).
        """
        def transmit(rgb, draws):
            manipulated = self.manipulate(rgb, draws)
            return [self.real_channel(manipulated, draws, channel) for channel in channels]

        def classify(transmitted):
            found = []
            for images, rate, ran in transmitted:
                self.real_steps = ran
                found.append((self.fan(tf.constant(images)).numpy(), rate))
            return found

        return self._classify_batches(transmit, len(channels), classify, progress)

    def _classify_batches(self, prepare: Callable, count: int, classify: Callable | None = None,
                          progress: Callable[[], None] | None = None) -> list[dict]:
        """Runs `prepare(rgb, draws)` on every developed validation batch, then
        `classify(prepared)` (a batch behind, in this thread; without it, `prepare` runs
        here and its result is used as is); both give [(probs, rate) per channel]."""
        probs: list[list] = [[] for _ in range(count)]
        rates: list[list] = [[] for _ in range(count)]
        labels, images = [], []
        n = self.joint.n_classes

        def developed_and_prepared(index: int, batch: dict) -> tuple[dict, list]:
            draws = {k: tf.constant(v) for k, v in self.draws(index, len(batch["raw"])).items()}
            return batch, prepare(self.developed(batch), draws)

        numbered = enumerate(batches(self.accuracy_set, EVAL_BATCH))
        for batch, prepared in prefetched(developed_and_prepared, numbered, ahead=1 if classify else 0):
            for found, rated, (batch_probs, rate) in zip(probs, rates, classify(prepared) if classify else prepared):
                found.append(batch_probs)
                rated.append((float(rate), len(batch_probs)) if rate is not None else None)
            labels.append(np.repeat(np.arange(n), len(batch["raw"])))
            images.append(np.tile(batch["image"], n))
            if progress:
                progress()
        shared = {"labels": np.concatenate(labels), "images": np.concatenate(images)}
        return [{"probs": np.concatenate(found), **shared, "bpp": self._mean_rate(rated)} for found, rated in zip(probs, rates)]

    @staticmethod
    def _mean_rate(rated: list) -> float | None:
        """The patch-weighted mean of (rate, patches) per batch; None when no step coded (every entry None)."""
        known = [r for r in rated if r is not None]
        if not known:
            return None
        return float(np.average([r for r, _ in known], weights=[w for _, w in known]))

    def scores(self, result: dict) -> dict:
        """Accuracy, confusion matrix and image-level accuracy of a classification."""
        confusion = confusion_matrix(result["labels"], result["probs"].argmax(axis=1), self.joint.n_classes)
        return {
            "accuracy": accuracy(confusion),
            "confusion": confusion.tolist(),
            "image_accuracy": image_level_accuracy(result["probs"], result["labels"], result["images"]),
            "bpp": result.get("bpp"),
        }

    def fidelity(self) -> dict:
        """Mean PSNR (capped) and SSIM of the NIP on the fidelity patches."""
        outputs = np.concatenate([self.developed(b).numpy() for b in batches(self.fidelity_set, EVAL_BATCH)])
        target = self.fidelity_set["rgb"]
        return {
            # Capped: ONet reproduces its target exactly, and an infinite PSNR is not a divergence.
            "psnr": float(np.mean(keras.ops.convert_to_numpy(psnr(target, outputs, max_db=PSNR_CAP)))),
            "ssim": float(np.mean(keras.ops.convert_to_numpy(ssim(target, outputs)))),
        }

    def examples(self) -> dict:
        """One patch through every branch, before and after the channel, and its target."""
        first = {k: v[:1] for k, v in self.accuracy_set.items()}
        manipulated = np.asarray(self.manipulate(self.developed(first), {}))
        return {"manipulated": manipulated, "channel": np.asarray(self.joint.transmit(manipulated)),
                "target": first["rgb"][0]}

"""JointModel: NIP → one branch per class → distribution channel → FAN."""
from __future__ import annotations

from typing import Mapping, Sequence

import keras

__all__ = ["JointModel"]


@keras.saving.register_keras_serializable(package="nipkit")
class JointModel(keras.Model):
    """The paper's provenance model: develop, manipulate, transmit, classify.

    The NIP develops a batch of RAW stacks into RGB photos; each photo is copied into one
    branch per class (class 0 is `native`, the photo as developed; class k applies the
    k-th manipulation); every branch goes through the same distribution channel; the FAN
    names the class. Branches are stacked along the batch axis, class-major, so the labels
    of a batch of B photos are `[0]*B + [1]*B + ...`.

    Args:
        nip: a NIP model (RAW stack → RGB), or `ONet` for RGB input.
        manipulations: layers that keep the image size, one per non-native class.
        channel: layers applied in order to every branch (e.g. Downscale, then JPEG).
        fan: the forensic analysis network, with `len(manipulations) + 1` outputs.
        classes: class names; defaults to `native` and the manipulations' layer names.

    Call arguments:
        raw: the NIP's input batch (B, h/2, w/2, 4) (or (B, h, w, 3) for ONet).
        training: whether the NIP and the FAN run in training mode.

    Returns:
        A dict with `rgb` (B, h, w, 3), the developed photos, and `probs` (C·B, C), the
        FAN's class probabilities for every branch.

    Example:
        >>> joint = JointModel(INet(), [Sharpen(), Gaussian()], [Downscale(2), DifferentiableJPEG(50)], FAN(n_classes=3))  # doctest: +SKIP
        >>> out = joint(raw_batch)  # doctest: +SKIP
    """

    def __init__(
        self,
        nip: keras.Model,
        manipulations: Sequence[keras.layers.Layer],
        channel: Sequence[keras.layers.Layer],
        fan: keras.Model,
        classes: Sequence[str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.nip = nip
        self.manipulations = list(manipulations)
        self.channel = list(channel)
        self.fan = fan
        self.classes = list(classes) if classes else ["native"] + [m.name for m in self.manipulations]
        if len(self.classes) != len(self.manipulations) + 1:
            raise ValueError(
                f"classes has {len(self.classes)} names for {len(self.manipulations) + 1} classes"
            )

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def develop(self, raw, training: bool = False):
        """The NIP's RGB photos."""
        return self.nip(raw, training=training)

    @staticmethod
    def arguments_of(draws: Mapping | None, place: str, index: int) -> dict:
        """The call arguments of layer `place[index]` from a batch's random draws.

        `draws` maps `place.index.argument` to (B,) values for a manipulation and (B, C)
        values (photo, class branch) for a channel step (see `nipkit.random_values`);
        a channel step gets them class-major, (C·B,), like its images.
        """
        prefix = f"{place}.{index}."
        arguments = {}
        for key, value in (draws or {}).items():
            if key.startswith(prefix):
                value = keras.ops.reshape(keras.ops.transpose(value), (-1,)) if place == "channel" else value
                arguments[key[len(prefix):]] = value
        return arguments

    def manipulate(self, rgb, draws: Mapping | None = None):
        """All branches stacked class-major along the batch axis: (C·B, h, w, 3)."""
        branches = [rgb] + [m(rgb, **self.arguments_of(draws, "manipulations", i)) for i, m in enumerate(self.manipulations)]
        return keras.ops.concatenate(branches, axis=0)

    def transmit(self, images, draws: Mapping | None = None, training: bool = False):
        """The distribution channel applied to a batch of photos (`draws`: see `arguments_of`;
        `training` reaches steps that take it, e.g. a learned codec's quantisation surrogate)."""
        for i, layer in enumerate(self.channel):
            images = layer(images, training=training, **self.arguments_of(draws, "channel", i))
        return images

    def labels(self, batch_size: int):
        """Class labels of the stacked branches for `batch_size` photos."""
        return keras.ops.repeat(keras.ops.arange(self.n_classes, dtype="int32"), batch_size)

    def classify(self, rgb, training: bool = False, draws: Mapping | None = None):
        """Class probabilities of every branch of already developed photos (`draws`: see `arguments_of`)."""
        return self.fan(self.transmit(self.manipulate(rgb, draws), draws, training=training), training=training)

    def call(self, raw, training: bool = False):
        rgb = self.develop(raw, training=training)
        return {"rgb": rgb, "probs": self.classify(rgb, training=training)}

    def get_config(self) -> dict:
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "nip": serialize(self.nip),
            "manipulations": [serialize(m) for m in self.manipulations],
            "channel": [serialize(c) for c in self.channel],
            "fan": serialize(self.fan),
            "classes": list(self.classes),
        }

    @classmethod
    def from_config(cls, config: dict) -> "JointModel":
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        for key in ("nip", "fan"):
            config[key] = deserialize(config[key])
        for key in ("manipulations", "channel"):
            config[key] = [deserialize(item) for item in config[key]]
        return cls(**config)

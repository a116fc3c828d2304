"""The training steps: NIP pre-training, and the joint experiment's F and F+N steps.

Every step adds the losses the models added (`model.losses`: `add_loss` calls in the
forward pass and weight regularisers) to the loss it minimises, so a plugin's loss is
never silently ignored. Steps run on a `Runtime`'s replicas and return named scalars for
the loop.

Example:
    >>> step = nip_step(runtime, model, optimizer, "l2", batch_size=20)  # doctest: +SKIP
    >>> step((raw, rgb))["loss"]  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Callable

import keras
import tensorflow as tf

from nipkit.layers.channel_step import channel_rate
from nipkit.options import trains_nip
from nipkit.training.losses import FIDELITY_LOSSES, l2_loss
from nipkit.training.runtime import Runtime

__all__ = ["added_losses", "nip_step", "joint_step"]


def added_losses(model: keras.layers.Layer) -> tf.Tensor:
    """The sum of `model.losses` after its last forward pass, scaled for the replicas (0 if none)."""
    losses = [tf.cast(loss, tf.float32) for loss in model.losses]
    if not losses:
        return tf.constant(0.0)
    return tf.nn.scale_regularization_loss(tf.add_n(losses))


def nip_step(runtime: Runtime, model: keras.Model, optimizer, loss_name: str, batch_size: int) -> Callable:
    """One NIP pre-training update on a fidelity loss (plus the NIP's added losses)."""
    fidelity = FIDELITY_LOSSES[loss_name]

    def replica_step(raw, rgb):
        with tf.GradientTape() as tape:
            per_image = fidelity(rgb, model(raw, training=True))
            loss = tf.nn.compute_average_loss(per_image, global_batch_size=batch_size) + added_losses(model)
            scaled = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return {"loss": loss}

    return runtime.distributed_step(replica_step)


def joint_step(runtime: Runtime, experiment, mode: str) -> Callable:
    """One update of the joint experiment in `mode` ("fan" or "joint").

    The first optimiser ("fan") minimises cross-entropy (+ λ·L2 with `fidelity_weight`)
    plus every added loss over `experiment.ce_variables(mode)`; in F+N without
    `fidelity_weight` the second ("nip") minimises the NIP's L2 fidelity. A batch may
    carry a third element, the step's random draws (see `nipkit.training.draws`).

    Args:
        runtime: where the step runs.
        experiment: a `nipkit.training.Experiment` whose optimisers are built for `mode`.
        mode: "fan" or "joint".
    """
    joint, options, optimizers = experiment.joint, experiment.options, experiment.optimizers
    n_classes, batch, weight = joint.n_classes, options.batch_size, options.fidelity_weight
    ce_vars = experiment.ce_variables(mode)
    nip_vars = experiment.nip.trainable_variables

    def replica_step(raw, rgb, draws=None):
        with tf.GradientTape(persistent=True) as tape:
            developed = tf.cast(joint.develop(experiment.nip_input(raw, rgb), training=trains_nip(mode)), tf.float32)
            probs = tf.cast(joint.classify(developed, training=True, draws=draws), tf.float32)
            labels = joint.labels(tf.shape(developed)[0])
            ce = tf.nn.compute_average_loss(
                keras.losses.sparse_categorical_crossentropy(labels, probs), global_batch_size=n_classes * batch
            )
            fidelity = tf.nn.compute_average_loss(l2_loss(rgb, developed), global_batch_size=batch)
            added = added_losses(joint)
            loss = (ce + weight * fidelity if trains_nip(mode) and weight is not None else ce) + added
            scaled = optimizers["fan"].scale_loss(loss)
            scaled_fidelity = optimizers["nip"].scale_loss(fidelity) if "nip" in optimizers else None
        optimizers["fan"].apply_gradients(zip(tape.gradient(scaled, ce_vars), ce_vars))
        if scaled_fidelity is not None:
            optimizers["nip"].apply_gradients(zip(tape.gradient(scaled_fidelity, nip_vars), nip_vars))
        del tape
        hits = tf.cast(tf.equal(tf.argmax(probs, axis=-1, output_type=tf.int32), labels), tf.float32)
        values = {"loss": ce, "fidelity_loss": fidelity, "added_loss": added,
                  "accuracy": tf.reduce_sum(hits) / (n_classes * batch)}
        rate = channel_rate(joint.channel)
        if rate is not None:  # a step that codes (a learned codec) reports its bits per pixel
            values["bpp"] = tf.cast(rate, tf.float32) / runtime.replicas
        return values

    return runtime.distributed_step(replica_step)

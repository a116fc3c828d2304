"""Where and how training runs: device, `tf.distribute` strategy, mixed precision, XLA.

TensorFlow places work on a GPU whenever one is visible. `distribute: mirrored` copies
the models onto every visible GPU (or every logical CPU device when there is no GPU) with
`tf.distribute.MirroredStrategy` and splits each batch between them. Mixed precision
(float16 compute, float32 weights, dynamic loss scaling) and XLA compilation are GPU-only
options; on a CPU they are switched off with a warning.

Example:
    >>> runtime = select_runtime(distribute="none", mixed_precision=False, xla=False)  # doctest: +SKIP
    >>> with runtime.build_scope():  # doctest: +SKIP
    ...     model = registry.models.build("inet")
    ...     optimizer = runtime.adam(1e-4, clip_norm=1.0)
    >>> step = runtime.distributed_step(replica_step)  # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

import keras
import tensorflow as tf

from nipkit.errors import TrainingError

__all__ = ["Runtime", "select_runtime", "step_decay"]


def step_decay(rate: float, decay: float, every: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """A learning rate that is multiplied by `decay` every `every` steps (`rate` itself when decay is 1).

    The schedule follows the optimiser's step count, so a restored checkpoint resumes it.

    Args:
        rate: the starting learning rate.
        decay: the factor, in (0, 1].
        every: the steps between two decays.

    Example:
        >>> round(float(step_decay(1e-3, 0.5, 100)(250)), 8)
        0.00025
    """
    if decay == 1:
        return rate
    return keras.optimizers.schedules.ExponentialDecay(rate, decay_steps=every, decay_rate=decay, staircase=True)


@dataclass
class Runtime:
    """The chosen strategy and precision settings of one training run.

    Attributes:
        strategy: the `tf.distribute.Strategy` (the default one unless mirrored).
        mixed_precision: whether models are built with the `mixed_float16` policy.
        xla: whether training steps are compiled with XLA.
        device: a short description for messages, e.g. "GPU:0" or "2 × CPU (mirrored)".
    """

    strategy: tf.distribute.Strategy
    mixed_precision: bool
    xla: bool
    device: str

    @property
    def replicas(self) -> int:
        """How many copies of the model train in parallel."""
        return self.strategy.num_replicas_in_sync

    @contextlib.contextmanager
    def build_scope(self) -> Iterator[None]:
        """Build models and optimisers inside this: the strategy's scope and dtype policy."""
        previous = keras.mixed_precision.global_policy()
        if self.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_float16")
        try:
            with self.strategy.scope():
                yield
        finally:
            keras.mixed_precision.set_global_policy(previous)

    def optimizer(self, optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
        """Wraps `optimizer` for dynamic loss scaling under mixed precision."""
        if self.mixed_precision:
            return keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    def adam(self, learning_rate, clip_norm: float | None = None, ema: float | None = None) -> keras.optimizers.Optimizer:
        """An Adam optimiser (rate or schedule), its gradients clipped to a global norm.

        Args:
            learning_rate: a number or a `LearningRateSchedule`.
            clip_norm: the largest global norm of one update's gradients; None clips nothing.
            ema: the momentum of a moving average of the weights it keeps (see
                `nipkit.training.averaged_weights`); None keeps none.
        """
        adam = keras.optimizers.Adam(learning_rate, global_clipnorm=clip_norm, use_ema=ema is not None,
                                     ema_momentum=0.99 if ema is None else ema)
        return self.optimizer(adam)

    def check_batch_size(self, batch_size: int) -> None:
        """Each replica needs the same share of a batch."""
        if batch_size % self.replicas:
            raise TrainingError(
                f"training.batch_size {batch_size} cannot be split evenly between {self.replicas} "
                f"replicas ({self.device}); use a multiple of {self.replicas}"
            )

    def distribute(self, dataset: tf.data.Dataset) -> Iterator:
        """An iterator of the dataset's batches, each split between the replicas."""
        if self.replicas == 1:
            return iter(dataset)
        return iter(self.strategy.experimental_distribute_dataset(dataset))

    def distributed_step(
        self, replica_step: Callable[..., Mapping[str, tf.Tensor]]
    ) -> Callable[..., dict[str, tf.Tensor]]:
        """Compiles `replica_step(*batch)` into a step run on every replica.

        `replica_step` sees one replica's share of the batch and returns scalars that are
        already divided by the global batch size (e.g. `tf.nn.compute_average_loss`), so
        their sum over replicas is the batch mean.
        """
        inner = tf.function(replica_step, jit_compile=self.xla) if self.xla else replica_step
        strategy = self.strategy

        def step(batch):
            values = strategy.run(inner, args=tuple(batch))
            return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in values.items()}

        return tf.function(step)

    def compile(self, function: Callable) -> Callable:
        """`tf.function` with XLA where enabled (for evaluation steps outside `strategy.run`)."""
        return tf.function(function, jit_compile=self.xla or None, reduce_retracing=True)


def _logical(kind: str) -> list[str]:
    return [d.name for d in tf.config.list_logical_devices(kind)]


def select_runtime(distribute: str = "none", mixed_precision: bool = False, xla: bool = False) -> Runtime:
    """Chooses the strategy and precision for this machine.

    Args:
        distribute: "none" (one device: the first GPU when visible, else the CPU),
            "mirrored" (`tf.distribute.MirroredStrategy` over every GPU, or over every
            logical CPU device when no GPU is visible) or "multi_worker"
            (`tf.distribute.MultiWorkerMirroredStrategy` over the cluster in TF_CONFIG).
        mixed_precision: float16 compute on GPU; ignored with a warning on CPU.
        xla: XLA-compile training steps on GPU; ignored with a warning on CPU and when
            the model is mirrored over several devices.
    """
    if distribute == "multi_worker":  # before anything else runs in TensorFlow
        from nipkit.training.multi_worker import start_multi_worker

        strategy = start_multi_worker()
    gpus = _logical("GPU")
    if distribute == "multi_worker":
        cluster = strategy.cluster_resolver.cluster_spec() if strategy.cluster_resolver else None
        workers = sum(cluster.num_tasks(job) for job in cluster.jobs if job in ("chief", "worker")) if cluster else 1
        device = f"{workers} workers × {len(gpus) or 1} {'GPU' if gpus else 'CPU'} (multi-worker)"
    elif distribute == "mirrored":
        devices = gpus or _logical("CPU")
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        kind = "GPU" if gpus else "CPU"
        device = f"{len(devices)} × {kind} (mirrored)"
    elif distribute == "none":
        strategy = tf.distribute.get_strategy()
        device = "GPU:0" if gpus else "CPU"
    else:
        raise TrainingError(f"training.distribute must be none, mirrored or multi_worker, got {distribute!r}")
    if mixed_precision and not gpus:
        warnings.warn("training.mixed_precision needs a GPU; training in float32 on the CPU")
        mixed_precision = False
    if xla and not gpus:
        warnings.warn("training.xla needs a GPU; training without XLA on the CPU")
        xla = False
    if xla and strategy.num_replicas_in_sync > 1:
        warnings.warn("training.xla is not used with a mirrored strategy over several devices")
        xla = False
    return Runtime(strategy=strategy, mixed_precision=mixed_precision, xla=xla, device=device)

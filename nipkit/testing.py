"""Checks every nipkit component passes; plugin authors run them on their own.

Example:
    >>> from nipkit.testing import check_component
    >>> from nipkit.layers import Gaussian
    >>> check_component(Gaussian(sigma=1.0), (16, 16, 3))
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

__all__ = ["check_component", "gradients"]

Shape = Sequence[int]


def _as_shapes(input_shape: Shape | Sequence[Shape]) -> tuple[list[tuple[int, ...]], bool]:
    items: list[Any] = list(input_shape)
    if items and isinstance(items[0], (list, tuple)):
        return [tuple(s) for s in items], True
    return [tuple(items)], False


def _random_inputs(shapes: list[tuple[int, ...]], batch: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.0, 1.0, (batch, *s)).astype("float32") for s in shapes]


def _call(component: Any, inputs: list, multi: bool, training: bool = False):
    return component(inputs if multi else inputs[0], training=training)


def _numpy(x: Any) -> list[np.ndarray]:
    """Every output (a tensor, or a list or dict of them) as NumPy arrays."""
    return [np.asarray(keras.ops.convert_to_numpy(t)) for t in keras.tree.flatten(x)]


def _assert_close(a: Any, b: Any, atol: float, what: str) -> None:
    for x, y in zip(_numpy(a), _numpy(b)):
        if x.shape != y.shape:
            raise AssertionError(f"{what}: shapes differ, {x.shape} vs {y.shape}")
        err = float(np.max(np.abs(x - y))) if x.size else 0.0
        if not err <= atol:
            raise AssertionError(f"{what}: outputs differ by {err:.3g} (> {atol})")


def gradients(loss_fn, variables: list) -> list:
    """Gradients of a scalar `loss_fn()` w.r.t. `variables`, on the active Keras backend.

    Args:
        loss_fn: a function of no arguments returning a scalar tensor.
        variables: `keras.Variable`s (tensorflow, torch backends) or, for the input
            gradient, backend tensors that `loss_fn` reads from this list.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            for v in variables:
                tape.watch(v.value if isinstance(v, keras.Variable) else v)
            loss = loss_fn()
        return tape.gradient(loss, [v.value if isinstance(v, keras.Variable) else v for v in variables])
    if backend == "jax":
        import jax

        def pure(values):
            saved = [v.value for v in variables]
            for v, val in zip(variables, values):
                v.assign(val)
            try:
                return loss_fn()
            finally:
                for v, val in zip(variables, saved):
                    v.assign(val)

        # JAX traces through Variable.assign, so the loss is a function of the values.
        return jax.grad(pure)([v.value for v in variables])
    if backend == "torch":
        import torch

        for v in variables:
            (v.value if isinstance(v, keras.Variable) else v).requires_grad_(True)
        loss = loss_fn()
        tensors = [v.value if isinstance(v, keras.Variable) else v for v in variables]
        return list(torch.autograd.grad(loss, tensors, allow_unused=True))
    raise NotImplementedError(f"gradients on the {backend!r} backend")


def _check_gradient(component, inputs, multi, differentiable: bool) -> None:
    weights = list(component.trainable_weights)
    rng = np.random.default_rng(1)
    target = None

    if weights:
        variables = weights
        call_inputs = [keras.ops.convert_to_tensor(x) for x in inputs]
        what = "trainable weights"
    elif differentiable:
        variables = [keras.Variable(x, trainable=True) for x in inputs[:1]]
        call_inputs = None
        what = "the input"
    else:
        return

    def loss_fn():
        nonlocal target
        xs = [variables[0]] + [keras.ops.convert_to_tensor(x) for x in inputs[1:]] if call_inputs is None else call_inputs
        outputs = keras.tree.flatten(_call(component, list(xs), multi, training=True))
        if target is None:
            target = [keras.ops.convert_to_tensor(rng.uniform(0, 1, tuple(o.shape)).astype("float32")) for o in outputs]
        return sum(keras.ops.mean(keras.ops.square(keras.ops.cast(o, "float32") - t)) for o, t in zip(outputs, target))

    grads = gradients(loss_fn, variables)
    values = [np.asarray(keras.ops.convert_to_numpy(g)) for g in grads if g is not None]
    if not values:
        raise AssertionError(f"no gradient reaches {what}")
    if not all(np.all(np.isfinite(v)) for v in values):
        raise AssertionError(f"gradients w.r.t. {what} are not finite")
    if not any(np.any(v != 0) for v in values):
        raise AssertionError(f"gradients w.r.t. {what} are all zero")
    if weights:
        before = [np.array(keras.ops.convert_to_numpy(w)) for w in weights]
        keras.optimizers.SGD(learning_rate=1e-3).apply(grads, weights)
        after = [np.array(keras.ops.convert_to_numpy(w)) for w in weights]
        if not all(np.all(np.isfinite(a)) for a in after):
            raise AssertionError("a training step made the weights non-finite")
        if all(np.array_equal(a, b) for a, b in zip(after, before)):
            raise AssertionError("a training step changed no weight")


def check_component(
    component: keras.layers.Layer,
    input_shape: Shape | Sequence[Shape],
    *,
    inputs: Sequence[np.ndarray] | np.ndarray | None = None,
    batch_size: int = 2,
    differentiable: bool = True,
    stochastic: bool = False,
    atol: float = 1e-5,
    seed: int = 0,
) -> None:
    """Checks a Keras layer or model the way nipkit checks its own components.

    It checks, in order: an eager call and a symbolic (functional) call agree; the
    config is JSON-serialisable and `from_config` rebuilds a component with identical
    outputs; a `.keras` file saved and loaded gives identical outputs; one training step
    has finite gradients that are not all zero (w.r.t. the trainable weights, or w.r.t.
    the input for a component with none and `differentiable=True`). Raises
    `AssertionError` naming the failed check.

    Args:
        component: a layer or model instance (built or not).
        input_shape: the input shape without the batch axis, or a list of them.
        inputs: batches to use instead of uniform random ones in [0, 1].
        batch_size: the batch size of the random inputs.
        differentiable: whether to require a gradient w.r.t. the input when the
            component has no trainable weights.
        stochastic: outputs are random (e.g. a noise layer): compare shapes, not values.
        atol: the largest absolute difference allowed between outputs.
        seed: the seed of the random inputs.
    """
    shapes, multi = _as_shapes(input_shape)
    if inputs is None:
        inputs = _random_inputs(shapes, batch_size, seed)
    elif not multi:
        inputs = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    inputs = list(inputs)
    tol = float("inf") if stochastic else atol

    eager = _call(component, inputs, multi)
    for out in _numpy(eager):
        if not np.all(np.isfinite(out)):
            raise AssertionError("eager call: output is not finite")

    symbolic = [keras.Input(shape=s, batch_size=None) for s in shapes]
    wrapper = keras.Model(symbolic if multi else symbolic[0], _call(component, symbolic, multi))
    _assert_close(wrapper(inputs if multi else inputs[0], training=False), eager, tol, "symbolic vs eager call")

    config = component.get_config()
    json.dumps(keras.saving.serialize_keras_object(component))
    clone = type(component).from_config(config)
    _call(clone, inputs, multi)
    clone.set_weights(component.get_weights())
    _assert_close(_call(clone, inputs, multi), eager, tol, "get_config/from_config round trip")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "component.keras"
        wrapper.save(path)
        loaded = keras.saving.load_model(path)
    _assert_close(loaded(inputs if multi else inputs[0], training=False), eager, tol, ".keras save/load")

    _check_gradient(component, inputs, multi, differentiable)

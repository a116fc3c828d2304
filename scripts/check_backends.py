"""Runs every registered nipkit layer's forward pass and gradient under other Keras backends.

nipkit's layers are written with `keras.ops`, so they should also run under JAX and
PyTorch. For each backend this script starts one Python process with `KERAS_BACKEND` set,
builds every layer in `nipkit.registry.layers` (built-ins and installed plugins) on the
same seeded inputs and weights, and records:

- forward: the call works and its output is finite;
- gradient: the gradient of a squared-error loss (w.r.t. the trainable weights, or the
  input for a layer with none) is finite and not all zero;
- output max|Δ|: the largest output difference from the TensorFlow backend ("random" for
  layers whose output changes from call to call, e.g. noise); a mean difference above
  1e-4 fails;
- gradient rel|Δ|: the largest gradient difference from TensorFlow's, relative to
  TensorFlow's largest gradient; above 1e-3 fails.

A backend whose package is not installed is skipped with a message. Prints one table row
per layer and backend; exits 1 if any layer fails on any backend that ran.

Usage:
    python scripts/check_backends.py [--backends jax torch] [--layers PATTERN] [--json FILE]

JAX is not one of nipkit's dependencies; to run the check, use a throwaway environment
layered over nipkit's (see docs/plugins.md, "Other Keras backends").
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REFERENCE = "tensorflow"
BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
DEFAULT_INPUT = (32, 32, 3)
# Layers checked in more than their default form, or that need another input shape.
VARIANTS: dict[str, list[tuple[dict, tuple[int, ...]]]] = {
    "jpeg": [
        ({}, DEFAULT_INPUT),
        ({"rounding": "sin"}, DEFAULT_INPUT),
        ({"rounding": "harmonic", "subsampling": "4:2:0"}, DEFAULT_INPUT),
    ],
    "depth_to_space": [({}, (16, 16, 12))],
}
# Output differences from TensorFlow above this fail the check. Hard rounding (JPEG) may
# flip a value sitting on a rounding boundary, which moves one 8x8 block by a quantum.
MAX_MEAN_DIFF = 1e-4
# Largest gradient difference from TensorFlow, relative to TensorFlow's largest gradient.
MAX_GRADIENT_DIFF = 1e-3


# -- the child process: one backend ---------------------------------------------------------
def _check_layer(cls, kwargs: dict, shape: tuple[int, ...], seed: int = 0) -> dict:
    import keras

    from nipkit.testing import gradients

    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 1.0, (2, *shape)).astype("float32")
    result: dict = {"forward": False, "gradient": False, "random": False, "error": ""}
    try:
        layer = cls(**kwargs)
        layer(images)  # builds the weights
        # Weights from numpy, so every backend computes with the same numbers.
        layer.set_weights([rng.normal(0, 0.2, w.shape).astype("float32") for w in layer.get_weights()])
        output = np.asarray(keras.ops.convert_to_numpy(layer(images)))
        again = np.asarray(keras.ops.convert_to_numpy(layer(images)))
        if not np.all(np.isfinite(output)):
            raise ValueError("output is not finite")
        result.update(forward=True, output=output.tolist(), random=not np.array_equal(output, again))

        target = keras.ops.convert_to_tensor(rng.uniform(0.0, 1.0, output.shape).astype("float32"))
        if layer.trainable_weights:
            variables = list(layer.trainable_weights)
            loss = lambda: keras.ops.mean(keras.ops.square(layer(images) - target))  # noqa: E731
        else:
            variables = [keras.Variable(images)]
            loss = lambda: keras.ops.mean(keras.ops.square(layer(variables[0]) - target))  # noqa: E731
        grads = [np.asarray(keras.ops.convert_to_numpy(g)) for g in gradients(loss, variables) if g is not None]
        if not grads:
            raise ValueError("no gradient reaches the weights or the input")
        if not all(np.all(np.isfinite(g)) for g in grads):
            raise ValueError("gradient is not finite")
        if not any(np.any(g != 0) for g in grads):
            raise ValueError("gradient is all zero")
        result.update(gradient=True, grads=[g.tolist() for g in grads])
    except Exception as exc:  # report every failure in the table, keep checking the rest
        result["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return result


def run_child(backend: str, pattern: str | None, out: Path) -> None:
    import keras

    from nipkit import registry

    if keras.backend.backend() != backend:
        raise SystemExit(f"KERAS_BACKEND={backend} was asked for, Keras runs {keras.backend.backend()}")
    results = {}
    for name in registry.layers.names(pattern):
        for kwargs, shape in VARIANTS.get(name, [({}, DEFAULT_INPUT)]):
            label = name + (" " + ",".join(f"{k}={v}" for k, v in kwargs.items()) if kwargs else "")
            try:
                cls = registry.layers.get(name)
            except Exception as exc:
                results[label] = {"forward": False, "gradient": False, "random": False, "error": str(exc)[:200]}
                continue
            results[label] = _check_layer(cls, kwargs, shape)
    out.write_text(json.dumps(results))


# -- the parent process: one child per backend, then the table ------------------------------
def run_backend(backend: str, pattern: str | None, tmp: Path) -> dict | None:
    out = tmp / f"{backend}.json"
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, __file__, "--child", backend, "--out", str(out)]
    if pattern:
        cmd += ["--layers", pattern]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        print(f"{backend}: the check process failed ({tail})")
        return None
    return json.loads(out.read_text())


def verdicts(results: dict, reference: dict | None) -> list[dict]:
    rows = []
    for label, r in results.items():
        row = {"layer": label, "forward": r["forward"], "gradient": r["gradient"], "error": r["error"], "diff": "", "grad_diff": ""}
        ref = (reference or {}).get(label)
        if r["forward"] and ref and ref["forward"] and reference is not results:
            if r["random"] or ref["random"]:
                row["diff"] = "random"
            else:
                a, b = np.asarray(r["output"]), np.asarray(ref["output"])
                diff = np.abs(a - b)
                row["diff"] = f"{diff.max():.2e}"
                if diff.mean() > MAX_MEAN_DIFF:
                    row["error"] = row["error"] or f"output differs from {REFERENCE}: mean |Δ| {diff.mean():.2e}"
                if r["gradient"] and ref["gradient"]:
                    pairs = [(np.asarray(g), np.asarray(h)) for g, h in zip(r["grads"], ref["grads"])]
                    rel = max(np.abs(g - h).max() / max(np.abs(h).max(), 1e-12) for g, h in pairs)
                    row["grad_diff"] = f"{rel:.2e}"
                    if rel > MAX_GRADIENT_DIFF:
                        row["error"] = row["error"] or f"gradient differs from {REFERENCE}: {rel:.2e} of its largest value"
        rows.append(row)
    return rows


def print_table(backend: str, rows: list[dict]) -> None:
    width = max([len(r["layer"]) for r in rows] + [5])
    print(f"\n{backend}")
    print(f"  {'layer':<{width}}  forward  gradient  output max|Δ|  gradient rel|Δ|  error")
    for r in rows:
        ok = lambda v: "ok" if v else "FAIL"  # noqa: E731
        diff, grad_diff = r["diff"] or "-", r["grad_diff"] or "-"
        print(f"  {r['layer']:<{width}}  {ok(r['forward']):<7}  {ok(r['gradient']):<8}  {diff:<13}  {grad_diff:<15}  {r['error']}".rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["jax", "torch"], choices=["jax", "torch"])
    parser.add_argument("--layers", help="only layers whose key matches this wildcard, e.g. 'j*'")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--child", choices=sorted(BACKEND_PACKAGES), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child, args.layers, args.out)
        return 0

    failed, ran, summary = False, [], {}
    with tempfile.TemporaryDirectory() as tmp:
        reference = run_backend(REFERENCE, args.layers, Path(tmp))
        if reference is None:
            return 1
        rows = verdicts(reference, reference)
        print_table(f"{REFERENCE} (the reference)", rows)
        summary[REFERENCE] = rows
        failed = any(not (r["forward"] and r["gradient"]) or r["error"] for r in rows)
        for backend in args.backends:
            if importlib.util.find_spec(BACKEND_PACKAGES[backend]) is None:
                print(f"\n{backend}: skipped, the {BACKEND_PACKAGES[backend]!r} package is not installed in this environment")
                continue
            results = run_backend(backend, args.layers, Path(tmp))
            if results is None:
                failed = True
                continue
            rows = verdicts(results, reference)
            print_table(backend, rows)
            summary[backend] = rows
            ran.append(backend)
            failed |= any(not (r["forward"] and r["gradient"]) or r["error"] for r in rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
    if not ran:
        print("\nno other backend is installed: only the reference was checked")
        return 1 if failed else 0
    print(f"\n{'FAILED' if failed else 'all layers passed'} on: {', '.join(ran)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

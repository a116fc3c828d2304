"""Use nipkit's layers in a Keras model of your own, save it, and load it anywhere.

The model below is plain Keras (not built through nipkit's registry or configs), the
paper's idea in miniature: a learnable pre-filter, then `DifferentiableJPEG` (a JPEG
channel that gradients flow through), then `ConstrainedConv2D` (a residual filter that
suppresses image content and keeps traces) and a small classifier that tells smooth images
from images with a faint sensor-like grain, which JPEG partly removes. Training updates the
pre-filter through the JPEG channel. After a few steps the model is saved as a `.keras`
file together with a batch of inputs and the model's outputs on them.

A second, fresh Python process then loads the file with nothing but

    import nipkit
    model = nipkit.load_model(path)

(nipkit registers its layers, and any plugin's, through its entry points, so the `.keras`
file can be opened without importing `nipkit.layers`) and checks that its outputs are
identical. The script exits with status 1 if they are not.

Usage:
    python examples/reuse_layers.py [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MODEL_FILE = "grain_detector.keras"
INPUTS_FILE = "inputs.npy"
OUTPUTS_FILE = "outputs.npy"


def make_images(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random smooth colour gradients; half of them (label 1) get a faint Gaussian grain."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    rows, cols = ramp[None, :, None, None], ramp[None, None, :, None]
    start = rng.uniform(0.1, 0.5, (count, 1, 1, 3)).astype(np.float32)
    slope_r = rng.uniform(-0.3, 0.3, (count, 1, 1, 3)).astype(np.float32)
    slope_c = rng.uniform(-0.3, 0.3, (count, 1, 1, 3)).astype(np.float32)
    images = start + slope_r * rows + slope_c * cols + 0.2
    labels = np.arange(count) % 2
    grain = rng.normal(0.0, 0.03, images.shape).astype(np.float32)
    images = np.clip(images + labels[:, None, None, None] * grain, 0.0, 1.0)
    return images.astype(np.float32), labels.astype(np.int32)


def build_model(size: int):
    """A small grain detector behind a JPEG channel, as a plain Keras functional model."""
    import keras

    from nipkit.layers import ClipUnit, ConstrainedConv2D, DifferentiableJPEG

    images = keras.Input((size, size, 3), name="images")
    # A residual pre-filter starting as the identity (zero kernel), kept in [0, 1].
    correction = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="pre_filter")(images)
    x = ClipUnit(name="clip")(keras.layers.Add(name="pre_filtered")([images, correction]))
    x = DifferentiableJPEG(quality=75, rounding="sin", name="jpeg_channel")(x)
    x = ConstrainedConv2D(filters=3, kernel_size=5, name="residual_filter")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    probs = keras.layers.Dense(2, activation="softmax", name="probs")(x)
    return keras.Model(images, probs, name="grain_detector")


def train_and_save(out: Path, size: int = 32, steps: int = 12, seed: int = 0) -> None:
    """Trains the model for a few steps, then writes the model, inputs and outputs to `out`."""
    import keras

    keras.utils.set_random_seed(seed)
    images, labels = make_images(64, size, seed)
    model = build_model(size)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(images, labels, batch_size=16, epochs=steps * 16 // len(images), verbose=0)
    print(f"trained {steps} steps: loss {history.history['loss'][0]:.4f} -> {history.history['loss'][-1]:.4f}")
    pre_filter = np.abs(model.get_layer("pre_filter").get_weights()[0]).max()
    if not pre_filter > 0:
        raise SystemExit("no gradient reached the pre-filter through DifferentiableJPEG")
    print(f"pre-filter trained through the JPEG channel: max |kernel| {pre_filter:.2e}")

    test_images, _ = make_images(8, size, seed + 1)
    outputs = keras.ops.convert_to_numpy(model(test_images, training=False))
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / MODEL_FILE)
    np.save(out / INPUTS_FILE, test_images)
    np.save(out / OUTPUTS_FILE, outputs)
    print(f"saved {out / MODEL_FILE}")


def load_and_compare(out: Path) -> int:
    """Runs in the fresh process: `import nipkit` + `nipkit.load_model`; 0 if outputs match."""
    import nipkit

    assert "nipkit.layers.jpeg" not in sys.modules, "the loader must not import nipkit.layers itself"
    model = nipkit.load_model(out / MODEL_FILE)
    outputs = np.asarray(model(np.load(out / INPUTS_FILE), training=False))
    expected = np.load(out / OUTPUTS_FILE)
    if outputs.shape != expected.shape or not np.array_equal(outputs, expected):
        diff = np.max(np.abs(outputs - expected)) if outputs.shape == expected.shape else "shape"
        print(f"MISMATCH: outputs of the loaded model differ from the saved ones (max |diff| {diff})")
        return 1
    print(f"fresh process: loaded {MODEL_FILE} with nipkit.load_model, outputs identical {outputs.shape}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="folder for the .keras file (default: a temporary folder)")
    parser.add_argument("--load", type=Path, help=argparse.SUPPRESS)  # the second process's mode
    args = parser.parse_args(argv)
    if args.load:
        return load_and_compare(args.load)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        train_and_save(out)
        # A new interpreter: nothing from this process (registrations, imports) carries over.
        return subprocess.run([sys.executable, __file__, "--load", str(out)], env=os.environ.copy()).returncode


if __name__ == "__main__":
    sys.exit(main())

"""Realistic run folders for the report tests.

Every number is computed, not typed: a scikit-learn classifier trained step by step on
class-dependent features gives the history, accuracies and confusion matrices; the NIP's
PSNR/SSIM are measured (scikit-image) on a real photo degraded more in joint mode; the
example patches are that photo after scipy/Pillow versions of the manipulations and channel.
"""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from scipy import ndimage
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss

from nipkit.evaluation.summary import PSNR_CAP

CLASSES = ["native", "sharpen", "gaussian", "jpeg", "resample"]
CHANNEL = "downscale 1:2 → jpeg q50"
IMAGES, PATCHES = 6, 4  # validation images, patches per image and class


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """`image` (floats in [0, 1]) through Pillow's libjpeg at `quality`."""
    buffer = io.BytesIO()
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer), dtype=np.float32) / 255


def _resize(image: np.ndarray, factor: float = 0.5) -> np.ndarray:
    return ndimage.zoom(image, (factor, factor, 1), order=1, mode="nearest", grid_mode=True)


def _manipulations(patch: np.ndarray) -> np.ndarray:
    blur = ndimage.gaussian_filter(patch, sigma=(0.83, 0.83, 0))
    resampled = _resize(_resize(patch), 2)
    variants = [patch, patch + 1.5 * (patch - blur), blur, jpeg(patch, 80), resampled]
    return np.clip(np.stack(variants), 0, 1).astype(np.float32)


def _channel(patches: np.ndarray) -> np.ndarray:
    return np.stack([jpeg(np.clip(_resize(p), 0, 1), 50) for p in patches])


def _features(rng: np.random.Generator, separation: float) -> tuple[np.ndarray, np.ndarray]:
    """(images, classes, patches) labels and features whose class means lie `separation` apart."""
    means = rng.normal(size=(len(CLASSES), 8)) * separation
    labels = np.broadcast_to(np.arange(len(CLASSES))[None, :, None], (IMAGES, len(CLASSES), PATCHES))
    return means[labels] + rng.normal(size=labels.shape + (8,)), labels


def _image_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    votes = np.apply_along_axis(lambda p: np.bincount(p, minlength=len(CLASSES)).argmax(), -1, predicted)
    return float(np.mean(votes == labels[..., 0]))


def _psnr(reference: np.ndarray, image: np.ndarray) -> float:
    """scikit-image's PSNR, capped as nipkit caps it (an exact output would be infinite)."""
    if np.array_equal(reference, image):
        return PSNR_CAP
    return min(float(peak_signal_noise_ratio(reference, image, data_range=1)), PSNR_CAP)


def make_run(root: Path, mode: str, repeat: int, steps: int = 8, validate_every: int = 2, nip: str = "inet") -> Path:
    """Writes root/<mode>-r<repeat>/ with config.yaml, history.jsonl, summary.json, examples.npz.

    `nip="onet"` gives the target itself, as nipkit's ONet does: its PSNR sits at the cap.
    """
    start = time.perf_counter()
    seed = 10 * repeat + (mode == "joint")
    rng = np.random.default_rng(seed)
    run = root / f"{mode}-r{repeat}"
    run.mkdir(parents=True)
    separation = 0.6 if mode == "fan" else 1.6  # joint training makes the classes easier to tell apart
    x_train, y_train = _features(rng, separation)
    x_val, y_val = x_train + rng.normal(scale=0.3, size=x_train.shape), y_train
    x_train, y_train = x_train.reshape(-1, 8), y_train.reshape(-1)
    photo = skdata.astronaut()[100:164, 180:244].astype(np.float32) / 255
    exact = nip == "onet"
    before = photo if exact else np.clip(photo + rng.normal(scale=0.006, size=photo.shape), 0, 1)  # the pre-trained NIP's output
    drift = 0.0 if mode == "fan" or exact else 0.015  # only joint training changes the NIP: fidelity for accuracy

    classifier = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=0.01, random_state=seed)
    history = []
    for step in range(1, steps + 1):
        classifier.partial_fit(x_train, y_train, classes=np.arange(len(CLASSES)))
        if step % validate_every == 0:
            developed = before if exact else np.clip(before + rng.normal(scale=drift * step / steps, size=photo.shape), 0, 1)
            probabilities = classifier.predict_proba(x_val.reshape(-1, 8))
            history.append({
                "step": step,
                "loss": log_loss(y_val.reshape(-1), probabilities, labels=np.arange(len(CLASSES))),
                "fidelity_loss": float(np.mean((developed - photo) ** 2)),
                "accuracy": accuracy_score(y_val.reshape(-1), probabilities.argmax(1)),
                "psnr": _psnr(photo, developed),
                "ssim": float(structural_similarity(photo, developed, channel_axis=-1, data_range=1)),
                "learning_rate": 1e-4 * 0.85 ** (step // 4),
                "time": time.perf_counter() - start,
            })

    predicted = classifier.predict(x_val.reshape(-1, 8)).reshape(y_val.shape)
    x_real = x_val + rng.normal(scale=0.5, size=x_val.shape)  # the real channel shifts the features a bit
    predicted_real = classifier.predict(x_real.reshape(-1, 8)).reshape(y_val.shape)
    labels = np.arange(len(CLASSES))
    summary = {
        "mode": mode, "repeat": repeat, "classes": CLASSES,
        "accuracy": accuracy_score(y_val.reshape(-1), predicted.reshape(-1)),
        "accuracy_real": accuracy_score(y_val.reshape(-1), predicted_real.reshape(-1)),
        "confusion": confusion_matrix(y_val.reshape(-1), predicted.reshape(-1), labels=labels).tolist(),
        "confusion_real": confusion_matrix(y_val.reshape(-1), predicted_real.reshape(-1), labels=labels).tolist(),
        "image_accuracy": _image_accuracy(predicted, y_val),
        "image_accuracy_real": _image_accuracy(predicted_real, y_val),
        "nip": {
            "psnr": history[-1]["psnr"], "ssim": history[-1]["ssim"],
            "psnr_initial": _psnr(photo, before),
            "ssim_initial": float(structural_similarity(photo, before, channel_axis=-1, data_range=1)),
        },
        "steps": steps, "seed": seed, "seconds": time.perf_counter() - start,
        "nip_name": nip, "channel": CHANNEL,
        "accuracy_last_mean": float(np.mean([r["accuracy"] for r in history[-5:]])),
    }
    manipulated = _manipulations(photo[:32, :32])
    np.savez(run / "examples.npz", manipulated=manipulated, channel=_channel(manipulated), target=photo[:32, :32])
    (run / "summary.json").write_text(json.dumps(summary, indent=2))
    (run / "history.jsonl").write_text("".join(json.dumps(row) + "\n" for row in history))
    config = {"nip": {"type": nip}, "training": {"mode": mode, "steps": steps, "seed": seed}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return run


def make_experiment(root: Path, repeats: int = 2) -> list[Path]:
    """Both modes × `repeats`, as an experiment writes them."""
    return [make_run(root, mode, r) for mode in ("fan", "joint") for r in range(repeats)]

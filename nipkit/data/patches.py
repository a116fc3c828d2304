"""Training and validation patches of a prepared dataset, as a tf.data pipeline.

A patch is a p×p window of a photo's target, taken together with the (p/2)×(p/2) window
of its RAW stack that covers the same pixels; windows start on even pixels, so the CFA
of every patch is the dataset's. Patches follow the paper's rule against flat content:
a window with pixel variance < 0.01 is rejected, one with variance < 0.02 is kept with
probability 0.5 (variance of the target's values in [0, 1]). After MAX_TRIES rejected
windows the most varied one is taken, so a flat photo cannot stall the pipeline. With
`augment="dihedral"` every training patch is also flipped and turned by one of the 8
transforms of the square, drawn per patch, the RAW window shifted by a pixel where needed
so that it keeps the CFA (`nipkit.data.dihedral`).

Batch k of `train_batches` is a pure function of (seed, k): a run resumed with
start_step=k sees exactly the batches an uninterrupted run would. Photos are read
through memory maps and only the windows are normalised; batches are built in parallel
and prefetched.

Example:
    >>> batches = train_batches("demo", patch_size=128, batch_size=20, seed=0)  # doctest: +SKIP
    >>> raw, rgb = next(iter(batches))  # doctest: +SKIP
    >>> raw.shape, rgb.shape  # doctest: +SKIP
    (TensorShape([20, 64, 64, 4]), TensorShape([20, 128, 128, 3]))
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

from nipkit.data.dataset import Dataset, resolve_data
from nipkit.data.dihedral import DIHEDRAL, dihedral_pair
from nipkit.errors import DataError
from nipkit.options import AUGMENTS

__all__ = ["VARIANCE_RULE", "MAX_TRIES", "PatchSampler", "train_batches", "validation_patches"]

VARIANCE_RULE = (0.01, 0.02)  # (always reject below, keep with probability 0.5 below)
MAX_TRIES = 20
_TRAIN_STREAM, _VALIDATION_STREAM = 0, 1


def _as_dataset(dataset: Dataset | str | Path) -> Dataset:
    return dataset if isinstance(dataset, Dataset) else Dataset(resolve_data(dataset))


def _rule(variance_rule: bool | Sequence[float]) -> tuple[float, float] | None:
    if variance_rule is True:
        return VARIANCE_RULE
    if variance_rule is False or variance_rule is None:
        return None
    low, high = (float(v) for v in variance_rule)
    if not 0 <= low <= high:
        raise ValueError(f"variance_rule must be True, False or (low, high) with 0 <= low <= high; got {variance_rule!r}")
    return low, high


class PatchSampler:
    """Draws aligned (raw, rgb) patches from some photos of a dataset, in plain numpy.

    Args:
        dataset: the prepared dataset.
        names: the photos to draw from; those smaller than the patch are left out (with a
            warning).
        patch_size: p, even: rgb patches are p×p, raw patches (p/2)×(p/2).
        variance_rule: True for the paper's rule, False to take every window, or
            (low, high): reject variance < low, keep variance < high with probability 0.5.
        augment: "none", or "dihedral": each patch flipped and turned by a random one of
            the 8 transforms of the square, its CFA kept (photos need 2 px to spare).

    Example:
        >>> sampler = PatchSampler(Dataset.open("demo"), data.train, 128)  # doctest: +SKIP
        >>> raw, rgb = sampler.batch(seed=0, step=0, batch_size=20)  # doctest: +SKIP
    """

    def __init__(
        self, dataset: Dataset, names: Sequence[str], patch_size: int, variance_rule: bool | Sequence[float] = True,
        augment: str = "none",
    ):
        if int(patch_size) != patch_size or patch_size < 2 or patch_size % 2:
            raise ValueError(f"patch_size must be an even integer >= 2; got {patch_size!r}")
        if augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}; got {augment!r}")
        self.dataset = dataset
        self.patch_size = int(patch_size)
        self.rule = _rule(variance_rule)
        self.augment = augment == "dihedral"
        self.margin = 2 if self.augment else 0  # the window may move by a pixel to keep the CFA
        if not names:
            raise DataError(f"{dataset.path}: no photos to draw patches from")
        self.names = [n for n in names if min(dataset.shape(n)) >= patch_size + self.margin]
        left_out = len(names) - len(self.names)
        largest = (max(min(dataset.shape(n)) for n in names) - self.margin) // 2 * 2
        if not self.names:
            raise DataError(
                f"{dataset.path}: patch size {patch_size} is larger than every photo; at most {largest} is possible"
            )
        if left_out:
            warnings.warn(f"{dataset.path}: {left_out} photos smaller than {patch_size} px give no patches", stacklevel=2)

    def _draw(self, name: str, rng: np.random.Generator) -> tuple[int, int, np.ndarray]:
        """(top, left, rgb window) of one accepted window: p², or (p + margin)² where the
        variance rule reads its top-left p²."""
        height, width = self.dataset.shape(name)
        p, size = self.patch_size, self.patch_size + self.margin
        best = None
        for _ in range(MAX_TRIES):
            top = 2 * int(rng.integers(0, (height - size) // 2 + 1))
            left = 2 * int(rng.integers(0, (width - size) // 2 + 1))
            rgb = self.dataset.target(name, (top, left, size, size))
            if self.rule is None:
                return top, left, rgb
            variance = float(rgb[:p, :p].var())
            if best is None or variance > best[0]:
                best = (variance, top, left, rgb)
            low, high = self.rule
            if variance >= high or (variance >= low and rng.random() < 0.5):
                return top, left, rgb
        assert best is not None  # at least one window was drawn
        return best[1], best[2], best[3]

    def _fill(self, name: str, rng: np.random.Generator, raw: np.ndarray, rgb: np.ndarray) -> None:
        """Draws one accepted window of `name` into the rows `raw` and `rgb`."""
        top, left, window = self._draw(name, rng)
        if not self.augment:
            rgb[...] = window
            raw[...] = self.dataset.bayer(name, (top, left, self.patch_size, self.patch_size))
            return
        k, size = int(rng.integers(DIHEDRAL)), self.patch_size + self.margin
        raw[...], rgb[...] = dihedral_pair(self.dataset.bayer(name, (top, left, size, size)), window, self.dataset.cfa, k)

    def _empty(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        p = self.patch_size
        return np.empty((count, p // 2, p // 2, 4), np.float32), np.empty((count, p, p, 3), np.float32)

    def patches(self, name: str, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """`count` patches of one photo: raw float32 (count, p/2, p/2, 4), rgb (count, p, p, 3)."""
        raw, rgb = self._empty(count)
        for i in range(count):
            self._fill(name, rng, raw[i], rgb[i])
        return raw, rgb

    def batch_images(self, rng: np.random.Generator, batch_size: int, per_image: int) -> list[int]:
        """Indices into `names` of the photos of one batch: a fresh permutation, repeated
        when the batch needs more photos than there are."""
        slots = -(-batch_size // per_image)
        order: list[int] = []
        while len(order) < slots:
            order += rng.permutation(len(self.names)).tolist()
        return order[:slots]

    def batch(self, seed: int, step: int, batch_size: int, per_image: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Training batch `step`, a pure function of (seed, step).

        Args:
            seed: the run's seed.
            step: the batch number.
            batch_size: patches in the batch.
            per_image: patches taken from each photo.
        """
        rng = np.random.default_rng([seed, _TRAIN_STREAM, step])
        images = self.batch_images(rng, batch_size, per_image)
        raw, rgb = self._empty(batch_size)
        for i in range(batch_size):
            self._fill(self.names[images[i // per_image]], rng, raw[i], rgb[i])
        return raw, rgb


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        if int(value) != value or value < (0 if name in ("seed", "start_step") else 1):
            raise ValueError(f"{name} must be an integer >= {0 if name in ('seed', 'start_step') else 1}; got {value!r}")


def train_batches(
    dataset: Dataset | str | Path,
    patch_size: int,
    batch_size: int,
    seed: int,
    start_step: int = 0,
    per_image: int = 1,
    variance_rule: bool | Sequence[float] = True,
    images: Sequence[str] | None = None,
    augment: str = "none",
) -> tf.data.Dataset:
    """Endless training batches of aligned random patches of the training photos.

    Args:
        dataset: a Dataset, or a data spec (`demo`, `demo:<camera>`, a folder).
        patch_size: p, even: rgb patches are p×p, raw patches (p/2)×(p/2).
        batch_size: patches per batch.
        seed: the run's seed.
        start_step: the first batch's number (resuming at step k gives batch k first).
        per_image: patches taken from each photo of a batch (default one per photo).
        variance_rule: True (the paper's rule), False, or (low, high); see PatchSampler.
        images: the photos to draw from (e.g. `Dataset.select_train(...)`); None: every
            training photo.
        augment: "none" or "dihedral" (see PatchSampler).

    Returns:
        A tf.data.Dataset of (raw float32 (B, p/2, p/2, 4), rgb float32 (B, p, p, 3)).
    """
    _check_counts(batch_size=batch_size, per_image=per_image, seed=seed, start_step=start_step)
    data = _as_dataset(dataset)
    sampler = PatchSampler(data, data.train if images is None else images, patch_size, variance_rule, augment)
    half = sampler.patch_size // 2

    def make(step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return sampler.batch(seed, int(step), batch_size, per_image)

    def load(step: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        raw, rgb = tf.numpy_function(make, [step], (tf.float32, tf.float32), stateful=False)
        raw.set_shape((batch_size, half, half, 4))
        rgb.set_shape((batch_size, sampler.patch_size, sampler.patch_size, 3))
        return raw, rgb

    steps = tf.data.Dataset.counter(start=int(start_step))
    batches = steps.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return batches.prefetch(tf.data.AUTOTUNE)


def validation_patches(
    dataset: Dataset | str | Path,
    patch_size: int,
    per_image: int,
    seed: int,
    variance_rule: bool | Sequence[float] = True,
) -> dict[str, np.ndarray]:
    """A fixed, seeded set of aligned patches of the validation photos.

    Args:
        dataset: a Dataset, or a data spec.
        patch_size: p, even.
        per_image: patches per validation photo.
        seed: the seed; the same seed gives the same patches.
        variance_rule: True (the paper's rule), False, or (low, high); see PatchSampler.

    Returns:
        {"raw": float32 (N, p/2, p/2, 4), "rgb": float32 (N, p, p, 3), "image": int32 (N,)
        index into `dataset.validation` of each patch's photo}.
    """
    _check_counts(per_image=per_image, seed=seed)
    data = _as_dataset(dataset)
    if not data.validation:
        raise DataError(f"{data.path}: no validation photos (prepare it with a validation share, e.g. --split 120:30)")
    sampler = PatchSampler(data, data.validation, patch_size, variance_rule)
    raws, rgbs, images = [], [], []
    for index, name in enumerate(data.validation):
        if name not in sampler.names:
            continue
        raw, rgb = sampler.patches(name, per_image, np.random.default_rng([seed, _VALIDATION_STREAM, index]))
        raws.append(raw)
        rgbs.append(rgb)
        images.append(np.full(per_image, index, dtype=np.int32))
    return {"raw": np.concatenate(raws), "rgb": np.concatenate(rgbs), "image": np.concatenate(images)}

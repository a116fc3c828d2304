"""Manipulation-detection scores: patch accuracy, confusion matrices, image-level votes."""
from __future__ import annotations

import numpy as np

__all__ = ["confusion_matrix", "accuracy", "image_level_accuracy"]


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts with rows = true class and columns = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, int), np.asarray(predictions, int)), 1)
    return matrix


def accuracy(confusion: np.ndarray) -> float:
    """The share of the diagonal."""
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else float("nan")


def image_level_accuracy(probs: np.ndarray, labels: np.ndarray, images: np.ndarray) -> float:
    """Accuracy of decisions pooled over all patches of one image and one class.

    For every (image, true class) pair the class probabilities of its patches are
    averaged and the largest one is the decision.

    Args:
        probs: (N, C) class probabilities of N patches.
        labels: (N,) true classes.
        images: (N,) index of the source image of each patch.
    """
    probs, labels, images = np.asarray(probs), np.asarray(labels), np.asarray(images)
    keys = images.astype(np.int64) * probs.shape[1] + labels
    groups, inverse = np.unique(keys, return_inverse=True)
    pooled = np.zeros((len(groups), probs.shape[1]))
    np.add.at(pooled, inverse, probs)
    truth = groups % probs.shape[1]
    return float(np.mean(pooled.argmax(axis=1) == truth))

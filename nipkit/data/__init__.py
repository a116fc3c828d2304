"""nipkit's RAW data layer: reading RAW photos, preparing datasets, the demo camera, patches.

Importing `nipkit.data` does not import TensorFlow; `train_batches` and
`validation_patches` (tf.data, in `nipkit.data.patches`) are imported on first access.

Example:
    >>> from nipkit.data import Dataset, read_raw, resolve_data
    >>> raw = read_raw("DSC_0001.NEF")  # doctest: +SKIP
    >>> data = Dataset(resolve_data("demo"))  # doctest: +SKIP
"""
from __future__ import annotations

from nipkit.data.dataset import Dataset, resolve_data
from nipkit.data.develop import TargetSpec
from nipkit.data.prepare import prepare_folder
from nipkit.cfa import CFA_PATTERNS
from nipkit.data.raw import RAW_EXTENSIONS, RawImage, read_raw

__all__ = [
    "CFA_PATTERNS",
    "RAW_EXTENSIONS",
    "RawImage",
    "read_raw",
    "TargetSpec",
    "prepare_folder",
    "Dataset",
    "resolve_data",
    "train_batches",
    "validation_patches",
]

_PATCHES = ("train_batches", "validation_patches")


def __getattr__(name: str):
    if name in _PATCHES:
        from nipkit.data import patches

        return getattr(patches, name)
    raise AttributeError(f"module 'nipkit.data' has no attribute {name!r}")

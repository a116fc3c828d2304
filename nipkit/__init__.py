"""nipkit: Keras 3 components for neural imaging pipelines optimised for photo provenance.

Importing `nipkit` stays light (no TensorFlow). Components are imported from
`nipkit.layers` and `nipkit.models`, or built by name through `nipkit.registry`.
"""
from __future__ import annotations

from nipkit._version import __version__

__all__ = ["__version__", "load_model", "register_all"]


def register_all() -> None:
    """Imports every registered component, so Keras can deserialise any of them."""
    from nipkit import registry

    for reg in (registry.layers, registry.models):
        reg.load_all()


def load_model(path, **kwargs):
    """Loads a `.keras` file that may contain nipkit (or plugin) components.

    Args:
        path: the `.keras` file.
        **kwargs: passed to `keras.saving.load_model`.

    Raises:
        DataError: a `.keras` path that is not a zip archive.

    Example:
        >>> model = nipkit.load_model("runs/quickstart/fan/fan.keras")  # doctest: +SKIP
    """
    import zipfile
    from pathlib import Path

    import keras

    from nipkit.errors import DataError

    path = Path(path)
    if path.suffix == ".keras" and path.is_file() and not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a .keras file (a .keras file is a zip archive; this one is not)")
    register_all()
    return keras.saving.load_model(path, **kwargs)

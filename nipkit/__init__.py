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

    Example:
        >>> model = nipkit.load_model("runs/quickstart/fan/fan.keras")  # doctest: +SKIP
    """
    import keras

    register_all()
    return keras.saving.load_model(path, **kwargs)

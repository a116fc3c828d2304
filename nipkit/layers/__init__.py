"""nipkit's Keras layers, one per module, imported on first access.

The exported names are those nipkit's `setup.py` registers (see `nipkit.registry`).

Example:
    >>> from nipkit.layers import DifferentiableJPEG, ConstrainedConv2D
    >>> DifferentiableJPEG.__module__
    'nipkit.layers.jpeg'
"""
from __future__ import annotations

from nipkit._lazy import lazy_exports
from nipkit.registry import builtin_exports

_MODULES = builtin_exports(__name__)

__all__ = sorted(_MODULES)

__getattr__, __dir__ = lazy_exports(__name__, _MODULES)

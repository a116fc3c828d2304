"""nipkit's Keras layers, one per module, imported on first access.

Example:
    >>> from nipkit.layers import DifferentiableJPEG, ConstrainedConv2D  # doctest: +SKIP
"""
from __future__ import annotations

from nipkit._lazy import lazy_exports

_MODULES = {
    "AWGN": "awgn",
    "ClipUnit": "clip_unit",
    "ConstrainedConv2D": "constrained_conv2d",
    "DepthToSpace": "depth_to_space",
    "DifferentiableJPEG": "jpeg",
    "Downscale": "downscale",
    "Gamma": "gamma",
    "Gaussian": "gaussian",
    "Median": "median",
    "Resample": "resample",
    "Sharpen": "sharpen",
}

__all__ = sorted(_MODULES)

__getattr__, __dir__ = lazy_exports(__name__, _MODULES)

"""nipkit-contrast: a nipkit plugin adding the `contrast` manipulation layer.

Installing this distribution registers `contrast` in nipkit's `nipkit.layers` entry-point
group, so experiment YAML files can name it like a built-in manipulation.

Example:
    >>> from nipkit import registry
    >>> layer = registry.layers.build({"contrast": {"contrast": 1.5}})  # doctest: +SKIP
"""
from nipkit_contrast.contrast import Contrast

__all__ = ["Contrast"]

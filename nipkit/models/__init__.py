"""nipkit's models: the neural imaging pipelines (NIPs) and the forensic analysis network.

NIPs take RAW stacks (batch, h/2, w/2, 4) in the order R, Gr, Gb, B and return RGB
(batch, h, w, 3) in [0, 1]; each has `input_multiple`, the multiple the stack's sides must
be. `ONet` passes RGB through; `FAN` classifies manipulations. Classes are imported on
first access, so importing the package does not start TensorFlow.

Example:
    >>> from nipkit.models import INet, FAN
    >>> INet.input_multiple
    1
"""
from __future__ import annotations

from nipkit._lazy import lazy_exports
from nipkit.registry import builtin_exports

# The registered models (from nipkit's `setup.py`), and the assembly they are trained in.
_MODULES = {**builtin_exports(__name__), "JointModel": "joint"}

__all__ = sorted(_MODULES)

__getattr__, __dir__ = lazy_exports(__name__, _MODULES)

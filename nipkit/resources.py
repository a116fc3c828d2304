"""Will a run fit in this machine's memory? An estimate from its sizes, checked before it starts.

The estimate is a lower bound: the float32 tensors a training step and the fixed
validation sets must hold at once, times a small factor for activations and gradients.
A run whose lower bound exceeds the machine's physical memory cannot fit, so it is
refused with one line naming the option that makes it large, instead of exhausting
memory (and swapping or hanging) half-way through.

Example:
    >>> physical_memory() > 0
    True
"""
from __future__ import annotations

import os

from nipkit.config import Config
from nipkit.options import CommonOptions, JointTrainingOptions, NipTrainingOptions

__all__ = ["physical_memory", "estimate_memory", "check_memory"]

FLOAT = 4  # bytes
# Activations and gradients held per input value by the smallest models nipkit trains.
ACTIVATION_FACTOR = 8
GIB = 1024**3


def physical_memory() -> int:
    """Bytes of physical memory of this machine (0 when it cannot be read)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return 0


def estimate_memory(options: CommonOptions, n_classes: int = 1) -> dict[str, int]:
    """A lower bound of the bytes a run needs, per option that sizes it.

    Args:
        options: the run's training options.
        n_classes: the experiment's classes (each branch is one more image per patch).

    Returns:
        {"batch_size": bytes of one training step, "validation_patches": bytes of the
        validation set (assuming at least one validation image)}.
    """
    pixels = options.patch_size**2
    per_patch = pixels * (3 + 1) * FLOAT  # RGB target + RAW stack (a quarter of the pixels × 4)
    step = options.batch_size * pixels * 3 * FLOAT * (n_classes + 1) * ACTIVATION_FACTOR
    if isinstance(options, NipTrainingOptions):
        validation = options.validation_patches * options.validation_size**2 * 4 * FLOAT
    elif isinstance(options, JointTrainingOptions):
        validation = (options.validation_patches + options.fidelity_patches) * per_patch
    else:
        validation = 0
    return {"batch_size": step + options.batch_size * per_patch, "validation_patches": validation}


def check_memory(config: Config, options: CommonOptions, n_classes: int = 1, section: str = "training",
                 available: int | None = None) -> None:
    """Refuses a run whose estimated memory exceeds the machine's, naming the key to lower.

    Raises:
        ConfigError: at `SECTION.batch_size`, `.patch_size` or `.validation_patches`.
    """
    available = physical_memory() if available is None else available
    if available <= 0:
        return
    needs = estimate_memory(options, n_classes)
    total = sum(needs.values())
    if total <= available:
        return
    if needs["validation_patches"] > needs["batch_size"]:
        key = "validation_patches"
    else:
        default = type(options)()
        # The size that grew most beyond its default is the one to lower.
        key = max(("batch_size", "patch_size"),
                  key=lambda k: getattr(options, k) ** (2 if k == "patch_size" else 1)
                  / getattr(default, k) ** (2 if k == "patch_size" else 1))
    raise config.error(
        (section, key),
        f"a run of this size needs at least {total / GIB:,.1f} GiB of memory (batch {options.batch_size} × "
        f"{options.patch_size}² patches), more than this machine's {available / GIB:.1f} GiB; lower {key}",
    )

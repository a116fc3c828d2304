"""Figures of developed images, drawn with matplotlib's Agg backend (no display needed).

Example:
    >>> save_comparison("validation/step_000100.png", targets, outputs, title="step 100")  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nipkit.evaluation.metrics import psnr

__all__ = ["save_comparison"]


def save_comparison(
    path: str | Path,
    targets: np.ndarray,
    outputs: np.ndarray,
    *,
    title: str | None = None,
    max_rows: int = 4,
    difference_range: float = 0.1,
    panel_inches: float = 2.5,
) -> Path:
    """Saves a PNG with one row per patch: target | output | absolute difference.

    The difference is |target − output| averaged over the colour channels, drawn with a
    fixed scale from 0 to `difference_range` (so figures of different steps compare).

    Args:
        path: the PNG to write (folders are created).
        targets: (n, h, w, 3) reference images in [0, 1].
        outputs: (n, h, w, 3) developed images in [0, 1].
        title: a line above the figure, e.g. the step and the mean PSNR.
        max_rows: how many patches to show at most (the first ones).
        difference_range: the difference shown as the brightest colour.
        panel_inches: the size of one panel.

    Returns:
        The path written.
    """
    targets = np.clip(np.asarray(targets, dtype=np.float32), 0.0, 1.0)[:max_rows]
    outputs = np.clip(np.asarray(outputs, dtype=np.float32), 0.0, 1.0)[:max_rows]
    if targets.shape != outputs.shape or targets.ndim != 4:
        raise ValueError(f"targets and outputs must be equal (n, h, w, 3) arrays, got {targets.shape} and {outputs.shape}")
    rows = len(targets)
    scores = keras.ops.convert_to_numpy(psnr(targets, outputs))
    figure = Figure(figsize=(3 * panel_inches, rows * panel_inches + (0.4 if title else 0)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 3, squeeze=False)
    for row, (target, output, score) in enumerate(zip(targets, outputs, scores)):
        difference = np.abs(target - output).mean(axis=-1)
        panels = [
            (target, "target", {}),
            (output, f"output ({score:.1f} dB)", {}),
            (difference, f"|difference| (0–{difference_range:g})",
             {"cmap": "magma", "vmin": 0.0, "vmax": difference_range}),
        ]
        for ax, (image, label, style) in zip(axes[row], panels):
            ax.imshow(image, interpolation="nearest", **style)
            ax.set_title(label, fontsize=8)
            ax.set_axis_off()
    if title:
        figure.suptitle(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path

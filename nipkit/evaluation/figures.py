"""Figures of the manipulation-detection experiment (paper Figs. 5-8 and Table 3).

Each function draws its own matplotlib `Figure` on the Agg canvas and writes a PNG, so no
display is needed and pyplot's global state is never touched.

Example:
    >>> plot_confusion([[9, 1], [2, 8]], ["native", "jpeg"], "confusion.png", "F")  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from nipkit.evaluation.summary import RunSummary
from nipkit.options import MODE_LABELS

__all__ = [
    "mode_label", "row_percent", "fidelity_axis",
    "plot_progress", "plot_confusion", "plot_examples", "plot_tradeoff", "plot_rate_accuracy", "plot_tradeoff_points",
]

# the paper's names: F = FAN trained alone on a frozen NIP, F+N = FAN and NIP trained jointly
# (Korus & Memon 2020) F+C = FAN and the channel's codec jointly, F+N+C = all three
MODE_COLOURS = {"fan": "tab:blue", "joint": "tab:red", "codec": "tab:green", "joint_codec": "tab:purple"}
MODE_LEGEND = {"fan": "F: FAN only", "joint": "F+N: joint FAN+NIP", "codec": "F+C: joint FAN+codec",
               "joint_codec": "F+N+C: joint FAN+NIP+codec"}


def mode_label(mode: str) -> str:
    """"fan" -> "F", "joint" -> "F+N"; any other mode is returned unchanged."""
    return MODE_LABELS.get(mode, mode)


def fidelity_axis(subjects: Sequence[str]) -> str:
    """The axis label for the PSNR of `RunSummary.fidelity_of` subjects ("NIP", "codec")."""
    kinds = set(subjects)
    if kinds == {"codec"}:
        return "codec PSNR, validation photos [dB]"
    return "NIP PSNR [dB]" if kinds <= {"NIP"} else "PSNR [dB]: the NIP's, the codec's where the NIP is exact"


def row_percent(confusion: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """A confusion matrix (rows = true class) normalised per row, in percent; empty rows stay 0."""
    counts = np.asarray(confusion, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    return 100 * np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100)
    return path


def _mode_handles(modes: Sequence[str | None]) -> list[Line2D]:
    return [Line2D([], [], color=MODE_COLOURS[m], label=MODE_LEGEND[m]) for m in MODE_COLOURS if m in modes]


def plot_progress(
    history_rows_by_run: Mapping[str, Sequence[Mapping]],
    path: str | Path,
    modes: Mapping[str, str] | None = None,
) -> Path:
    """Validation accuracy and PSNR against the training step, one line per run (paper Fig. 6).

    Args:
        history_rows_by_run: run name -> its history rows (dicts with "step", "accuracy", "psnr").
        path: the PNG to write.
        modes: run name -> "fan" or "joint"; those runs are coloured by mode (F blue,
            F+N red), any other run gets its own colour and legend entry.

    Example:
        >>> plot_progress({"joint-r0": rows}, "progress.png", {"joint-r0": "joint"})  # doctest: +SKIP
    """
    modes = modes or {}
    fig = Figure(figsize=(7, 5.5), layout="constrained")
    acc_ax, psnr_ax = fig.subplots(2, 1, sharex=True)
    handles = _mode_handles([modes.get(run) for run in history_rows_by_run])
    for i, (run, rows) in enumerate(history_rows_by_run.items()):
        mode = modes.get(run)
        colour = MODE_COLOURS.get(mode or "", f"C{i + 2}")
        steps = [row["step"] for row in rows]
        acc_ax.plot(steps, [row["accuracy"] for row in rows], color=colour, alpha=0.8, marker=".")
        psnr_ax.plot(steps, [row["psnr"] for row in rows], color=colour, alpha=0.8, marker=".")
        if mode not in MODE_COLOURS:
            handles.append(Line2D([], [], color=colour, label=run))
    acc_ax.set(ylabel="FAN accuracy", ylim=(0, 1.02), title="Validation during training")
    psnr_ax.set(ylabel="NIP PSNR [dB]", xlabel="training step")
    for ax in (acc_ax, psnr_ax):
        ax.grid(alpha=0.3)
    if handles:
        acc_ax.legend(handles=handles, loc="lower right")
    return _save(fig, path)


def _cell_text(percent: float) -> str:
    # like paper Table 3: entries that round to 0 are left out, those under 3% shown as *
    if percent < 0.5:
        return ""
    return "*" if percent < 3 else f"{percent:.0f}"


def plot_confusion(
    confusion: np.ndarray | Sequence[Sequence[float]], classes: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """A confusion matrix as row-normalised percentages with annotated cells (paper Table 3).

    Args:
        confusion: (C, C) counts (or percentages), rows = true class, columns = predicted.
        classes: the C class names.
        path: the PNG to write.
        title: drawn above the matrix, e.g. "F+N · unet → 91.0%".

    Example:
        >>> plot_confusion([[9, 1], [2, 8]], ["native", "jpeg"], "confusion.png", "F")  # doctest: +SKIP
    """
    percent = row_percent(confusion)
    n = len(classes)
    if percent.shape != (n, n):
        raise ValueError(f"plot_confusion: confusion must be {n}x{n} for {n} classes; got shape {percent.shape}")
    fig = Figure(figsize=(1.0 * n + 2.2, 0.9 * n + 1.6), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    for (i, j), value in np.ndenumerate(percent):
        ax.text(j, i, _cell_text(value), ha="center", va="center", color="white" if value > 60 else "black")
    ax.set_xticks(range(n), classes, rotation=30, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(image, ax=ax, label="% of the true class")
    return _save(fig, path)


def _show(ax, image: np.ndarray) -> None:
    ax.imshow(np.clip(np.asarray(image, dtype=float), 0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_examples(examples: Mapping[str, np.ndarray], classes: Sequence[str], path: str | Path) -> Path:
    """One patch per class after the manipulation (top row) and after the channel (bottom row).

    Like paper Figs. 5 and 8; an optional target (the reference development) gets a last column.

    Args:
        examples: "manipulated" (C, h, w, 3) and "channel" (C, h', w', 3) RGB in [0, 1], and
            optionally "target" (h, w, 3), e.g. a run's loaded examples.npz.
        classes: the C class names, in the order of the arrays.
        path: the PNG to write.

    Example:
        >>> plot_examples(np.load("runs/joint-r0/examples.npz"), classes, "examples.png")  # doctest: +SKIP
    """
    rows = {"after manipulation": examples["manipulated"], "after channel": examples["channel"]}
    for name, images in rows.items():
        if np.ndim(images) != 4 or len(images) != len(classes):
            raise ValueError(
                f"plot_examples: patches {name} must be ({len(classes)}, h, w, 3); got shape {np.shape(images)}"
            )
    target = examples["target"] if "target" in examples else None
    columns = len(classes) + (target is not None)
    fig = Figure(figsize=(1.7 * columns + 0.6, 4), layout="constrained")
    axes = fig.subplots(2, columns, squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c, image in enumerate(images):
            _show(axes[r, c], image)
        axes[r, 0].set_ylabel(name)
    for c, name in enumerate(classes):
        axes[0, c].set_title(name)
    if target is not None:
        _show(axes[0, -1], target)
        axes[0, -1].set_title("target")
        axes[1, -1].set_visible(False)
    return _save(fig, path)


def plot_tradeoff(summaries: Sequence[RunSummary], path: str | Path) -> Path:
    """Accuracy after the channel against the NIP's PSNR, one point per run and channel (Fig. 7, Table 4).

    Colour = mode (F, F+N); marker = channel: o the differentiable model the FAN was trained
    through, x the real channel (e.g. libjpeg). A thin line joins the two points of one run; the dashed line is
    the mean PSNR of the NIP before training. Where the NIP is exact (ONet) and the channel's
    learned codec is recorded, the codec's PSNR on the validation photos is the fidelity
    (`RunSummary.fidelity_of`); there is no line for it.

    Args:
        summaries: run summaries.
        path: the PNG to write.

    Example:
        >>> plot_tradeoff([RunSummary.read(p) for p in paths], "tradeoff.png")  # doctest: +SKIP
    """
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    for s in summaries:
        colour = MODE_COLOURS.get(s.mode, "tab:gray")
        psnr = s.fidelity("psnr")
        ax.plot([psnr, psnr], [s.accuracy, s.accuracy_real], color=colour, lw=0.7, alpha=0.5)
        ax.scatter([psnr], [s.accuracy], marker="o", color=colour)
        ax.scatter([psnr], [s.accuracy_real], marker="x", color=colour)
    handles = _mode_handles([s.mode for s in summaries])
    handles += [
        Line2D([], [], color="0.3", marker="o", ls="", label="differentiable channel"),
        Line2D([], [], color="0.3", marker="x", ls="", label="real channel"),
    ]
    developed = [s for s in summaries if s.fidelity_of == "NIP"]
    if developed:
        initial = float(np.mean([s.nip.psnr_initial for s in developed]))
        ax.axvline(initial, color="0.5", ls="--", lw=0.8)
        handles.append(Line2D([], [], color="0.5", ls="--", lw=0.8, label=f"NIP before: {initial:.1f} dB"))
    ax.set(xlabel=fidelity_axis([s.fidelity_of for s in summaries]), ylabel="accuracy after the channel", ylim=(0, 1.02),
           title="Fidelity-accuracy trade-off")
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, loc="lower left", fontsize="small")
    return _save(fig, path)


def plot_rate_accuracy(summaries: Sequence[RunSummary], path: str | Path) -> Path:
    """Accuracy after the channel against the channel's rate, one point per run and channel
    (Korus & Memon 2020): o the differentiable channel at the codec's estimated bpp, x the
    real channel (the bitstream) at the bpp measured from its bytes. Runs without a coding
    step are left out.
    """
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    coded = [s for s in summaries if s.bpp is not None]
    for s in coded:
        colour = MODE_COLOURS.get(s.mode, "tab:gray")
        estimate, measured = s.metric("bpp_estimate"), s.metric("bpp")
        ax.plot([estimate, measured], [s.accuracy, s.accuracy_real], color=colour, lw=0.7, alpha=0.5)
        ax.scatter([estimate], [s.accuracy], marker="o", color=colour)
        ax.scatter([measured], [s.accuracy_real], marker="x", color=colour)
    handles = _mode_handles([s.mode for s in coded]) + [
        Line2D([], [], color="0.3", marker="o", ls="", label="differentiable channel (estimated bpp)"),
        Line2D([], [], color="0.3", marker="x", ls="", label="real bitstream (bpp from bytes)"),
    ]
    ax.set(xlabel="bits per pixel", ylabel="accuracy after the channel", ylim=(0, 1.02), title="Accuracy against rate")
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, loc="lower right", fontsize="small")
    return _save(fig, path)


def plot_tradeoff_points(points: Sequence, path: str | Path, xlabel: str = "NIP PSNR [dB]") -> Path:
    """Accuracy against NIP PSNR, one point per setting with error bars (± std over its runs).

    Left: through the differentiable channel; right: through the real channel. Colour =
    mode; filled markers and the line join the Pareto front of each panel.

    Args:
        points: `nipkit.evaluation.tradeoff.TradeoffPoint`s.
        path: the PNG to write.
        xlabel: whose PSNR the points hold (see `fidelity_axis`).
    """
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (channel, key) in zip(axes, (("differentiable", "accuracy"), ("real", "accuracy_real"))):
        for p in points:
            colour = MODE_COLOURS.get(p.mode, "tab:gray")
            front = p.on_front[channel]
            ax.errorbar(p.mean["psnr"], p.mean[key], xerr=p.std["psnr"], yerr=p.std[key], fmt="o", color=colour,
                        mfc=colour if front else "white", capsize=3)
            ax.annotate(p.label.split(" · ", 1)[-1], (p.mean["psnr"], p.mean[key]), fontsize="x-small",
                        xytext=(4, 4), textcoords="offset points")
        best = sorted((p for p in points if p.on_front[channel]), key=lambda p: p.mean["psnr"])
        ax.plot([p.mean["psnr"] for p in best], [p.mean[key] for p in best], color="0.3", ls="--", lw=0.8)
        ax.set(xlabel=xlabel, title=f"{channel} channel", ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy after the channel")
    handles = _mode_handles([p.mode for p in points])
    handles.append(Line2D([], [], color="0.3", ls="--", marker="o", label="Pareto front"))
    axes[0].legend(handles=handles, loc="lower left", fontsize="small")
    fig.suptitle("Fidelity-accuracy trade-off per setting (mean ± std over seeds)")
    return _save(fig, path)

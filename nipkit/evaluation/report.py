"""`report.md` and figures that compare finished manipulation-detection runs (paper Tables 3-4, Figs. 5-7).

A run folder holds one mode ("fan" = F, "joint" = F+N, "codec" = F+C or "joint_codec" =
F+N+C) and one repeat: summary.json
(final metrics and confusion matrices, see `RunSummary`), history.jsonl (one JSON object
per validation), examples.npz (patches for the example figure) and config.yaml. Runs are
grouped by (mode, NIP, channel, config digest), so only runs whose configs agree are
summarised together, as mean ± sample standard deviation over repeats. Accuracies are
given through the differentiable channel and through the real channel (each step that
offers a real counterpart, e.g. libjpeg for DifferentiableJPEG, run as it).

Example:
    >>> path, headline = write_report(["runs/paper"])  # doctest: +SKIP
    >>> headline["F+N · unet · downscale 1:2 → jpeg q50"]["accuracy_real"]  # doctest: +SKIP
    0.91
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from nipkit.errors import DataError
from nipkit.evaluation.figures import (
    mode_label, plot_confusion, plot_examples, plot_progress, plot_rate_accuracy, plot_tradeoff, row_percent,
)
from nipkit.evaluation.confidence import wilson_interval
from nipkit.evaluation.summary import LAST_VALIDATIONS, NIP_METRICS, SUMMARY_FILE, RunSummary
from nipkit.evaluation.tradeoff import tradeoff_section
from nipkit.evaluation.verdict import verdict
from nipkit.options import mode_order

__all__ = ["Run", "Group", "find_runs", "load_run", "group_runs", "write_report", "write_run_figures", "run_label"]

HISTORY_KEYS = ("step", "accuracy", "psnr")  # the ones the figures read
# key -> (heading, scale, decimals); PSNR/SSIM keys are the NIP's (summary.nip)
METRICS = {
    "psnr": ("PSNR [dB]", 1, 2),
    "psnr_initial": ("PSNR before training [dB]", 1, 2),
    "ssim": ("SSIM", 1, 4),
    "ssim_initial": ("SSIM before training", 1, 4),
    "accuracy": ("accuracy [%]", 100, 1),
    "accuracy_real": ("accuracy, real channel [%]", 100, 1),
    "image_accuracy": ("image accuracy [%]", 100, 1),
    "image_accuracy_real": ("image accuracy, real channel [%]", 100, 1),
    "accuracy_last_mean": (f"accuracy, mean of the last {LAST_VALIDATIONS} validations [%]", 100, 1),
}
# accuracy key -> (heading, real channel): rows of the 95% Wilson interval of the pooled decisions
INTERVALS = {"accuracy": ("accuracy, 95% CI [%]", False), "accuracy_real": ("accuracy, real channel, 95% CI [%]", True)}


@dataclass
class Run:
    """One finished run: its folder, summary.json and history.jsonl rows."""

    path: Path
    summary: RunSummary
    history: list[dict] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return self.summary.mode

    def metric(self, key: str) -> float:
        return self.summary.metric(key)


@dataclass
class Group:
    """The repeats of one (mode, NIP, channel) combination whose configs agree."""

    mode: str
    nip_name: str
    channel: str
    digest: str | None
    runs: list[Run]
    tag: str = ""  # the digest, shown where two groups would otherwise share a label

    @property
    def label(self) -> str:
        return f"{mode_label(self.mode)} · {self.nip_name} · {self.channel}" + (f" · config {self.tag}" if self.tag else "")

    def values(self, key: str) -> np.ndarray:
        return np.array([run.metric(key) for run in self.runs])

    @property
    def exact_nip(self) -> bool:
        """Whether every run's NIP gave the target itself (ONet), so the NIP's PSNR and SSIM say nothing."""
        return all(run.summary.nip.exact for run in self.runs)

    def mean(self, key: str) -> float:
        return float(self.values(key).mean())

    def interval(self, real: bool = False) -> tuple[float, float]:
        """The 95% Wilson interval of the patch accuracy, all repeats' decisions pooled."""
        counts = [run.summary.counts(real) for run in self.runs]
        return wilson_interval(sum(c for c, _ in counts), sum(t for _, t in counts))


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run folders (folders holding summary.json) at or anywhere below each path, in order.

    Raises:
        DataError: a path does not exist or holds no run.
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise DataError(f"{path}: no such folder (give run folders or folders that contain them)")
        runs = [path] if (path / SUMMARY_FILE).is_file() else sorted(p.parent for p in path.rglob(SUMMARY_FILE))
        if not runs:
            raise DataError(f"{path}: no summary.json found (a finished run folder holds one)")
        found += [run for run in runs if run not in found]
    return found


def _parse_object(text: str, where: str) -> dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(data, dict):
        raise DataError(f"{where}: expected a JSON object")
    return data


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})") from None


def load_run(run_dir: str | Path) -> Run:
    """Reads a run folder's summary.json (checked) and history.jsonl (empty when absent).

    Raises:
        DataError: summary.json is missing, not JSON, lacks a key or its confusion matrices
            do not match its classes; a history line is not a JSON object with step, accuracy, psnr.
    """
    run_dir = Path(run_dir)
    summary_path = run_dir / SUMMARY_FILE
    summary = RunSummary.read(summary_path)
    n = len(summary.classes)
    for key in ("confusion", "confusion_real"):
        shape = np.array(getattr(summary, key), dtype=object).shape  # object dtype: ragged rows give a short shape
        if shape != (n, n):
            raise DataError(f"{summary_path}: {key} must be {n}x{n} for {n} classes; got shape {shape}")
    history_path = run_dir / "history.jsonl"
    history = []
    lines = _read_text(history_path).splitlines() if history_path.is_file() else []
    for i, line in enumerate(lines, 1):
        if line.strip():
            record = _parse_object(line, f"{history_path}:{i}")
            if "event" in record:  # e.g. "resumed with changes", not a validation
                continue
            history.append(record)
            if not all(key in history[-1] for key in HISTORY_KEYS):
                raise DataError(f"{history_path}:{i}: a validation row needs {', '.join(HISTORY_KEYS)}")
    return Run(run_dir, summary, history)


def _load_examples(run: Run) -> dict[str, np.ndarray] | None:
    path = run.path / "examples.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            examples = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    missing = [key for key in ("manipulated", "channel") if key not in examples]
    if missing:
        raise DataError(f"{path}: missing array {', '.join(missing)} (needs manipulated, channel, optional target)")
    return examples


def group_runs(runs: Sequence[Run]) -> list[Group]:
    """Runs grouped by (mode, NIP, channel, config digest), sorted by NIP, channel, then F before F+N."""
    groups: dict[tuple, Group] = {}
    for run in runs:
        s = run.summary
        key = (run.mode, s.nip_name, s.channel, s.config_digest)
        groups.setdefault(key, Group(*key, runs=[])).runs.append(run)
    labels = [(g.mode, g.nip_name, g.channel) for g in groups.values()]
    for group in groups.values():
        group.runs.sort(key=lambda run: run.summary.repeat)
        if labels.count((group.mode, group.nip_name, group.channel)) > 1:
            group.tag = group.digest or "unrecorded"
    return sorted(groups.values(), key=lambda g: (g.nip_name, g.channel, g.tag, mode_order(g.mode)))


def mean_confusion(runs: Sequence[Run], key: str = "confusion") -> np.ndarray:
    """The mean over runs of each run's row-normalised confusion matrix, in percent."""
    classes = runs[0].summary.classes
    for run in runs:
        if run.summary.classes != classes:
            raise DataError(
                f"{run.path / SUMMARY_FILE}: classes {run.summary.classes} differ from "
                f"{classes} in {runs[0].path / SUMMARY_FILE}"
            )
    return np.mean([row_percent(getattr(run.summary, key)) for run in runs], axis=0)


def _mean_std(values: np.ndarray, scale: float, decimals: int) -> str:
    values = np.asarray(values) * scale
    if len(values) == 1:
        return f"{values[0]:.{decimals}f}"
    return f"{values.mean():.{decimals}f} ± {values.std(ddof=1):.{decimals}f}"


def _percent_range(interval: Sequence[float] | None) -> str:
    low, high = interval or (float("nan"), float("nan"))
    return f"{100 * low:.1f} – {100 * high:.1f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    return lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]


def _shown_metrics(*groups: Group) -> dict[str, tuple[str, int, int]]:
    """METRICS, less the NIP's PSNR and SSIM where every group's NIP is exact (they would read 100 dB, 1.0)."""
    exact = all(group.exact_nip for group in groups)
    return {key: value for key, value in METRICS.items() if not (exact and key in NIP_METRICS)}


def _group_table(group: Group) -> list[str]:
    rows = []
    for key, (heading, scale, decimals) in _shown_metrics(group).items():
        values = group.values(key) * scale
        rows.append([heading, _mean_std(group.values(key), scale, decimals),
                     f"{values.min():.{decimals}f}", f"{values.max():.{decimals}f}"])
    for heading, real in INTERVALS.values():
        rows.append([heading, _percent_range(group.interval(real)), "", ""])
    drawn = group.runs[0].summary.random_arguments
    note = ["Random arguments: " + "; ".join(f"`{k}` {v}" for k, v in drawn.items()), ""] if drawn else []
    return [f"### {group.label} (n = {len(group.runs)})", ""] + note + _table(["metric", "mean ± std", "min", "max"], rows)


def _comparison(groups: Sequence[Group]) -> list[str]:
    """F vs F+N (and F+C, F+N+C) tables for every (NIP, channel) that has F and the other mode."""
    by_setup: dict[tuple, dict[str, Group]] = {}
    for group in groups:
        by_setup.setdefault((group.nip_name, group.channel, group.digest), {})[group.mode] = group
    lines = []
    for (nip_name, channel, _), modes in by_setup.items():
        fan = modes.get("fan")
        for mode, joint in modes.items():
            if fan is None or mode == "fan":
                continue
            label = mode_label(mode)
            rows = []
            for key, (heading, scale, decimals) in _shown_metrics(fan, joint).items():
                difference = (joint.mean(key) - fan.mean(key)) * scale
                rows.append([heading, _mean_std(fan.values(key), scale, decimals),
                             _mean_std(joint.values(key), scale, decimals), f"{difference:+.{decimals}f}"])
            for heading, real in INTERVALS.values():
                rows.append([heading, _percent_range(fan.interval(real)), _percent_range(joint.interval(real)), ""])
            tag = f" · config {fan.tag}" if fan.tag else ""
            fan_runs, joint_runs = ([run.summary for run in group.runs] for group in (fan, joint))
            lines += ([f"### F vs {label} · {nip_name} · {channel}{tag}", ""]
                      + _table(["metric", "F", label, f"{label} − F"], rows)
                      + ["", f"**{verdict(fan_runs, joint_runs, label)}** (Newcombe's 95% interval, all repeats' decisions pooled)", ""])
    return lines or ["Needs runs of F and of a joint mode (F+N, F+C or F+N+C) with the same NIP and channel.", ""]


def _rate_section(groups: Sequence[Group], out: Path) -> list[str]:
    """Accuracy against bpp per group whose channel codes (a learned codec); [] if none does."""
    coded = [g for g in groups if all(r.summary.bpp is not None for r in g.runs)]
    if not coded:
        return []
    plot_rate_accuracy([r.summary for g in coded for r in g.runs], out / "rate.png")
    rows = [[g.label, _mean_std(g.values("bpp_estimate"), 1, 3), _mean_std(g.values("bpp"), 1, 3),
             _mean_std(g.values("accuracy"), 100, 1), _mean_std(g.values("accuracy_real"), 100, 1),
             *_codec_cells(g)] for g in coded]
    header = ["group", "bpp (estimate)", "bpp (bitstream)", "accuracy [%]", "real channel [%]",
              "codec bpp, photos", "codec PSNR [dB]", "codec SSIM"]
    return (["## Accuracy against rate (learned codec in the channel)", "",
             "The codec's rate on the validation patches: its estimate through the differentiable channel, and "
             "measured from the bytes of its real bitstream (the real channel). The codec's columns: its "
             "bitstream on the validation photos whole, as `nipkit codec-check` measures it (\"-\" where a run "
             "did not record it).", ""]
            + _table(header, rows) + ["", "![rate](rate.png)", ""])


def _codec_cells(group: Group) -> list[str]:
    """Mean ± std of the codec's bpp, PSNR and SSIM on the validation photos; "-" unless every run has them."""
    points = [run.summary.codec for run in group.runs]
    if any(point is None for point in points):
        return ["-", "-", "-"]
    return [_mean_std(np.array([p[key] for p in points if p is not None]), 1, decimals)
            for key, decimals in (("bpp", 3), ("psnr", 2), ("ssim", 4))]


def _confusion_table(percent: np.ndarray, classes: Sequence[str]) -> list[str]:
    rows = [[name] + [f"{v:.1f}" for v in row] for name, row in zip(classes, percent)]
    return _table(["true \\ predicted", *classes], rows)


def _mode_sections(runs: Sequence[Run], out: Path) -> tuple[list[str], list[str]]:
    """Per mode: the mean confusion matrices (markdown + PNG) and the example patches (PNG)."""
    confusion, examples = [], []
    for mode in sorted({run.mode for run in runs}, key=mode_order):
        mode_runs = sorted((r for r in runs if r.mode == mode), key=lambda r: r.summary.repeat)
        classes = mode_runs[0].summary.classes
        label = mode_label(mode)
        for key, accuracy_key, channel, suffix in (
            ("confusion", "accuracy", "differentiable channel", ""),
            ("confusion_real", "accuracy_real", "real channel", "-real"),
        ):
            percent = mean_confusion(mode_runs, key)
            accuracy = np.mean([r.metric(accuracy_key) for r in mode_runs])
            title = f"{label}, {channel}: {accuracy:.1%} ({len(mode_runs)} runs)"
            name = f"confusion-{mode}{suffix}.png"
            plot_confusion(percent, classes, out / name, title)
            confusion += [f"### {title}", ""] + _confusion_table(percent, classes) + ["", f"![{title}]({name})", ""]
        for run in mode_runs:
            patches = _load_examples(run)
            if patches is not None:
                plot_examples(patches, classes, out / f"examples-{mode}.png")
                examples += [f"### {label} ({run.path.name})", "", f"![examples {label}](examples-{mode}.png)", ""]
                break
    return confusion, examples


def _runs_table(runs: Sequence[Run], out: Path) -> list[str]:
    rows = []
    for run in runs:
        s = run.summary
        link = Path(os.path.relpath(run.path, out)).as_posix()
        rows.append([f"[{run_label(run.path, out)}]({link})", mode_label(run.mode), s.repeat, s.seed, s.steps,
                     f"{s.seconds:.0f}", f"{100 * s.accuracy:.1f}", _percent_range(s.accuracy_interval),
                     f"{100 * s.metric('accuracy_last_mean'):.1f}", f"{100 * s.accuracy_real:.1f}",
                     _percent_range(s.accuracy_real_interval),
                     "-" if s.nip.exact else f"{s.nip.psnr:.2f}", ", ".join(s.counterparts) or "-", s.config_digest or "-"])
    header = ["run", "mode", "repeat", "seed", "steps", "time [s]", "accuracy [%]", "95% CI", f"last {LAST_VALIDATIONS} [%]",
              "real channel [%]", "95% CI", "PSNR [dB]",
              "run as real counterpart", "config"]
    return _table(header, rows)


def write_report(paths: Sequence[str | Path], out: str | Path | None = None) -> tuple[Path, dict[str, dict]]:
    """Writes report.md, progress.png, tradeoff.png, confusion-<mode>.png and examples-<mode>.png.

    Args:
        paths: run folders, or folders searched recursively for them.
        out: the folder to write to; default: the first path's `report/` subfolder.

    Returns:
        The path of report.md, and the headline figures: group label -> {"n": repeats, and
        the mean of each metric: "psnr", "ssim", "accuracy", "accuracy_real", ...} with
        accuracies as fractions.

    Raises:
        DataError: a path holds no run, or a run's files cannot be used.
    """
    runs = [load_run(path) for path in find_runs(paths)]
    out = Path(out) if out is not None else Path(paths[0]) / "report"
    out.mkdir(parents=True, exist_ok=True)
    groups = group_runs(runs)
    runs = [run for group in groups for run in group.runs]

    plot_progress({_run_name(r, runs): r.history for r in runs}, out / "progress.png",
                  {_run_name(r, runs): r.mode for r in runs})
    # the runs with a fidelity to trade: a NIP that develops, or (ONet) the channel's learned codec
    traded = [run for run in runs if run.summary.fidelity_of == "codec" or not run.summary.nip.exact]
    if traded:
        plot_tradeoff([run.summary for run in traded], out / "tradeoff.png")
    confusion, examples = _mode_sections(runs, out)

    lines = [
        "# Manipulation detection report", "",
        f"{len(runs)} runs in {len(groups)} groups. F = FAN trained on a frozen NIP, F+N = FAN and NIP "
        "trained jointly (F+C, F+N+C: the channel's trainable steps, e.g. a learned codec, too). "
        "Values are mean ± sample standard deviation over repeats; accuracies are "
        "measured after the channel, through the differentiable model and through the real channel "
        "(every channel step that offers a real counterpart, e.g. libjpeg, run as it). Only runs whose "
        "configs agree (the same config digest) are grouped together.", "",
        "## Fidelity and accuracy (paper Table 4)", "",
    ]
    for group in groups:
        lines += _group_table(group) + [""]
    lines += ["## F vs joint training", ""] + _comparison(groups)
    lines += ["## Confusion matrices (paper Table 3)", "",
              "Row-normalised [%], rows = true class; the mean over the runs of each mode.", ""] + confusion
    lines += ["## Training progress (paper Fig. 6)", "", "![progress](progress.png)", ""]
    if traded:  # with, over several settings, its table per setting
        lines += ["## Fidelity-accuracy trade-off (paper Fig. 7)", "", "![tradeoff](tradeoff.png)", ""]
        lines += tradeoff_section(traded, out)
    lines += _rate_section(groups, out)
    if examples:
        lines += ["## Example patches (paper Figs. 5 and 8)", ""] + examples
    lines += ["## Runs", ""] + _runs_table(runs, out) + [""]
    report = out / "report.md"
    report.write_text("\n".join(lines))

    headline = {g.label: {"n": len(g.runs), **{key: g.mean(key) for key in METRICS}} for g in groups}
    return report, headline


def run_label(run_dir: Path, out: Path) -> str:
    """A run's name in a report: its path below the report's parent folder (e.g.
    `fidelity_weight=0.1/joint-r0` in a sweep), else its folder name."""
    try:
        return Path(run_dir).absolute().relative_to(Path(out).absolute().parent).as_posix()
    except ValueError:
        return Path(run_dir).name


def _run_name(run: Run, runs: Sequence[Run]) -> str:
    """The folder name, or the full path where two runs share a folder name."""
    same = sum(r.path.name == run.path.name for r in runs)
    return run.path.name if same == 1 else str(run.path)


def write_run_figures(run_dir: str | Path) -> list[Path]:
    """Renders one run's own figures into its folder: progress.png, confusion.png,
    confusion_real.png and, when examples.npz exists, examples.png.

    Args:
        run_dir: a finished run folder (holding summary.json).

    Returns:
        The PNGs written.

    Example:
        >>> write_run_figures("runs/paper/joint-r0")  # doctest: +SKIP
    """
    run = load_run(run_dir)
    s, path = run.summary, run.path
    title = f"{mode_label(run.mode)} · {s.nip_name} · repeat {s.repeat}"
    written = [
        plot_progress({path.name: run.history}, path / "progress.png", {path.name: run.mode}),
        plot_confusion(s.confusion, s.classes, path / "confusion.png", f"{title}: {s.accuracy:.1%}"),
        plot_confusion(s.confusion_real, s.classes, path / "confusion_real.png",
                       f"{title}, real channel: {s.accuracy_real:.1%}"),
    ]
    examples = _load_examples(run)
    if examples is not None:
        written.append(plot_examples(examples, s.classes, path / "examples.png"))
    return written

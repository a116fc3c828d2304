"""What `nipkit evaluate` writes: robustness.json, robustness.md and accuracy plots.

The plots show patch accuracy against the codec quality (one line per codec) and against
the resizing scale (one line per filter), one panel per mode: F beside F+N.

Example:
    >>> write_robustness(results, "runs/quickstart/robustness", notes=[])  # doctest: +SKIP
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from nipkit.evaluation.figures import mode_label
from nipkit.options import mode_order

__all__ = ["RESULTS_FILE", "TABLE_FILE", "write_robustness", "robustness_table"]

RESULTS_FILE, TABLE_FILE = "robustness.json", "robustness.md"


def _run_label(result: dict, results: Sequence[dict]) -> str:
    label = f"{mode_label(result['mode'])} ({Path(result['run']).name})"
    return label if sum(r["mode"] == result["mode"] for r in results) > 1 else mode_label(result["mode"])


def robustness_table(results: Sequence[dict]) -> list[str]:
    """Markdown: one row per channel, one column per run (patch accuracy and its 95% interval)."""
    labels = [_run_label(r, results) for r in results]
    lines = ["| channel | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(results)]
    for i, row in enumerate(results[0]["channels"] if results else []):
        cells = [f"{r['channels'][i]['accuracy']:.3f} ({r['channels'][i]['interval'][0]:.2f}–{r['channels'][i]['interval'][1]:.2f})"
                 for r in results]
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    return lines


def _plot(results: Sequence[dict], key: str, path: Path) -> Path | None:
    """Accuracy against `key` ("quality" or "scale"), one panel per mode; None when no entry has it."""
    modes = sorted({r["mode"] for r in results}, key=mode_order)
    if not any(row[f"{key}_family"] for r in results for row in r["channels"]):
        return None
    figure = Figure(figsize=(5 * len(modes), 4))
    FigureCanvasAgg(figure)
    for n, mode in enumerate(modes):
        axis = figure.add_subplot(1, len(modes), n + 1)
        for result in (r for r in results if r["mode"] == mode):
            lines = defaultdict(list)
            for row in result["channels"]:
                if row[f"{key}_family"]:
                    lines[row[f"{key}_family"]].append((row[key], row["accuracy"]))
            for family, points in lines.items():
                points.sort()
                axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=family)
        axis.set_title(mode_label(mode))
        axis.set_xlabel("quality" if key == "quality" else "scale factor")
        axis.set_ylabel("patch accuracy")
        axis.set_ylim(0, 1)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def write_robustness(results: Sequence[dict], out: str | Path, notes: Sequence[str] = ()) -> Path:
    """Writes robustness.json, robustness.md, accuracy_quality.png and accuracy_scale.png into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS_FILE).write_text(json.dumps({"runs": list(results), "skipped": list(notes)}, indent=1), encoding="utf-8")
    lines = ["# Robustness to real channels", "",
             "Patch accuracy through each channel (every step run as its real counterpart; an entry "
             "without its own resizing keeps the run's down-scaling step), with the 95% Wilson interval.", ""]
    lines += robustness_table(results) + [""]
    lines += [f"- {note}" for note in notes] + ([""] if notes else [])
    for key, name in (("quality", "accuracy_quality.png"), ("scale", "accuracy_scale.png")):
        if _plot(results, key, out / name):
            lines += [f"![accuracy against {key}]({name})", ""]
    table = out / TABLE_FILE
    table.write_text("\n".join(lines), encoding="utf-8")
    return table

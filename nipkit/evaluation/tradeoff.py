"""The fidelity-accuracy trade-off over settings: one point per setting, error bars over seeds.

A setting is a run's stored config less what only tells its repeats apart (`training.seed`,
`training.repeats`, `training.mode`, `output`, `name`, `resources`), per mode. Every run
of a setting (each seed of a sweep, each repeat) is one sample of its point: accuracy
after the channel (differentiable and real) against NIP PSNR and SSIM, as mean ± sample
standard deviation (paper Fig. 7, Table 4); where the NIP is exact (ONet) and the channel holds
a learned codec, against the codec's PSNR and SSIM on the validation photos
(`RunSummary.fidelity_of`), e.g. over a sweep of its `distortion_weight`. A point is on the Pareto front of a channel
when no other point has at least its PSNR and at least its accuracy, and more of one.

Example:
    >>> points = tradeoff_points([load_run(p) for p in find_runs(["runs/lambda-sweep"])])  # doctest: +SKIP
    >>> [(p.label, p.on_front["real"]) for p in points]  # doctest: +SKIP
    [('F+N · fidelity_weight=0.01', True), ('F+N · fidelity_weight=1', True)]
"""
from __future__ import annotations

import copy
import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from nipkit.errors import DataError
from nipkit.evaluation.figures import fidelity_axis, mode_label, plot_tradeoff_points

__all__ = ["TradeoffPoint", "tradeoff_points", "pareto_front", "setting_of", "tradeoff_section", "CHANNELS",
           "POINT_METRICS", "PARETO_FILE"]

PARETO_FILE = "pareto.csv"

# What tells the runs of one setting apart (dotted keys of the stored config).
NOT_A_SETTING = ("training.seed", "training.repeats", "training.mode", "output", "name", "resources")
CHANNELS = {"differentiable": "accuracy", "real": "accuracy_real"}  # channel -> accuracy key
POINT_METRICS = ("psnr", "ssim", "accuracy", "accuracy_real")
FIDELITY = ("psnr", "ssim")  # the NIP's, or the codec's (`RunSummary.fidelity`)


def setting_of(stored: dict) -> dict:
    """A run's stored config less the keys that tell the runs of one setting apart."""
    setting = copy.deepcopy(stored)
    for dotted in NOT_A_SETTING:
        *parents, last = dotted.split(".")
        node: Any = setting
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return setting


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys as `--set` writes them: {"channel[0].learned_codec.distortion_weight": 100, ...}."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(data, list) and data:
        for index, value in enumerate(data):
            out.update(_flat(value, f"{prefix}[{index}]"))
        return out
    return {prefix: data}


def _stored_config(run_dir: Path) -> dict:
    path = run_dir / "config.yaml"
    if not path.is_file():
        return {}
    try:
        stored = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot read the run's config ({exc})") from None
    return stored if isinstance(stored, dict) else {}


@dataclass
class TradeoffPoint:
    """One setting of one mode: its runs' fidelity and accuracy, mean and spread.

    Attributes:
        mode: "fan" or "joint".
        values: the keys that differ between the settings, with this setting's values.
        runs: the runs' folders.
        mean, std: metric -> mean and sample standard deviation (0 for one run).
        on_front: channel ("differentiable", "real") -> whether the point is Pareto-optimal.
        fidelity_of: whose PSNR and SSIM `psnr` and `ssim` are: "NIP" or "codec".
    """

    mode: str
    values: dict[str, Any]
    runs: list[Path]
    mean: dict[str, float]
    std: dict[str, float]
    on_front: dict[str, bool] = field(default_factory=dict)
    fidelity_of: str = "NIP"

    @property
    def label(self) -> str:
        shown = ", ".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in self.values.items())
        return mode_label(self.mode) + (f" · {shown}" if shown else "")


def pareto_front(psnr: Sequence[float], accuracy: Sequence[float]) -> list[bool]:
    """For each point, whether no other point has ≥ PSNR and ≥ accuracy with one of them greater."""
    points = list(zip(psnr, accuracy))
    return [not any(p >= x and a >= y and (p > x or a > y) for p, a in points) for x, y in points]


def tradeoff_points(runs: Sequence[Any]) -> list[TradeoffPoint]:
    """One point per (mode, setting) of `runs` (report `Run`s), with its Pareto flags.

    Returns:
        The points sorted by mode, then PSNR (highest first).
    """
    groups: dict[tuple[str, str], list] = {}
    settings: dict[tuple[str, str], dict] = {}
    for run in runs:
        setting = setting_of(_stored_config(run.path))
        key = (run.mode, json.dumps(setting, sort_keys=True, default=str))
        groups.setdefault(key, []).append(run)
        settings[key] = _flat(setting)
    all_keys = sorted({k for flat in settings.values() for k in flat})
    differing = [k for k in all_keys if len({json.dumps(f.get(k), default=str) for f in settings.values()}) > 1]
    points = []
    for key, members in groups.items():
        values = np.array([[run.summary.fidelity(m) if m in FIDELITY else run.metric(m) for m in POINT_METRICS]
                           for run in members], dtype=float)
        std = values.std(axis=0, ddof=1) if len(members) > 1 else np.zeros(len(POINT_METRICS))
        points.append(TradeoffPoint(
            mode=key[0], values={k: settings[key].get(k) for k in differing}, runs=[run.path for run in members],
            mean=dict(zip(POINT_METRICS, map(float, values.mean(axis=0)))), std=dict(zip(POINT_METRICS, map(float, std))),
            fidelity_of=members[0].summary.fidelity_of))
    for channel, accuracy in CHANNELS.items():
        flags = pareto_front([p.mean["psnr"] for p in points], [p.mean[accuracy] for p in points])
        for point, flag in zip(points, flags):
            point.on_front[channel] = flag
    return sorted(points, key=lambda p: (p.mode, -p.mean["psnr"]))


def _cell(point: TradeoffPoint, key: str, scale: float, decimals: int) -> str:
    mean, std = point.mean[key] * scale, point.std[key] * scale
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}" if len(point.runs) > 1 else f"{mean:.{decimals}f}"


def _write_csv(points: Sequence[TradeoffPoint], path: Path) -> None:
    keys = list(points[0].values) if points else []
    header = ["mode", *keys, "runs"] + [f"{m}_{s}" for m in POINT_METRICS for s in ("mean", "std")]
    header += [f"front_{channel}" for channel in CHANNELS]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for p in points:
            values = [p.values[k] if isinstance(p.values[k], (str, int, float)) else json.dumps(p.values[k], default=str)
                      for k in keys]
            stats = [f"{getattr(p, s)[m]:.6g}" for m in POINT_METRICS for s in ("mean", "std")]
            writer.writerow([p.mode, *values, len(p.runs), *stats, *(str(p.on_front[c]).lower() for c in CHANNELS)])


def tradeoff_section(runs: Sequence[Any], out: Path) -> list[str]:
    """The report's trade-off over settings: a table with the Pareto front, `pareto.csv` and a figure.

    Nothing (an empty list) when each mode has a single setting: there is no trade-off to show.
    """
    points = tradeoff_points(runs)
    if len(points) <= len({p.mode for p in points}):
        return []
    out = Path(out)
    _write_csv(points, out / PARETO_FILE)
    plot_tradeoff_points(points, out / "tradeoff-settings.png", xlabel=fidelity_axis([p.fidelity_of for p in points]))
    subjects = {p.fidelity_of for p in points}
    whose = f"{subjects.pop()} " if len(subjects) == 1 else ""
    rows = []
    for p in points:
        fronts = [channel for channel in CHANNELS if p.on_front[channel]]
        rows.append(f"| {p.label} | {len(p.runs)} | {_cell(p, 'psnr', 1, 2)} | {_cell(p, 'ssim', 1, 4)} | "
                    f"{_cell(p, 'accuracy', 100, 1)} | {_cell(p, 'accuracy_real', 100, 1)} | {', '.join(fronts) or '-'} |")
    return [
        "### Per setting, over seeds and repeats", "",
        f"{len(points)} settings. Each point is one setting (the runs differ only in seed or repeat): mean ± "
        f"sample standard deviation. \"Pareto front\": no other setting has at least its {whose}PSNR and at least "
        f"its accuracy through that channel, and more of one. Also in [{PARETO_FILE}]({PARETO_FILE}).", "",
        f"| setting | runs | {whose}PSNR [dB] | {whose}SSIM | accuracy [%] | accuracy, real channel [%] | Pareto front |",
        "|---|---:|---:|---:|---:|---:|---|", *rows, "",
        "![trade-off per setting](tradeoff-settings.png)", "",
    ]

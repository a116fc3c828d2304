"""The trade-off over the settings of a sweep: points over seeds, the Pareto front, its table."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import yaml
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from nipkit.evaluation.report import find_runs, load_run, write_report
from nipkit.evaluation.tradeoff import pareto_front, tradeoff_points
from run_folders import jpeg, make_run

LAMBDAS = (0.01, 0.1, 1.0)


def test_pareto_front_keeps_the_points_nothing_beats():
    psnr = [40.0, 38.0, 36.0, 35.0, 38.0]
    accuracy = [0.50, 0.70, 0.90, 0.80, 0.60]
    assert pareto_front(psnr, accuracy) == [True, True, True, False, False]
    assert pareto_front([1.0, 1.0], [0.5, 0.5]) == [True, True]  # equal points do not beat each other


@pytest.fixture(scope="module")
def lambda_sweep(tmp_path_factory):
    """A λ sweep: 3 fidelity weights × 2 seeds of F+N, and 2 seeds of F, as a sweep writes them."""
    root = tmp_path_factory.mktemp("lambda")
    for weight in LAMBDAS:
        for repeat in (0, 1):
            for mode in ("joint",) if weight != LAMBDAS[0] else ("fan", "joint"):
                run = make_run(root / f"fidelity_weight={weight:g},seed={repeat}", mode, repeat)
                config = yaml.safe_load((run / "config.yaml").read_text())
                config["training"].update({"fidelity_weight": weight, "seed": repeat})
                (run / "config.yaml").write_text(yaml.safe_dump(config))
                summary = json.loads((run / "summary.json").read_text())
                summary["nip"]["psnr"] -= 3 * np.log10(weight) if mode == "joint" else 0  # more λ, more fidelity
                (run / "summary.json").write_text(json.dumps(summary))
    return root


def test_one_point_per_setting_with_the_spread_over_seeds(lambda_sweep):
    runs = [load_run(path) for path in find_runs([lambda_sweep])]
    points = tradeoff_points(runs)
    joint = [p for p in points if p.mode == "joint"]
    assert [p.label for p in joint] == [f"F+N · fidelity_weight={w}" for w in (0.01, 0.1, 1.0)]
    assert [p.label for p in points if p.mode == "fan"] == ["F · fidelity_weight=0.01"]
    for point in points:
        assert len(point.runs) == 2
        members = [run for run in runs if run.path in point.runs]
        for key in ("psnr", "ssim", "accuracy", "accuracy_real"):
            values = [run.metric(key) for run in members]
            assert point.mean[key] == pytest.approx(np.mean(values))
            assert point.std[key] == pytest.approx(np.std(values, ddof=1))
    for channel, key in (("differentiable", "accuracy"), ("real", "accuracy_real")):
        for p in points:
            beaten = any(q.mean["psnr"] >= p.mean["psnr"] and q.mean[key] >= p.mean[key]
                         and (q.mean["psnr"] > p.mean["psnr"] or q.mean[key] > p.mean[key]) for q in points)
            assert p.on_front[channel] == (not beaten)


def test_the_report_tables_the_front_and_writes_it_as_csv(lambda_sweep, tmp_path):
    report, _ = write_report([lambda_sweep], tmp_path / "report")
    text = report.read_text()
    assert "### Per setting, over seeds and repeats" in text and "![trade-off per setting](tradeoff-settings.png)" in text
    points = tradeoff_points([load_run(path) for path in find_runs([lambda_sweep])])
    for p in points:
        row = next(line for line in text.splitlines() if line.startswith(f"| {p.label} |"))
        fronts = [c for c in ("differentiable", "real") if p.on_front[c]]
        assert row.endswith(f"| {', '.join(fronts) or '-'} |")
        assert f"{p.mean['psnr']:.2f} ± {p.std['psnr']:.2f}" in row
    with open(tmp_path / "report" / "pareto.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(points)
    assert {(r["mode"], float(r["training.fidelity_weight"])) for r in rows} == {
        ("joint", w) for w in LAMBDAS} | {("fan", LAMBDAS[0])}
    assert (tmp_path / "report" / "tradeoff-settings.png").stat().st_size > 10_000


def test_a_codec_sweep_trades_the_codecs_fidelity(tmp_path):
    """ONet and a learned codec: the points hold the codec's PSNR and SSIM on the validation photos."""
    photo = skdata.astronaut()[:256, :256].astype(np.float32) / 255
    for weight, quality in ((0, 10), (100, 30), (1000, 60)):  # more distortion weight, a better image
        coded = jpeg(photo, quality)  # a codec's decoding of the validation photo
        point = {"bpp": 0.3, "bpp_estimate": 0.3, "psnr": float(peak_signal_noise_ratio(photo, coded, data_range=1)),
                 "ssim": float(structural_similarity(photo, coded, channel_axis=-1, data_range=1))}
        for mode in ("codec",) if weight else ("fan", "codec"):
            run = make_run(tmp_path / "sweep" / f"distortion_weight={weight}", mode, 0, nip="onet")
            config = yaml.safe_load((run / "config.yaml").read_text())
            config["channel"] = [{"learned_codec": {"distortion_weight": weight}}]
            (run / "config.yaml").write_text(yaml.safe_dump(config))
            summary = json.loads((run / "summary.json").read_text())
            (run / "summary.json").write_text(json.dumps({**summary, "codec": point}))
    runs = [load_run(path) for path in find_runs([tmp_path / "sweep"])]
    points = [p for p in tradeoff_points(runs) if p.mode == "codec"]
    assert [p.label for p in points] == [f"F+C · distortion_weight={w}" for w in (1000, 100, 0)]  # by PSNR
    for p in points:
        (run,) = [r for r in runs if r.path in p.runs]
        assert p.fidelity_of == "codec" and run.summary.nip.exact
        assert (p.mean["psnr"], p.mean["ssim"]) == (run.summary.codec["psnr"], run.summary.codec["ssim"])
    assert points[0].mean["psnr"] > points[1].mean["psnr"] > points[2].mean["psnr"] > 20
    text = write_report([tmp_path / "sweep"], tmp_path / "report")[0].read_text()
    assert "| setting | runs | codec PSNR [dB] | codec SSIM |" in text and "at least its codec PSNR" in text
    assert "## Fidelity-accuracy trade-off" in text and (tmp_path / "report" / "tradeoff.png").is_file()
    row = next(line for line in text.splitlines() if line.startswith("| F+C · distortion_weight=1000 |"))
    assert f"| {points[0].mean['psnr']:.2f} | {points[0].mean['ssim']:.4f} |" in row
    with open(tmp_path / "report" / "pareto.csv") as handle:  # the key as `--set` and `--sweep` write it
        assert {(r["mode"], r["channel[0].learned_codec.distortion_weight"]) for r in csv.DictReader(handle)} == {
            ("fan", "0"), ("codec", "0"), ("codec", "100"), ("codec", "1000")}

"""`nipkit report` and nipkit.evaluation.report on computed run folders (2 modes × 2 repeats).

Expected values are computed here from the runs' summary.json files, independently of the
report's own aggregation.
"""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from nipkit.errors import DataError
from nipkit.evaluation.confidence import difference_interval, wilson_interval
from nipkit.evaluation.report import find_runs, load_run, write_report, write_run_figures
from run_folders import CHANNEL, CLASSES, make_experiment, make_run

LABELS = {"fan": "F", "joint": "F+N"}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs") / "exp"
    make_experiment(root)
    return root


@pytest.fixture(scope="module")
def report(experiment, tmp_path_factory):
    path, headline = write_report([experiment], tmp_path_factory.mktemp("out") / "report")
    return path, path.read_text(), headline


def summaries(root, mode: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.glob(f"{mode}-r*/summary.json"))]


def values(runs: list[dict], key: str) -> np.ndarray:
    return np.array([s["nip"][key] if key.startswith(("psnr", "ssim")) else s[key] for s in runs])


def mean_std(x: np.ndarray, decimals: int) -> str:
    return f"{np.mean(x):.{decimals}f} ± {np.std(x, ddof=1):.{decimals}f}"


def section(markdown: str, heading: str) -> str:
    start = markdown.index(f"### {heading}\n")
    end = markdown.find("\n#", start + 4)
    return markdown[start:end if end >= 0 else None]


def row(text: str, first_cell: str) -> list[str]:
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{text}")


def assert_png(path, min_width: int = 300, min_height: int = 200) -> None:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width >= min_width and image.height >= min_height, image.size
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 5, f"{path} looks blank"


@pytest.mark.parametrize("mode", ["fan", "joint"])
def test_group_table_is_mean_and_std_over_repeats(experiment, report, mode):
    runs = summaries(experiment, mode)
    table = section(report[1], f"{LABELS[mode]} · inet · {CHANNEL} (n = 2)")
    for heading, key, scale, decimals in [
        ("PSNR [dB]", "psnr", 1, 2), ("SSIM", "ssim", 1, 4), ("PSNR before training [dB]", "psnr_initial", 1, 2),
        ("accuracy [%]", "accuracy", 100, 1), ("accuracy, real channel [%]", "accuracy_real", 100, 1),
        ("image accuracy [%]", "image_accuracy", 100, 1),
    ]:
        x = values(runs, key) * scale
        assert row(table, heading)[1:] == [mean_std(x, decimals), f"{x.min():.{decimals}f}", f"{x.max():.{decimals}f}"]


def test_f_vs_fn_comparison_and_headline(experiment, report):
    fan, joint = summaries(experiment, "fan"), summaries(experiment, "joint")
    table = section(report[1], f"F vs F+N · inet · {CHANNEL}")
    for heading, key, scale, decimals in [("accuracy [%]", "accuracy", 100, 1), ("PSNR [dB]", "psnr", 1, 2),
                                          ("SSIM", "ssim", 1, 4)]:
        f, fn = values(fan, key) * scale, values(joint, key) * scale
        difference = f"{fn.mean() - f.mean():+.{decimals}f}"
        assert row(table, heading)[1:] == [mean_std(f, decimals), mean_std(fn, decimals), difference]

    f_label, fn_label = f"F · inet · {CHANNEL}", f"F+N · inet · {CHANNEL}"
    headline = report[2]
    assert list(headline) == [f_label, fn_label] and headline[fn_label]["n"] == 2
    assert headline[f_label]["accuracy_real"] == pytest.approx(values(fan, "accuracy_real").mean())
    assert headline[fn_label]["psnr"] == pytest.approx(values(joint, "psnr").mean())


@pytest.mark.parametrize("mode", ["fan", "joint"])
@pytest.mark.parametrize("key, channel", [
    ("confusion", "differentiable channel"), ("confusion_real", "real channel"),
])
def test_confusion_table_is_mean_of_row_percentages(experiment, report, mode, key, channel):
    runs = summaries(experiment, mode)
    percent = np.zeros((len(CLASSES), len(CLASSES)))
    for s in runs:
        for i, counts in enumerate(s[key]):
            percent[i] += [100 * c / sum(counts) / len(runs) for c in counts]
    accuracy = np.mean([s[key.replace("confusion", "accuracy")] for s in runs])
    table = section(report[1], f"{LABELS[mode]}, {channel}: {accuracy:.1%} (2 runs)")
    assert row(table, "true \\ predicted")[1:] == CLASSES
    for name, expected in zip(CLASSES, percent):
        assert row(table, name)[1:] == [f"{v:.1f}" for v in expected]


def test_report_figures_and_links(experiment, report):
    path, markdown, _ = report
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    expected = {"progress.png", "tradeoff.png", "confusion-fan.png", "confusion-joint.png",
                "confusion-fan-real.png", "confusion-joint-real.png", "examples-fan.png", "examples-joint.png"}
    assert set(images) == expected
    for name in images:
        assert_png(path.parent / name)
    links = re.findall(r"\[(\w+-r\d)\]\(([^)]+)\)", markdown)
    assert sorted(name for name, _ in links) == ["fan-r0", "fan-r1", "joint-r0", "joint-r1"]
    for name, link in links:
        assert (path.parent / link).resolve() == (experiment / name).resolve()


def test_write_run_figures(tmp_path):
    run = make_run(tmp_path, "joint", 0)
    written = write_run_figures(run)
    assert sorted(p.name for p in written) == ["confusion.png", "confusion_real.png", "examples.png", "progress.png"]
    for png in written:
        assert png.parent == run
        assert_png(png)
    (run / "examples.npz").unlink()
    assert "examples.png" not in [p.name for p in write_run_figures(run)]


def test_find_runs_searches_folders_and_skips_repeats(tmp_path):
    first = make_run(tmp_path / "a", "fan", 0)
    second = make_run(tmp_path / "b" / "deeper", "joint", 3)
    assert find_runs([tmp_path, first]) == [first, second]
    assert find_runs([second]) == [second]


def test_bad_run_folders_raise_one_line_data_errors(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        find_runs([tmp_path / "missing"])
    with pytest.raises(DataError, match="no summary.json"):
        find_runs([tmp_path])

    run = make_run(tmp_path, "fan", 0)
    summary = json.loads((run / "summary.json").read_text())
    broken = {k: v for k, v in summary.items() if k != "confusion_real"}
    broken["nip"] = {k: v for k, v in summary["nip"].items() if k != "ssim"}
    (run / "summary.json").write_text(json.dumps(broken))
    with pytest.raises(DataError, match=r"summary.json: missing confusion_real, nip.ssim"):
        load_run(run)

    (run / "summary.json").write_text(json.dumps({**summary, "confusion": summary["confusion"][:3]}))
    with pytest.raises(DataError, match=r"confusion must be 5x5 for 5 classes; got shape \(3, 5\)"):
        load_run(run)
    ragged = [row[: 5 - i % 2] for i, row in enumerate(summary["confusion"])]
    (run / "summary.json").write_text(json.dumps({**summary, "confusion": ragged}))
    with pytest.raises(DataError, match=r"confusion must be 5x5 for 5 classes; got shape \(5,\)"):
        load_run(run)

    (run / "summary.json").write_text(json.dumps(summary))
    history = (run / "history.jsonl").read_text()
    (run / "history.jsonl").write_text(history + '{"step": 10, "loss": 0.1}\n')
    with pytest.raises(DataError, match=r"history.jsonl:5: a validation row needs step, accuracy, psnr"):
        load_run(run)
    (run / "history.jsonl").write_text(history)
    with (run / "history.jsonl").open("a") as f:
        f.write('{"step": 10, "accuracy": \n')
    with pytest.raises(DataError, match=r"history.jsonl:5: not valid JSON") as error:
        load_run(run)
    assert "\n" not in str(error.value)


def test_cli_report_writes_into_first_run_dir(nipkit_cli, tmp_path):
    make_experiment(tmp_path / "exp")
    result = nipkit_cli("report", tmp_path / "exp")
    assert result.returncode == 0, result.stderr
    report = tmp_path / "exp" / "report" / "report.md"
    assert f"report: {report}" in result.stdout and report.is_file()
    for mode in ("fan", "joint"):
        runs = summaries(tmp_path / "exp", mode)
        label = f"{LABELS[mode]} · inet · {CHANNEL} "
        line = next(line for line in result.stdout.splitlines() if line.strip().startswith(label))
        assert f"{values(runs, 'accuracy').mean():.1%}" in line and f"{values(runs, 'psnr').mean():.2f}" in line


def test_cli_report_out_and_several_folders(nipkit_cli, experiment, tmp_path):
    other = tmp_path / "more"
    shutil.copytree(experiment / "joint-r1", other / "joint-r7")
    json_path = other / "joint-r7" / "summary.json"
    json_path.write_text(json.dumps({**json.loads(json_path.read_text()), "repeat": 7}))
    result = nipkit_cli("report", experiment / "fan-r0", other, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert f"### F · inet · {CHANNEL} (n = 1)" in markdown and f"### F+N · inet · {CHANNEL} (n = 1)" in markdown


@pytest.mark.parametrize("make_folder, message", [(False, "no such folder"), (True, "no summary.json")])
def test_cli_bad_folder_is_one_line_exit_2(nipkit_cli, tmp_path, make_folder, message):
    folder = tmp_path / "runs"
    if make_folder:
        folder.mkdir()
    result = nipkit_cli("report", folder)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(folder) in lines[0] and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def pooled(runs: list[dict], key: str) -> tuple[int, int]:
    matrices = [np.array(s[key]) for s in runs]
    return int(sum(np.trace(m) for m in matrices)), int(sum(m.sum() for m in matrices))


def percent_range(interval) -> str:
    return f"{100 * interval[0]:.1f} – {100 * interval[1]:.1f}"


@pytest.mark.parametrize("mode", ["fan", "joint"])
def test_group_table_has_intervals_and_the_mean_of_the_last_validations(experiment, report, mode):
    runs = summaries(experiment, mode)
    table = section(report[1], f"{LABELS[mode]} · inet · {CHANNEL} (n = 2)")
    assert row(table, "accuracy, 95% CI [%]")[1] == percent_range(wilson_interval(*pooled(runs, "confusion")))
    assert row(table, "accuracy, real channel, 95% CI [%]")[1] == percent_range(
        wilson_interval(*pooled(runs, "confusion_real")))
    last = values(runs, "accuracy_last_mean") * 100
    assert row(table, "accuracy, mean of the last 5 validations [%]")[1] == mean_std(last, 1)


def test_comparison_ends_with_the_verdict(experiment, report):
    fan, joint = summaries(experiment, "fan"), summaries(experiment, "joint")
    table = section(report[1], f"F vs F+N · inet · {CHANNEL}")
    parts = []
    for key in ("confusion", "confusion_real"):
        (cf, tf), (cfn, tfn) = pooled(fan, key), pooled(joint, key)
        low, high = difference_interval(cfn, tfn, cf, tf)
        parts.append(f"{100 * (cfn / tfn - cf / tf):+.1f} points (95% CI {100 * low:+.1f} … {100 * high:+.1f})")
    assert f"**F+N − F = {parts[0]}, real channel {parts[1]}**" in table


def test_f_plus_c_is_compared_with_f_and_has_its_own_verdict(tmp_path):
    root = tmp_path / "exp"
    for mode in ("fan", "codec"):
        make_run(root, mode, 0)
    markdown = write_report([root], tmp_path / "report")[0].read_text()
    fan, codec = summaries(root, "fan"), summaries(root, "codec")
    table = section(markdown, f"F vs F+C · inet · {CHANNEL}")
    f, fc = values(fan, "accuracy") * 100, values(codec, "accuracy") * 100
    assert row(table, "accuracy [%]")[1:] == [f"{f[0]:.1f}", f"{fc[0]:.1f}", f"{fc[0] - f[0]:+.1f}"]
    (cf, tf), (cfc, tfc) = pooled(fan, "confusion"), pooled(codec, "confusion")
    low, high = difference_interval(cfc, tfc, cf, tf)
    assert f"**F+C − F = {100 * (cfc / tfc - cf / tf):+.1f} points (95% CI {100 * low:+.1f} … {100 * high:+.1f})" in table
    assert "F vs F+N" not in markdown


def test_an_exact_nip_has_no_fidelity_rows(tmp_path):
    root = tmp_path / "exp"
    for mode in ("fan", "codec"):
        make_run(root, mode, 0, nip="onet")
    make_run(tmp_path / "inet", "fan", 0)
    markdown = write_report([root, tmp_path / "inet"], tmp_path / "report")[0].read_text()
    assert all(s["nip"]["psnr"] == 100.0 and s["nip"]["ssim"] == 1.0 for s in summaries(root, "codec"))
    for heading in (f"F vs F+C · onet · {CHANNEL}", f"F+C · onet · {CHANNEL} (n = 1)"):
        table = section(markdown, heading)
        assert "accuracy [%]" in table and "PSNR" not in table and "SSIM" not in table, table
    # the NIP that develops keeps its rows beside it
    inet = values(summaries(tmp_path / "inet", "fan"), "psnr")
    assert row(section(markdown, f"F · inet · {CHANNEL} (n = 1)"), "PSNR [dB]")[1] == f"{inet[0]:.2f}"
    runs = section(markdown.replace("## Runs", "### Runs"), "Runs")
    assert "## Fidelity-accuracy trade-off" in markdown  # the INet run's fidelity is traded
    alone = write_report([root], tmp_path / "onet")[0]
    assert "## Fidelity-accuracy trade-off" not in alone.read_text() and not (alone.parent / "tradeoff.png").exists()
    assert row(runs, "[exp/codec-r0](../exp/codec-r0)")[11] == row(runs, "[exp/fan-r0](../exp/fan-r0)")[11] == "-"
    assert row(runs, "[inet/fan-r0](../inet/fan-r0)")[11] == f"{inet[0]:.2f}"


def test_summaries_without_intervals_compute_them_from_the_confusion_matrices(tmp_path):
    run = make_run(tmp_path, "fan", 0)
    summary = json.loads((run / "summary.json").read_text())
    del summary["accuracy_last_mean"]
    (run / "summary.json").write_text(json.dumps(summary))
    loaded = load_run(run).summary
    assert loaded.accuracy_interval == list(wilson_interval(*pooled([summary], "confusion")))
    assert loaded.accuracy_real_interval == list(wilson_interval(*pooled([summary], "confusion_real")))
    assert loaded.accuracy_last_mean is None and np.isnan(loaded.metric("accuracy_last_mean"))
    path, _ = write_report([run], tmp_path / "report")
    assert "accuracy, 95% CI [%]" in path.read_text()


def test_summaries_written_before_the_real_channel_rename_still_load(tmp_path):
    run = make_run(tmp_path, "fan", 0)
    summary = json.loads((run / "summary.json").read_text())
    old = {key.replace("_real", "_libjpeg"): value for key, value in summary.items()}
    assert "accuracy_libjpeg" in old and "accuracy_real" not in old
    (run / "summary.json").write_text(json.dumps(old))
    loaded = load_run(run).summary
    assert loaded.accuracy_real == summary["accuracy_real"] and loaded.confusion_real == summary["confusion_real"]
    assert loaded.config_digest is None and loaded.real_channel == []


def test_report_groups_only_runs_whose_configs_agree(tmp_path):
    """Two repeats of one setup with different config digests are two groups, never one mean."""
    runs = [make_run(tmp_path, "joint", r) for r in range(3)]
    for run, digest in zip(runs, ["aaaa", "aaaa", "bbbb"]):
        summary = json.loads((run / "summary.json").read_text())
        (run / "summary.json").write_text(json.dumps({**summary, "config_digest": digest}))
    path, headline = write_report([tmp_path], tmp_path / "report")
    label = f"F+N · inet · {CHANNEL}"
    assert sorted(headline) == [f"{label} · config aaaa", f"{label} · config bbbb"]
    assert headline[f"{label} · config aaaa"]["n"] == 2 and headline[f"{label} · config bbbb"]["n"] == 1
    assert "| aaaa |" in path.read_text() and "| bbbb |" in path.read_text()

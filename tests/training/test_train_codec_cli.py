"""`nipkit train codec` end to end on the demo camera: a tiny run, its resume, the saved
codec's bitstream, and the bad inputs (β < 0, NaN, a codec file given as a NIP)."""
from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from nip_runs import error_lines, invoke, write_config
from nipkit import registry
from nipkit.codecs.files import load_codec
from nipkit.data import Dataset
from nipkit.evaluation.rate_distortion import codec_point
from nipkit.layers import LearnedCodec

EXAMPLE = Path(__file__).parents[2] / "examples" / "codec" / "tiny.yaml"


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def codec_run(tmp_path_factory, demo_data) -> Path:
    """The tiny example run for 3 steps, then resumed to its 6."""
    run = tmp_path_factory.mktemp("codec") / "tiny"
    code, out, err = invoke("train", "codec", EXAMPLE, "--out", run, "--set", "training.steps=3")
    assert code == 0, err
    assert "bpp measured from the bitstream" in out
    code, out, err = invoke("train", "codec", EXAMPLE, "--out", run, "--resume")
    assert code == 0, err
    assert f"resuming {run} from step 3" in out
    return run


def test_tiny_run_records_rate_and_distortion(codec_run):
    records = history(codec_run)
    assert [r["step"] for r in records] == [0, 3, 6]
    for record in records:
        assert record["bpp"] > 0 and record["bpp_estimate"] > 0 and np.isfinite(record["psnr"])
        beta = 0.01  # examples/codec/tiny.yaml
        assert record["val_loss"] == pytest.approx(record["distortion"] + beta * record["bpp_estimate"])
    for name in ("best.keras", "last.keras", "config.yaml", "checkpoint/state.json"):
        assert (codec_run / name).is_file(), name
    assert any((codec_run / "tensorboard").iterdir())


def test_a_rate_target_raises_the_rate_weight_and_charges_only_the_bits_above_it(tmp_path, demo_data):
    run = tmp_path / "held"
    code, _, err = invoke("train", "codec", EXAMPLE, "--out", run, "--set", "training.steps=3",
                          "--set", "codec.learned_codec.target_bpp=0.05")
    assert code == 0, err
    start, end = history(run)
    assert start["rate_weight"] == pytest.approx(0.01) and end["rate_weight"] > 0.01  # its rate is above 0.05
    assert end["val_loss"] == pytest.approx(end["distortion"] + 0.01 * (end["bpp_estimate"] - 0.05))
    assert load_codec(run / "last.keras").target_bpp == 0.05


def test_saved_codec_writes_the_streams_it_reads(codec_run, demo_data):
    codec = load_codec(codec_run)
    assert isinstance(codec, LearnedCodec) and codec.latent_channels == 16
    data = Dataset(demo_data)
    photo = data.target(data.validation[0], window=(0, 0, 72, 90))[None]
    streams = codec.compress(photo)
    assert float(np.max(np.abs(codec.decompress(streams) - np.asarray(codec(photo))))) <= 1e-6
    assert load_codec(codec_run / "best.keras").compress(photo) == streams


def test_negative_beta_is_one_line_exit_2(tmp_path):
    config = yaml.safe_load(EXAMPLE.read_text())
    config["codec"]["learned_codec"]["beta"] = -0.5
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = invoke("train", "codec", path, "--out", tmp_path / "run")
    assert code == 2
    assert len(error_lines(err)) == 1 and "beta must be a number ≥ 0" in error_lines(err)[0]


def test_diverging_codec_run_stops_with_one_line(tmp_path, demo_data):
    code, _, err = invoke("train", "codec", EXAMPLE, "--out", tmp_path / "run", "--set", "training.learning_rate=1e30",
                          "--set", "training.validate_every=10")
    assert code == 2
    (line,) = error_lines(err)
    assert "training diverged at step" in line and "nan" in line


def test_a_codec_file_given_as_a_nip_is_refused(codec_run, tmp_path, demo_data):
    config = write_config(tmp_path / "inet.yaml", nip={"inet": {"weights": str(codec_run / "best.keras")}}, steps=1)
    code, _, err = invoke("train", "nip", config, "--out", tmp_path / "run")
    assert code == 2
    (line,) = error_lines(err)
    assert "holds a codec (LearnedCodec), not a NIP" in line
    raw = sorted((demo_data.parent / "raw" / demo_data.name).glob("*.dng"))[0]
    code, _, err = invoke("develop", codec_run / "best.keras", raw, "--out", tmp_path / "out")
    assert code == 2 and "holds LearnedCodec, a codec, not a NIP" in error_lines(err)[0]


def test_codec_check_compares_the_codec_with_libjpeg(codec_run, tmp_path, demo_data):
    code, out, err = invoke("codec-check", codec_run, "--crop", "64", "--qualities", "20,50", "--out", tmp_path / "rd")
    assert code == 0, err
    assert "libjpeg 4:4:4 q50" in out and "libjpeg 4:2:0 q20" in out and str(codec_run) in out
    table = json.loads((tmp_path / "rd" / "codec-check.json").read_text())
    assert [row["quality"] for row in table["libjpeg"]["4:2:0"]] == [20, 50]
    q20, q50 = table["libjpeg"]["4:4:4"]
    assert q20["bpp"] < q50["bpp"] and q20["psnr"] < q50["psnr"]
    point = table["codecs"][str(codec_run)]
    assert point["bpp"] > 0 and point["bpp_estimate"] > 0 and 0 < point["ssim"] < 1
    assert (tmp_path / "rd" / "codec-check.png").stat().st_size > 0


def test_codec_check_refuses_what_holds_no_codec(tmp_path, demo_data):
    model = tmp_path / "inet.keras"
    code, _, err = invoke("codec-check", tmp_path, "--out", tmp_path / "rd")
    assert code == 2 and "holds no learned codec" in error_lines(err)[0]
    code, _, err = invoke("codec-check", model, "--out", tmp_path / "rd")
    assert code == 2 and "no such codec file" in error_lines(err)[0]


def joint_config(path: Path, codec: dict, mode) -> Path:
    """A tiny experiment on the demo's RGB targets with a codec as its channel, F and F+C."""
    document = {
        "data": "demo", "nip": "onet", "manipulations": ["sharpen"],
        "channel": [codec],
        "fan": {"type": "fan", "filters": [8, 8, 8, 8], "dense": [16, 8]},
        "training": {"mode": mode, "steps": 4, "batch_size": 2, "patch_size": 48, "validate_every": 2,
                     "validation_patches": 1, "fidelity_patches": 1, "learning_rate": 0.01, "seed": 5},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def codec_weights(path: Path) -> dict[str, np.ndarray]:
    """{variable name: value} of the codec in `path`, without the rate controller's weight."""
    codec = load_codec(path)
    return {v.path.split("/", 1)[-1]: np.asarray(v) for v in codec.weights if v is not codec.rate_weight}


def test_f_and_f_plus_c_train_the_codec_only_in_f_plus_c(codec_run, tmp_path, demo_data):
    pretrained = str(codec_run / "best.keras")
    # target_bpp: the rate weight is a controller, started at beta (the file has none)
    spec = {"learned_codec": {"latent_channels": 16, "filters": 8, "beta": 0.01, "target_bpp": 0.05,
                              "weights": pretrained, "trainable": ["codec"]}}
    code, out, err = invoke("run", joint_config(tmp_path / "fc.yaml", spec, ["fan", "codec"]), "--out", tmp_path / "fc")
    assert code == 0, err
    f, fc = summary(tmp_path / "fc" / "fan-r0"), summary(tmp_path / "fc" / "codec-r0")
    assert (f["mode"], fc["mode"]) == ("fan", "codec")
    for s in (f, fc):
        assert [(step["step"].split("(")[0], step["ran_as"]) for step in s["real_channel"]] == [("LearnedCodec", "reference")]
        assert 0 < s["bpp_estimate"] < s["bpp"] < s["bpp_estimate"] + 0.2  # the stream pays its header on 48² patches
    start = codec_weights(codec_run / "best.keras")
    frozen, trained = (codec_weights(tmp_path / "fc" / run / "channel-0.keras") for run in ("fan-r0", "codec-r0"))
    assert frozen.keys() == trained.keys() == start.keys()
    assert all(np.array_equal(frozen[k], start[k]) for k in start)
    assert not all(np.array_equal(trained[k], start[k]) for k in start)
    history = [json.loads(line) for line in (tmp_path / "fc" / "codec-r0" / "history.jsonl").read_text().splitlines()]
    assert history[-1]["bpp_estimate"] > 0 and history[-1]["train_bpp_estimate"] > 0
    # above the target the F+C controller raised the rate weight; the frozen codec of F kept beta
    assert history[-1]["train_bpp_estimate"] > 0.05 and history[-1]["rate_weight"] > 0.01
    f_history = [json.loads(line) for line in (tmp_path / "fc" / "fan-r0" / "history.jsonl").read_text().splitlines()]
    assert f_history[-1]["rate_weight"] == pytest.approx(0.01, rel=1e-6)
    # the codec's own rate–distortion on the validation photos, as `nipkit codec-check` measures it
    data = Dataset(demo_data)
    photos = [np.asarray(data.target(name), "float32") for name in data.validation]
    for s, path in ((f, codec_run / "best.keras"), (fc, tmp_path / "fc" / "codec-r0" / "channel-0.keras")):
        expected = codec_point(load_codec(path), photos)
        assert s["codec"] == pytest.approx(expected, rel=1e-5)
    assert f"codec {fc['codec']['psnr']:.2f} dB, SSIM {fc['codec']['ssim']:.3f}" in out
    assert "NIP PSNR" not in out  # ONet gives the target itself: no fidelity to print
    report = (tmp_path / "fc" / "report" / "report.md").read_text()
    assert "PSNR before training" not in report and "## Fidelity-accuracy trade-off" in report  # the codec's
    assert "## Accuracy against rate" in report and "| F+C ·" in report and "codec PSNR [dB]" in report
    assert f"| {fc['codec']['psnr']:.2f} | {fc['codec']['ssim']:.4f} |" in report
    assert "### F vs F+C · onet ·" in report and "**F+C − F = " in report
    assert out.splitlines()[-2].startswith("F+C − F = ") and " points (95% CI " in out.splitlines()[-2]
    assert (tmp_path / "fc" / "report" / "rate.png").is_file()


def test_f_plus_n_plus_c_trains_nip_codec_and_fan_together(codec_run, tmp_path, demo_data):
    spec = {"learned_codec": {"latent_channels": 16, "filters": 8, "beta": 0.01, "target_bpp": 0.05,
                              "weights": str(codec_run / "best.keras"), "trainable": ["joint_codec"]}}
    path = joint_config(tmp_path / "fnc.yaml", spec, ["joint_codec"])
    code, out, err = invoke("run", path, "--set", "nip=inet", "--set", "training.learning_rate=1e-4",
                            "--set", "training.nip_learning_rate=1e-4", "--out", tmp_path / "fnc")
    assert code == 0, err
    run = tmp_path / "fnc" / "joint_codec-r0"
    s = summary(run)
    assert f"NIP PSNR {s['nip']['psnr_initial']:.2f} → {s['nip']['psnr']:.2f} dB" in out
    assert s["mode"] == "joint_codec" and s["real_channel"][0]["ran_as"] == "reference" and s["bpp"] > 0
    assert s["nip"]["psnr"] != s["nip"]["psnr_initial"]  # the NIP trained too
    start = codec_weights(codec_run / "best.keras")
    trained = codec_weights(run / "channel-0.keras")
    assert not all(np.array_equal(trained[k], start[k]) for k in start)
    assert history(run)[-1]["rate_weight"] > 0.01


def test_a_codec_mode_without_a_trainable_codec_is_refused(tmp_path):
    path = joint_config(tmp_path / "bad.yaml", {"learned_codec": {"latent_channels": 16, "filters": 8}}, ["fan", "codec"])
    code, _, err = invoke("validate", path)
    assert code == 2
    (line,) = error_lines(err)
    assert "training.mode: mode codec trains a channel step with the FAN" in line


@keras.saving.register_keras_serializable(package="nipkit_tests")
class GreyStreamCodec(LearnedCodec):
    """A codec whose bitstream decodes to flat grey, whatever its forward pass gives."""

    def decompress(self, streams):
        return np.full_like(super().decompress(streams), 0.5)


def test_the_real_channel_runs_the_codec_as_its_bitstream(tmp_path, demo_data):
    registry.layers.register("grey_stream_codec", GreyStreamCodec, roles=("channel", "codec"))
    spec = {"grey_stream_codec": {"latent_channels": 16, "filters": 8}}
    code, _, err = invoke("run", joint_config(tmp_path / "grey.yaml", spec, "fan"), "--out", tmp_path / "grey")
    assert code == 0, err
    s = summary(tmp_path / "grey" / "fan-r0")
    assert [step["ran_as"] for step in s["real_channel"]] == ["reference"]
    # Every patch reaches the FAN as the same grey image through the real channel: one
    # prediction for all, so exactly half of the native/sharpen decisions are right.
    assert s["accuracy_real"] == 0.5 and sum(1 for column in zip(*s["confusion_real"]) if any(column)) == 1
    assert s["bpp"] > 0


def test_images_smaller_than_one_latent_cell_are_refused_in_one_line(tmp_path):
    config = yaml.safe_load(EXAMPLE.read_text())
    config["training"]["patch_size"] = 6
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, err = invoke("validate", path)
    assert code == 2 and "training.patch_size: must be at least 8 (one latent cell of the codec), got 6" in err
    spec = {"learned_codec": {"latent_channels": 16, "filters": 8, "trainable": ["codec"]}}
    experiment = joint_config(tmp_path / "tiny.yaml", spec, "codec")
    document = yaml.safe_load(experiment.read_text())
    document["channel"].insert(0, {"downscale": {"factor": 8}})  # 48² patches become 6²
    experiment.write_text(yaml.safe_dump(document))
    code, _, err = invoke("validate", experiment)
    assert code == 2
    (line,) = error_lines(err)
    assert "channel[1]" in line and "one latent cell" in line

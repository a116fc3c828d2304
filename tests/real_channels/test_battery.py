"""The `web` battery against Pillow itself, the Pillow channel steps, and `nipkit evaluate` end to end."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml
from PIL import Image, features
from skimage import data as images

import nipkit
from nipkit.cli.main import main
from nipkit.evaluation.battery import load_battery
from nipkit.evaluation.scoring import EVAL_BATCH, ChannelScorer, batches
from nipkit.layers.channel_step import run_real
from nipkit.layers.avif import AVIF
from nipkit.layers.downscale import Downscale
from nipkit.layers.jpeg import DifferentiableJPEG
from nipkit.layers.pillow_resize import PillowResize
from nipkit.layers.webp import WebP
from nipkit.testing import check_component
from nipkit.training.rescoring import load_finished_run
from support import run_nipkit

FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}


def pillow_channel(pixels: np.ndarray, specs: list) -> np.ndarray:
    """What Pillow itself gives for a battery entry's steps, written from the specs alone."""
    image = Image.fromarray(pixels)
    for spec in specs:
        (name, params), = spec.items()
        if name == "pillow_resize":
            size = (round(image.width * params["scale"]), round(image.height * params["scale"]))
            image = image.resize(size, FILTERS[params["filter"]])
            continue
        buffer = io.BytesIO()
        if name == "jpeg":
            image.save(buffer, "JPEG", quality=params["quality"], subsampling={"4:4:4": 0, "4:2:0": 2}[params["subsampling"]])
        else:
            image.save(buffer, name.upper(), quality=params["quality"])
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return np.asarray(image)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return images.astronaut()[100:196, 180:260]  # 96 × 80, a face and an edge


def test_every_web_channel_equals_pillow_itself(photo):
    entries, notes = load_battery("web")
    written = yaml.safe_load((Path(nipkit.__file__).parent / "batteries" / "web.yaml").read_text())["channels"]
    specs = {item["name"]: item["channel"] for item in written}
    assert len(entries) + len(notes) == 21 and entries[0].steps is None
    for entry in entries[1:]:
        batch = photo[None].astype("float32") / 255.0
        for step in entry.steps:
            batch, ran_as = run_real(step, batch)
            assert ran_as == "reference"
        expected = pillow_channel(photo, specs[entry.name])
        assert np.array_equal(np.rint(batch[0] * 255).astype(np.uint8), expected), entry.name


def test_pillow_resize_layer_is_close_to_pillow(photo):
    batch = photo[None].astype("float32") / 255.0
    for name in FILTERS:
        layer = PillowResize(0.75, name)
        ours, pillow = np.asarray(layer(batch)), layer.reference(batch)
        assert ours.shape == pillow.shape == (1, 72, 60, 3)
        assert np.abs(ours - pillow).max() <= 1.5 / 255, name  # Pillow rounds to 8 bits between its passes


@pytest.mark.skipif(not features.check("webp"), reason="this Pillow has no WebP")
def test_webp_in_a_training_channel_is_one_line(tmp_path, capsys):
    config = {"data": "demo", "nip": "inet", "manipulations": ["sharpen"], "channel": [{"webp": {"quality": 80}}],
              "training": {"patch_size": 48}}
    path = tmp_path / "webp.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(SystemExit) as exit_code:
        main(["validate", str(path)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_code.value.code == 2 and len(lines) == 1 and "channel[0].webp: has no differentiable model" in lines[0]


@pytest.fixture(scope="module")
def tiny_run(resumed_random_run):
    return resumed_random_run[0]


def test_evaluate_rescores_runs_through_the_web_battery(tiny_run, tmp_path):
    result = run_nipkit("evaluate", str(tiny_run), "--battery", "web", "--out", str(tmp_path / "rob"))
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((tmp_path / "rob" / "robustness.json").read_text())
    assert [run["mode"] for run in saved["runs"]] == ["fan", "joint"]
    for run in saved["runs"]:
        rows = {row["name"]: row for row in run["channels"]}
        assert len(rows) + len(saved["skipped"]) == 21
        # the training channel through the real channel is the run's own real-channel accuracy
        assert rows["training channel"]["accuracy"] == run["accuracy_training"]
        # an entry without resizing keeps the run's down-scaling step; one with its own does not
        assert rows["libjpeg 4:2:0 q70"]["ran"][0].startswith("Downscale(")
        assert rows["Pillow lanczos ×0.5 → libjpeg 4:2:0 q75"]["ran"][0].startswith("PillowResize(")
        assert all(0 <= row["accuracy"] <= 1 for row in rows.values())
    table = (tmp_path / "rob" / "robustness.md").read_text()
    assert "| channel | F | F+N |" in table and "| WebP q80 |" in table
    for plot in ("accuracy_quality.png", "accuracy_scale.png"):
        assert Image.open(tmp_path / "rob" / plot).size[0] > 500


@pytest.mark.parametrize("arguments, message", [
    (["--battery", "webb"], "--battery 'webb': unknown battery; built in: web"),
    (["--channel", "[{webpp: {quality: 80}}]"], "unknown layer 'webpp'; did you mean 'webp'?"),
    (["--channel", "{jpeg: {quality: 120}}"], "quality must be an integer from 1 to 100; got 120"),
    (["--channel", "{pillow_resize: {scale: 1.5}}"], "scale must be a number in (0, 1]; got 1.5"),
    ([], "give either --channel SPEC_OR_YAML (one or more) or --battery NAME"),
])
def test_bad_evaluate_input_is_one_line(tiny_run, tmp_path, capsys, arguments, message):
    with pytest.raises(SystemExit) as exit_code:
        main(["evaluate", str(tiny_run), *arguments, "--out", str(tmp_path / "rob")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_code.value.code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_a_run_folder_without_models_is_refused(tiny_run, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text((tiny_run / "fan-r0" / "summary.json").read_text())
    (broken / "config.yaml").write_text((tiny_run / "fan-r0" / "config.yaml").read_text())
    with pytest.raises(SystemExit) as exit_code:
        main(["evaluate", str(broken), "--channel", "{jpeg: {quality: 70}}", "--out", str(tmp_path / "rob")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_code.value.code == 2 and len(lines) == 1 and "no nip.keras, fan.keras" in lines[0], lines


@pytest.mark.parametrize("layer", [PillowResize(0.75, "lanczos"), Downscale(scale=0.6, method="bicubic")])
def test_resizing_steps_pass_check_component(layer):
    check_component(layer, (21, 30, 3))


def test_webp_and_avif_round_trip_their_config():
    for layer in (WebP(quality=80), AVIF(quality=50)):
        again = type(layer).from_config(json.loads(json.dumps(layer.get_config())))
        assert again.quality == layer.quality and again.REAL_ONLY


def test_real_classifications_running_a_batch_ahead_equal_the_serial_ones(tiny_run):
    """The codecs of the next batch run in a thread while the FAN classifies this one:
    the probabilities must be those of running every batch in turn, batch by batch."""
    exp, _ = load_finished_run(tiny_run / "joint-r0")
    own = exp.scorer()
    # 5 × the run's 8 validation patches: 3 batches, the last one short, each with its own draws
    tiled = {k: np.concatenate([v] * 5) for k, v in own.accuracy_set.items()}
    scorer = ChannelScorer(exp.joint, tiled, own.fidelity_set, own.nip_input, draws=own.draws)
    channels = [None, [DifferentiableJPEG(quality=30, subsampling="4:2:0")]]
    done = []
    results = scorer.classifications(channels, progress=lambda: done.append(1))
    assert len(done) == scorer.batch_count == 3
    for channel, result in zip(channels, results):
        expected = []
        for index, batch in enumerate(batches(tiled, EVAL_BATCH)):
            draws = {k: tf.constant(v) for k, v in own.draws(index, len(batch["raw"])).items()}
            images, _, _ = scorer.real_channel(scorer.manipulate(scorer.developed(batch), draws), draws, channel)
            expected.append(scorer.fan(tf.constant(images)).numpy())
        assert np.array_equal(result["probs"], np.concatenate(expected))
    assert not np.array_equal(results[0]["probs"], results[1]["probs"])

"""`nipkit train codec` end to end on the demo camera: a tiny run, its resume, the saved
codec's bitstream, and the bad inputs (β < 0, NaN, a codec file given as a NIP)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from nip_runs import error_lines, invoke, write_config
from nipkit.codecs.files import load_codec
from nipkit.data import Dataset
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

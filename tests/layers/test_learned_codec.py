"""LearnedCodec: the layer contract, its bitstream on real photo crops, and bad streams."""
from __future__ import annotations

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from nipkit import registry
from nipkit.data import Dataset
from nipkit.errors import ConfigError, DataError
from nipkit.layers import LearnedCodec
from nipkit.testing import check_component
from support import rate_distortion_updates

CROP = 200


@pytest.fixture(scope="module")
def crops(demo_data) -> np.ndarray:
    """Crops of the demo camera's validation targets, with sides that are not multiples of 8."""
    data = Dataset(demo_data)
    return np.stack([data.target(name, window=(40, 60, CROP - 3, CROP + 5)) for name in data.validation]).astype("float32")


@pytest.fixture(scope="module")
def codec(crops) -> LearnedCodec:
    """A tiny codec after a few rate–distortion updates, so its latents and entropy model are not trivial."""
    keras.utils.set_random_seed(3)
    return rate_distortion_updates(LearnedCodec(latent_channels=16, filters=8, beta=0.01), crops, steps=30)


@pytest.mark.parametrize("quantization", ["soft", "noise", "ste"])
def test_codec_passes_the_component_checks(quantization):
    check_component(LearnedCodec(16, filters=4, quantization=quantization), (19, 26, 3))


def test_codec_is_a_codec_and_a_channel_step():
    assert registry.layers.roles("learned_codec") == ("channel", "codec")
    assert registry.layers.get("learned_codec") is LearnedCodec


def test_decoded_stream_equals_the_forward_pass(codec, crops):
    streams = codec.compress(crops)
    decoded = codec.decompress(streams)
    forward = np.asarray(codec(crops))
    assert decoded.shape == crops.shape
    assert float(np.max(np.abs(decoded - forward))) <= 1e-6
    assert np.array_equal(codec.reference(crops), decoded)
    assert len(set(streams)) == len(streams)  # different photos, different streams


def test_rate_estimate_tracks_the_bytes(codec, crops):
    pixels = crops.shape[1] * crops.shape[2]
    for crop in crops:
        codec(crop[None])
        estimate = float(codec.last_bpp)
        measured = 8 * len(codec.compress(crop[None])[0]) / pixels
        assert measured == pytest.approx(estimate, rel=0.05)
    uniform = codec.latent_channels * np.log2(codec.codebook_size) / 64
    assert 0.02 * uniform < estimate < 0.8 * uniform  # the entropy model has learned the latents' statistics


def test_keras_round_trip_gives_an_identical_bitstream(codec, crops, tmp_path):
    path = tmp_path / "codec.keras"
    keras.Sequential([keras.Input((None, None, 3)), codec]).save(path)
    loaded = keras.saving.load_model(path).layers[0]
    assert isinstance(loaded, LearnedCodec)
    assert loaded.compress(crops) == codec.compress(crops)
    assert np.array_equal(loaded.decompress(codec.compress(crops)), codec.decompress(codec.compress(crops)))


def test_damaged_and_foreign_streams_are_refused(codec, crops):
    stream = codec.compress(crops[:1])[0]
    flipped = bytearray(stream)
    flipped[-3] ^= 0x40
    jpeg = io.BytesIO()
    Image.fromarray((crops[0] * 255).astype("uint8")).save(jpeg, "JPEG")
    cases = {
        bytes(flipped): "damaged",
        stream[:-4]: "damaged",
        jpeg.getvalue(): "not a nipkit learned-codec stream",
        LearnedCodec(16, filters=8).compress(crops[:1])[0]: "another codec",
        LearnedCodec(32, filters=8).compress(crops[:1])[0]: "another codec",
    }
    for data, message in cases.items():
        with pytest.raises(DataError, match=message):
            codec.decompress([data])
    with pytest.raises(DataError, match="list of streams"):
        codec.decompress(stream)


def test_bad_images_and_options_are_refused(codec):
    with pytest.raises(DataError, match="smaller than one latent cell"):
        codec.compress(np.zeros((1, 7, 30, 3), "float32"))
    with pytest.raises(ValueError, match="one latent cell"):
        codec(np.zeros((1, 30, 5, 3), "float32"))
    with pytest.raises(ConfigError, match="beta must be a number ≥ 0"):
        registry.layers.build({"learned_codec": {"beta": -1}})
    with pytest.raises(ConfigError, match="latent_channels must be one of 16, 32, 64"):
        registry.layers.build({"learned_codec": {"latent_channels": 24}})
    with pytest.raises(ConfigError, match="target_bpp must be a number of bits per pixel"):
        registry.layers.build({"learned_codec": {"target_bpp": 0}})
    with pytest.raises(ConfigError, match="beta must be > 0 with target_bpp"):
        registry.layers.build({"learned_codec": {"target_bpp": 0.5, "beta": 0}})
    with pytest.raises(ConfigError, match="distortion_weight must be a number ≥ 0"):
        registry.layers.build({"learned_codec": {"distortion_weight": -1}})


def test_distortion_weight_adds_the_codecs_own_mse_in_training_only(codec, crops, tmp_path):
    model = keras.Sequential([keras.Input((None, None, 3)), codec])
    model.save(tmp_path / "plain.keras")
    weighted = LearnedCodec(latent_channels=16, filters=8, beta=0.01, quantization="ste", distortion_weight=250.0)
    keras.Sequential([keras.Input((None, None, 3)), weighted]).load_weights(tmp_path / "plain.keras")
    decoded = np.asarray(weighted(crops, training=True))
    rate_losses, distortion = weighted.losses[:-1], weighted.losses[-1]
    np.testing.assert_allclose(float(distortion), 250.0 * np.mean((decoded - crops) ** 2), rtol=1e-5)
    weighted(crops)  # outside training: the rate alone, as without the weight
    assert len(weighted.losses) == 1 and len(rate_losses) == 1
    # the gradient of the distortion moves the codec toward its input
    with tf.GradientTape() as tape:
        weighted(crops, training=True)
        loss = weighted.losses[-1]
    assert any(float(tf.reduce_max(tf.abs(g))) > 0 for g in tape.gradient(loss, weighted.trainable_variables) if g is not None)
    wrapped = keras.Sequential([keras.Input((None, None, 3)), weighted])
    wrapped.save(tmp_path / "weighted.keras")
    assert keras.models.load_model(tmp_path / "weighted.keras").layers[0].distortion_weight == 250.0


def test_rate_controller_raises_the_rate_weight_above_the_target_and_lowers_it_below(codec, crops, tmp_path):
    codec(crops)
    rate = float(keras.ops.convert_to_numpy(codec.last_bpp))
    keras.Sequential([keras.Input((None, None, 3)), codec]).save(tmp_path / "plain.keras")
    for target, direction in ((rate / 4, 1), (rate * 4, -1)):
        held = LearnedCodec(latent_channels=16, filters=8, beta=0.01, target_bpp=target)
        # the weights of a codec trained without a target load, and the controller starts at beta
        keras.Sequential([keras.Input((None, None, 3)), held]).load_weights(tmp_path / "plain.keras")
        assert float(held.rate_weight.numpy()) == np.float32(0.01)
        assert np.array_equal(np.asarray(held(crops)), np.asarray(codec(crops)))
        for _ in range(5):
            held(crops, training=True)
        weight = float(held.rate_weight.numpy())
        assert np.sign(weight - 0.01) == direction
        assert 0.01 * np.exp(-0.05) - 1e-9 <= weight <= 0.01 * np.exp(0.05) + 1e-9  # at most ×e^0.01 a step
        held(crops)  # outside training the rate is charged at the controller's weight, not at beta
        bpp = float(keras.ops.convert_to_numpy(held.last_bpp))
        np.testing.assert_allclose(float(held.losses[-1]), weight * bpp, rtol=1e-5)
    model = keras.Sequential([keras.Input((None, None, 3)), held])
    model.save(tmp_path / "held.keras")
    loaded = keras.models.load_model(tmp_path / "held.keras").layers[0]
    assert loaded.target_bpp == held.target_bpp and float(loaded.rate_weight.numpy()) == weight

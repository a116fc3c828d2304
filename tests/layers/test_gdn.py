"""GDN / IGDN against a NumPy reference, the component checks, and a GDN codec's bitstream."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from nipkit import registry
from nipkit.data import Dataset
from nipkit.errors import ConfigError, DataError
from nipkit.layers import GDN, LearnedCodec
from nipkit.layers.gdn import BETA_FLOOR
from nipkit.testing import check_component, gradients
from support import rate_distortion_updates


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(x))


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_equals_its_formula_with_random_parameters(inverse):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 7, 4)).astype("float32")
    layer = GDN(inverse=inverse)
    layer.build(x.shape)
    layer.beta_raw.assign(rng.normal(size=4).astype("float32"))
    layer.gamma_raw.assign(rng.normal(size=(4, 4)).astype("float32"))
    beta = _softplus(np.asarray(layer.beta_raw, np.float64)) + BETA_FLOOR
    gamma = _softplus(np.asarray(layer.gamma_raw, np.float64))
    norm = np.sqrt(beta + np.einsum("bhwj,ij->bhwi", x.astype(np.float64) ** 2, gamma))
    expected = x * norm if inverse else x / norm
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("inverse", [False, True])
def test_gdn_passes_the_component_checks(inverse):
    check_component(GDN(inverse=inverse), (6, 9, 5))


def test_every_gamma_entry_gets_a_gradient():
    """The off-diagonal floor lets the optimiser couple channels that start uncoupled."""
    layer = GDN()
    x = np.random.default_rng(1).normal(size=(3, 4, 4, 3)).astype("float32")
    layer.build(x.shape)
    grads = gradients(lambda: keras.ops.sum(layer(x)), [layer.gamma_raw])[0]
    assert np.all(np.abs(np.asarray(grads)) > 0)


@pytest.fixture(scope="module")
def crops(demo_data) -> np.ndarray:
    data = Dataset(demo_data)
    return np.stack([data.target(name, window=(40, 60, 93, 101)) for name in data.validation]).astype("float32")


@pytest.fixture(scope="module")
def gdn_codec(crops) -> LearnedCodec:
    keras.utils.set_random_seed(5)
    return rate_distortion_updates(LearnedCodec(latent_channels=16, filters=8, beta=0.01, nonlinearity="gdn"), crops, steps=20)


def test_a_gdn_codec_decodes_its_stream_as_its_forward_pass_and_round_trips(gdn_codec, crops, tmp_path):
    assert [layer.name for layer in gdn_codec.synthesis] == ["synthesis_0", "igdn_0", "synthesis_1", "igdn_1", "synthesis_2"]
    streams = gdn_codec.compress(crops)
    assert float(np.max(np.abs(gdn_codec.decompress(streams) - np.asarray(gdn_codec(crops))))) <= 1e-6
    path = tmp_path / "gdn_codec.keras"
    keras.Sequential([keras.Input((None, None, 3)), gdn_codec]).save(path)
    loaded = keras.saving.load_model(path).layers[0]
    assert loaded.nonlinearity == "gdn"
    assert loaded.compress(crops) == streams
    leaky = LearnedCodec(latent_channels=16, filters=8)
    with pytest.raises(DataError, match="another codec"):
        leaky.decompress(streams[:1])


def test_gdn_codec_passes_the_component_checks():
    check_component(LearnedCodec(16, filters=4, nonlinearity="gdn"), (19, 26, 3))


def test_an_unknown_nonlinearity_is_refused():
    with pytest.raises(ConfigError, match="nonlinearity must be one of leaky_relu, gdn"):
        registry.layers.build({"learned_codec": {"nonlinearity": "relu"}})

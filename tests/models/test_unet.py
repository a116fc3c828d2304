"""UNet: parameter count, shapes for every level count and CFA, size checks, save/load."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from nipkit import registry
from nipkit.errors import ConfigError
from nipkit.models import UNet
from nipkit.testing import check_component


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def expected_count(levels: int, filters: int) -> int:
    widths = [filters * 2**i for i in range(levels)]
    conv = lambda cin, cout, k=3: k * k * cin * cout + cout  # noqa: E731
    encoder = sum(conv(cin, w) + conv(w, w) for cin, w in zip([4] + widths[:-1], widths))
    decoder = sum(
        2 * 2 * widths[i + 1] * w + conv(2 * w, w) + conv(w, w) for i, w in enumerate(widths[:-1])
    )
    return encoder + decoder + conv(filters, 12, k=1)


def test_trainable_count_through_registry():
    model = registry.models.build({"type": "unet"})
    model.build((None, 32, 32, 4))
    assert trainable_count(model) == 7_760_268 == expected_count(5, 32)
    assert model.input_multiple == UNet.input_multiple == 16


@pytest.mark.parametrize("levels", [2, 3, 4, 5, 6])
def test_levels_and_shapes(levels):
    model = registry.models.build({"unet": {"levels": levels, "filters": 4}})
    multiple = 2 ** (levels - 1)
    assert model.input_multiple == multiple
    shape = (2, multiple, 2 * multiple, 4)
    out = model(np.random.default_rng(0).uniform(size=shape).astype("float32"))
    assert tuple(out.shape) == (2, 2 * multiple, 4 * multiple, 3)
    assert trainable_count(model) == expected_count(levels, 4)
    values = keras.ops.convert_to_numpy(out)
    assert values.min() >= 0.0 and values.max() <= 1.0


@pytest.mark.parametrize("cfa", ["rggb", "grbg", "gbrg", "bggr"])
def test_every_cfa(cfa):
    model = UNet(levels=3, filters=4, cfa=cfa)
    assert model.get_config()["cfa"] == cfa
    assert tuple(model(np.zeros((1, 8, 12, 4), "float32")).shape) == (1, 16, 24, 3)
    assert tuple(model(keras.Input((None, None, 4))).shape) == (None, None, None, 3)


def test_errors():
    with pytest.raises(ValueError, match="multiples of 16"):
        UNet()(np.zeros((1, 24, 32, 4), "float32"))
    with pytest.raises(ValueError, match=r"RAW stack"):
        UNet(levels=2)(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ConfigError, match="'unet'.*levels must be an integer from 2 to 6"):
        registry.models.build({"type": "unet", "levels": 7})
    with pytest.raises(ConfigError, match="cfa must be one of"):
        registry.models.build({"type": "unet", "cfa": "xyz"})


def test_check_component():
    check_component(UNet(), (32, 32, 4), atol=1e-4)

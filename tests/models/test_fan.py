"""FAN: parameter count, configurable layout, probabilities, the residual constraint after
training, save/load."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import yaml

from nipkit import registry
from nipkit.errors import ConfigError
from nipkit.models import FAN
from nipkit.testing import check_component


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_trainable_count_through_registry():
    model = registry.models.build({"type": "fan"})
    model.build((None, 128, 128, 3))
    assert trainable_count(model) == 1_341_990


def test_configurable_from_yaml():
    spec = yaml.safe_load("fan: {n_classes: 3, filters: [8, 16], dense: [32], kernel_size: 3}")
    model = registry.models.build(spec)
    model.build((None, 16, 16, 3))
    expected = (
        3 * 3 * 3 * 3  # constrained, no bias
        + (9 * 3 * 8 + 8) + (9 * 8 * 16 + 16)  # blocks
        + (16 * 16 + 16)  # 1×1
        + (16 * 32 + 32) + (32 * 3 + 3)  # dense
    )
    assert trainable_count(model) == expected
    assert yaml.safe_load(yaml.safe_dump(model.get_config()))["filters"] == [8, 16]


def test_outputs_are_probabilities():
    probs = keras.ops.convert_to_numpy(FAN()(np.random.default_rng(0).uniform(size=(3, 32, 32, 3)).astype("float32")))
    assert probs.shape == (3, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_residual_constraint_holds_after_training():
    model = FAN(n_classes=3, filters=[8, 16], dense=[16])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(8, 24, 24, 3)).astype("float32")
    y = rng.integers(0, 3, size=8)
    model.build(x.shape)
    before = keras.ops.convert_to_numpy(model.residual.kernel).copy()
    model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert not np.allclose(keras.ops.convert_to_numpy(model.residual.kernel), before)
    kernel = keras.ops.convert_to_numpy(model.residual.constrained_kernel())
    np.testing.assert_allclose(kernel[2, 2], -1.0, atol=1e-5)
    np.testing.assert_allclose(kernel.sum(axis=(0, 1)) - kernel[2, 2], 1.0, atol=1e-5)
    flat = np.full((1, 24, 24, 3), 0.4, "float32")
    assert np.abs(keras.ops.convert_to_numpy(model.residual(flat))).max() < 1e-5


def test_errors():
    with pytest.raises(ValueError, match="at least 20"):
        FAN()(np.zeros((1, 19, 32, 3), "float32"))
    with pytest.raises(ConfigError, match="'fan'.*n_classes"):
        registry.models.build({"type": "fan", "n_classes": 1})
    with pytest.raises(ConfigError, match="filters must be a non-empty list"):
        registry.models.build({"type": "fan", "filters": []})
    with pytest.raises(ConfigError, match="kernel_size must be an odd"):
        registry.models.build({"type": "fan", "kernel_size": 4})


def test_check_component():
    check_component(FAN(), (32, 32, 3), atol=1e-4)

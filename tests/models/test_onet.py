"""ONet: the identity on RGB images."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from nipkit import registry
from nipkit.models import ONet
from nipkit.testing import check_component


def test_identity_without_parameters():
    model = registry.models.build("onet")
    x = np.random.default_rng(0).uniform(size=(2, 10, 6, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), x)
    assert model.count_params() == 0 and model.input_multiple == 1


def test_rejects_raw_stacks():
    with pytest.raises(ValueError, match=r"ONet expects a \(batch, h, w, 3\)"):
        ONet()(np.zeros((1, 8, 8, 4), "float32"))


def test_check_component():
    check_component(ONet(), (8, 8, 3))

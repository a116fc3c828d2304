"""JointModel: branches, labels, and a .keras round trip of the whole provenance model."""
from __future__ import annotations

import keras
import numpy as np

from nipkit.layers import Downscale, DifferentiableJPEG, Gaussian, Sharpen
from nipkit.models import FAN, INet, JointModel
from nipkit.testing import check_component


def small_joint() -> JointModel:
    fan = FAN(n_classes=3, filters=(4, 4, 4, 4), dense=(8, 8))
    return JointModel(INet(cfa="gbrg"), [Sharpen(), Gaussian()], [Downscale(2), DifferentiableJPEG(50, rounding="sin")], fan)


def test_branches_are_class_major_and_labels_match():
    joint = small_joint()
    raw = np.random.default_rng(0).uniform(0, 1, (2, 24, 24, 4)).astype("float32")
    out = joint(raw)
    assert tuple(out["rgb"].shape) == (2, 48, 48, 3) and tuple(out["probs"].shape) == (6, 3)
    branches = keras.ops.convert_to_numpy(joint.manipulate(out["rgb"]))
    np.testing.assert_allclose(branches[:2], keras.ops.convert_to_numpy(out["rgb"]))
    np.testing.assert_allclose(branches[2:4], keras.ops.convert_to_numpy(Sharpen()(out["rgb"])), atol=1e-6)
    assert keras.ops.convert_to_numpy(joint.labels(2)).tolist() == [0, 0, 1, 1, 2, 2]
    assert joint.classes == ["native", joint.manipulations[0].name, joint.manipulations[1].name]


def test_joint_model_round_trips():
    check_component(small_joint(), (24, 24, 4), atol=1e-5)

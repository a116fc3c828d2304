"""The channel-step contract's helpers: which steps have a real counterpart, and running them."""
from __future__ import annotations

import numpy as np

from nipkit.evaluation.libjpeg import roundtrip
from nipkit.layers import DifferentiableJPEG, Downscale
from nipkit.layers.channel_step import ITSELF, REFERENCE, check_trainable, has_reference, run_real, trains_in


def test_jpeg_runs_as_libjpeg_and_other_steps_as_themselves():
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    jpeg = DifferentiableJPEG(quality=50, subsampling="4:2:0")
    out, how = run_real(jpeg, images)
    assert how == REFERENCE and has_reference(jpeg)
    np.testing.assert_array_equal(out, roundtrip(images, 50, "4:2:0"))

    downscale = Downscale(2)
    out, how = run_real(downscale, images)
    assert how == ITSELF and not has_reference(downscale)
    np.testing.assert_array_equal(out, np.asarray(downscale(images)))


def test_trainable_option_per_mode():
    assert [trains_in(v, "joint") for v in (None, False, True, ["joint"], ["fan"])] == [False, False, True, True, False]
    assert check_trainable(["fan", "joint"], ("fan", "joint")) and not check_trainable("yes", ("fan", "joint"))

"""PNG targets: 8-bit through imageio, 16-bit RGB through nipkit's own encoder."""
from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import tensorflow as tf

from nipkit.data.png import encode_png, write_png
from nipkit.data.png16 import encode_rgb16_png

RNG = np.random.default_rng(0)


def test_8_bit_pngs_round_trip_through_imageio(tmp_path):
    rgb = RNG.integers(0, 256, (9, 13, 3)).astype(np.uint8)
    write_png(tmp_path / "a.png", rgb)
    assert np.array_equal(iio.imread(tmp_path / "a.png"), rgb)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_16_bit_rgb_keeps_every_bit():
    rgb = RNG.integers(0, 65536, (7, 5, 3)).astype(np.uint16)
    assert np.array_equal(tf.io.decode_png(encode_png(rgb), dtype=tf.uint16).numpy(), rgb)


def test_imageio_cannot_write_16_bit_rgb_which_is_why_png16_exists():
    with pytest.raises(TypeError):
        iio.imwrite("<bytes>", np.zeros((2, 2, 3), np.uint16), extension=".png")
    with pytest.raises(ValueError, match="uint16"):
        encode_rgb16_png(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8 or uint16"):
        encode_png(np.zeros((2, 2, 3), np.float32))

"""The validation figure: target | output | difference, one row per patch."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data, transform

from nipkit.evaluation.plots import save_comparison


def test_figure_has_one_row_per_patch(tmp_path):
    photo = transform.resize(data.astronaut(), (64, 64)).astype("float32")
    targets = np.stack([photo, photo[::-1], photo[:, ::-1]])
    outputs = np.clip(targets + 0.05, 0, 1)
    two = Image.open(save_comparison(tmp_path / "a" / "two.png", targets, outputs, max_rows=2, title="step 3"))
    three = Image.open(save_comparison(tmp_path / "three.png", targets, outputs))
    assert two.format == "PNG" and two.width == three.width
    assert three.height > two.height  # one more row
    pixels = np.asarray(three.convert("RGB"))
    assert pixels.std() > 10  # the photos were drawn, not an empty canvas


def test_shapes_must_match(tmp_path):
    with pytest.raises(ValueError, match="equal"):
        save_comparison(tmp_path / "x.png", np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 9, 3)))

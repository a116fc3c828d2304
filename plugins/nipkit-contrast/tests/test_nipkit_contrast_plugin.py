"""The `contrast` plugin layer: nipkit's component checks, a numpy reference, Pillow, the registry.

Run after installing the plugin: `pip install -e plugins/nipkit-contrast` (or a plain
install), then `pytest plugins/nipkit-contrast/tests`.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageEnhance
from skimage import data as skdata

from nipkit import registry
from nipkit.errors import ConfigError
from nipkit.testing import check_component
from nipkit_contrast import Contrast


def reference(images: np.ndarray, contrast: float, saturation: float) -> np.ndarray:
    """The adjustment in float64 numpy, written from its definition."""
    x = images.astype(np.float64)
    grey = x @ np.array([0.299, 0.587, 0.114])
    x1 = np.clip(grey[..., None] + saturation * (x - grey[..., None]), 0, 1)
    mean = (x1 @ np.array([0.299, 0.587, 0.114])).mean(axis=(1, 2))[:, None, None, None]
    return np.clip(mean + contrast * (x1 - mean), 0, 1)


def images(seed: int = 0, shape=(3, 16, 20, 3)) -> np.ndarray:
    """Smooth colour gradients plus noise, so clipping happens at both ends."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0, 1, shape[1])[None, :, None, None]
    cols = np.linspace(0, 1, shape[2])[None, None, :, None]
    tint = rng.uniform(0, 1, (shape[0], 1, 1, 3))
    return np.clip(0.6 * tint * rows + 0.4 * cols + rng.normal(0, 0.1, shape), 0, 1).astype("float32")


def test_check_component():
    check_component(Contrast(contrast=1.4, saturation=1.3), (16, 16, 3))


@pytest.mark.parametrize("contrast, saturation", [(1.5, 1.0), (0.5, 1.0), (1.0, 1.8), (2.0, 0.3), (0.0, 1.0), (1.0, 0.0)])
def test_matches_numpy_reference(contrast, saturation):
    x = images()
    got = np.asarray(Contrast(contrast=contrast, saturation=saturation)(x))
    np.testing.assert_allclose(got, reference(x, contrast, saturation), atol=1e-5)


def test_neutral_factors_are_identity_and_zero_factors_flatten():
    x = images(1)
    np.testing.assert_allclose(np.asarray(Contrast(contrast=1.0, saturation=1.0)(x)), x, atol=1e-6)
    grey = np.asarray(Contrast(contrast=1.0, saturation=0.0)(x))
    np.testing.assert_allclose(grey[..., 0], grey[..., 2], atol=1e-6)
    flat = np.asarray(Contrast(contrast=0.0, saturation=1.0)(x))
    assert np.ptp(flat, axis=(1, 2, 3)).max() < 1e-6


@pytest.mark.parametrize("contrast, saturation", [(1.5, 1.0), (0.6, 1.4), (2.0, 0.5), (1.3, 1.3)])
def test_matches_pillow_image_enhance(contrast, saturation):
    photo = skdata.astronaut()[::4, ::4]  # a real photo, 128x128
    expected = ImageEnhance.Color(Image.fromarray(photo)).enhance(saturation)
    expected = np.asarray(ImageEnhance.Contrast(expected).enhance(contrast)).astype("float32") / 255
    got = np.asarray(Contrast(contrast=contrast, saturation=saturation)(photo[None].astype("float32") / 255))[0]
    # Pillow rounds to 8 bits after each step (and rounds the mean); measured: <= 2.05 levels.
    error = np.abs(got - expected) * 255
    assert error.max() <= 2.5 and error.mean() <= 1.0, (error.max(), error.mean())


def test_per_image_mean_is_independent_of_the_batch():
    x = images(2)
    layer = Contrast(contrast=1.7, saturation=1.2)
    together = np.asarray(layer(x))
    alone = np.concatenate([np.asarray(layer(x[i : i + 1])) for i in range(len(x))])
    np.testing.assert_allclose(together, alone, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"contrast": -0.1}, {"saturation": float("nan")}, {"contrast": True}, {"saturation": "1"}])
def test_bad_factors_raise(kwargs):
    with pytest.raises(ValueError, match="Contrast: "):
        Contrast(**kwargs)


def test_registered_through_the_entry_point():
    entry = registry.layers.entry("contrast")
    assert entry.distribution == "nipkit-contrast" and entry.roles == ("manipulation",)
    assert registry.layers.get("contrast") is Contrast
    layer = registry.layers.build({"contrast": {"contrast": 1.2, "saturation": 0.8}})
    assert isinstance(layer, Contrast) and layer.saturation == 0.8
    with pytest.raises(ConfigError, match="'contrast'"):
        registry.layers.build({"contrast": {"contrast": -1}})

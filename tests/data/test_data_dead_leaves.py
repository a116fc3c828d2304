"""Dead-leaves scenes: the radius law, the colours, the occlusion and the textures."""
from __future__ import annotations

import colorsys

import numpy as np
import pytest

from nipkit.data.dead_leaves import RADIUS_EXPONENT, TEXTURED_SHARE, dead_leaves, hsv_to_rgb, power_law_radii


def test_radii_follow_the_power_law():
    low, high = 2.0, 64.0
    radii = power_law_radii(np.random.default_rng(0), 200_000, low, high)
    assert low <= radii.min() and radii.max() <= high
    # CDF of a density ∝ r^-3 on [low, high]: (low^-2 - r^-2) / (low^-2 - high^-2)
    power = 1.0 - RADIUS_EXPONENT
    for r in (3.0, 6.0, 20.0):
        expected = (low**power - r**power) / (low**power - high**power)
        assert np.mean(radii <= r) == pytest.approx(expected, abs=0.005)


def test_hsv_to_rgb_matches_colorsys():
    hsv = np.random.default_rng(1).random((500, 3))
    expected = np.array([colorsys.hsv_to_rgb(*row) for row in hsv])
    np.testing.assert_allclose(hsv_to_rgb(hsv[:, 0], hsv[:, 1], hsv[:, 2]), expected, atol=1e-12)


def flat_regions(image: np.ndarray) -> int:
    """How many distinct chromaticities (colour up to brightness) an image holds."""
    chroma = image / np.maximum(image.sum(-1, keepdims=True), 1e-9)
    return len(np.unique(np.round(chroma.reshape(-1, 3), 6), axis=0))


def test_flat_discs_occlude_each_other_and_cover_the_scene():
    scene = dead_leaves(np.random.default_rng(2), 96)
    assert scene.shape == (96, 96, 3) and 0.0 <= scene.min() and scene.max() <= 1.0
    # flat discs under a smooth light: each visible disc is one chromaticity; the small
    # ones in front hide most of the large ones behind
    regions = flat_regions(scene)
    assert 30 < regions < 96 * 96 / 4

    def vivid(image: np.ndarray) -> float:  # share of HSV saturation >= 0.8 at value >= 0.2
        top, low = image.max(-1), image.min(-1)
        return float(np.mean((top >= 0.2) & (top - low >= 0.8 * top)))

    # half the flat discs are saturated, and some of the uniform RGB ones are too
    shares = [vivid(dead_leaves(np.random.default_rng(seed), 128)) for seed in range(4)]
    assert 0.5 < np.mean(shares) < 0.8


def test_textured_discs_are_cut_from_the_textures():
    colour = np.array([0.2, 0.4, 0.6])
    texture = np.broadcast_to(colour, (120, 90, 3)).copy()
    scene = dead_leaves(np.random.default_rng(3), 128, textures=[texture])
    # a constant texture: textured discs show its chromaticity, flat ones their own colour
    chroma = scene / scene.sum(-1, keepdims=True)
    from_texture = np.all(np.abs(chroma - colour / colour.sum()) < 1e-9, axis=-1)
    assert 0.5 * TEXTURED_SHARE < from_texture.mean() < 2.0 * TEXTURED_SHARE


def test_the_seed_decides_everything():
    texture = np.random.default_rng(4).random((80, 80, 3))
    one = dead_leaves(np.random.default_rng(5), 64, textures=[texture])
    assert np.array_equal(one, dead_leaves(np.random.default_rng(5), 64, textures=[texture]))
    assert not np.allclose(one, dead_leaves(np.random.default_rng(6), 64, textures=[texture]))

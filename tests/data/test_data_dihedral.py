"""Flips and quarter turns of training patches (`augment: dihedral`): the RAW patch stays the
CFA's sampling of the target patch, for every CFA and transform, on a real photo and on the
demo camera's training batches."""
from __future__ import annotations

import numpy as np
import pytest
from skimage import data as skdata

from nipkit.cfa import CFA_PATTERNS, bayer_to_stack, stack_to_bayer
from nipkit.data.dataset import Dataset
from nipkit.data.dihedral import DIHEDRAL, dihedral_pair
from nipkit.data.patches import PatchSampler, train_batches
from nipkit.errors import DataError
from test_data_patches import locate

P = 32
COLOUR = {"r": 0, "g": 1, "b": 2}


def sampled(rgb: np.ndarray, cfa: str) -> np.ndarray:
    """The mosaic a `cfa` sensor records of `rgb`: at each pixel, the colour its filter lets through."""
    colour = np.array([[COLOUR[cfa[2 * (y % 2) + x % 2]] for x in range(rgb.shape[1])] for y in range(rgb.shape[0])])
    return np.take_along_axis(rgb, colour[..., None], axis=-1)[..., 0]


def turned(image: np.ndarray, k: int) -> np.ndarray:
    """k quarter turns counter-clockwise, then a left-right flip for k >= 4 (written out per k)."""
    for _ in range(k % 4):
        image = image.transpose(1, 0, *range(2, image.ndim))[::-1]
    return image[:, ::-1] if k >= 4 else image


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_every_transform_keeps_the_cfa_and_the_alignment(cfa):
    photo = skdata.astronaut()[100:100 + P + 2, 150:150 + P + 2].astype(np.float32) / 255
    stack = bayer_to_stack(sampled(photo, cfa), cfa)
    seen = []
    for k in range(DIHEDRAL):
        raw, rgb = dihedral_pair(stack, photo, cfa, k)
        assert raw.shape == (P // 2, P // 2, 4) and rgb.shape == (P, P, 3)
        # the target is the transformed window at a shift of at most a pixel each way ...
        shifts = [(d, r) for d in (0, 1) for r in (0, 1) if np.array_equal(rgb, turned(photo[d:d + P, r:r + P], k))]
        assert len(shifts) == 1, (k, shifts)
        # ... and the RAW patch is exactly what the sensor records of it
        np.testing.assert_array_equal(stack_to_bayer(raw, cfa), sampled(rgb, cfa))
        seen.append(rgb)
    assert len({image.tobytes() for image in seen}) == DIHEDRAL  # 8 different patches


def test_augmented_batches_are_transformed_real_windows(small_demo):
    data = Dataset(small_demo)
    batches = [(raw.numpy(), rgb.numpy()) for raw, rgb in train_batches(data, P, 8, seed=4, augment="dihedral").take(2)]
    again = [(raw.numpy(), rgb.numpy()) for raw, rgb in train_batches(data, P, 8, seed=4, augment="dihedral", start_step=1).take(1)]
    assert np.array_equal(batches[1][0], again[0][0]) and np.array_equal(batches[1][1], again[0][1])  # pure in (seed, step)
    found = set()
    for raw, rgb in zip(*map(np.concatenate, zip(*batches))):
        for k in range(DIHEDRAL):
            undone = next(u for u in (turned(rgb, j) for j in range(DIHEDRAL)) if np.array_equal(turned(u, k), rgb))
            try:
                name, top, left = locate(data, data.train, undone)
            except AssertionError:
                continue
            mosaic = stack_to_bayer(data.bayer(name), data.cfa)[top:top + P, left:left + P]
            np.testing.assert_array_equal(stack_to_bayer(raw, data.cfa), turned(mosaic, k))
            # the sensor's colours sit where the CFA says, after the transform too
            colours = sampled(np.broadcast_to(np.arange(3.0), mosaic.shape + (3,)), data.cfa)
            shifted = sampled(np.broadcast_to(np.arange(3.0), (top % 2 + P, left % 2 + P, 3)), data.cfa)[top % 2:, left % 2:]
            np.testing.assert_array_equal(turned(shifted, k), colours)
            found.add(k)
            break
        else:
            raise AssertionError("an augmented patch is no transformed window of a training photo")
    assert len(found) >= 4  # the transforms are drawn, not fixed


def test_the_default_draws_exactly_the_batches_it_drew_before(small_demo):
    plain = next(iter(train_batches(small_demo, P, 4, seed=2)))
    none = next(iter(train_batches(small_demo, P, 4, seed=2, augment="none")))
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(plain, none))


def test_augmenting_needs_two_pixels_to_spare(small_demo):
    data = Dataset(small_demo)
    side = min(min(data.shape(name)) for name in data.train) // 2 * 2
    PatchSampler(data, data.train, side)  # fits without augmenting
    with pytest.raises(DataError, match=f"at most {side - 2} is possible"):
        PatchSampler(data, data.train, side, augment="dihedral")
    with pytest.raises(ValueError, match="augment must be one of none, dihedral; got 'flips'"):
        PatchSampler(data, data.train, P, augment="flips")

"""tf.data patches: alignment, one photo per slot, purity in (seed, step), the variance rule."""
from __future__ import annotations

import numpy as np
import pytest

from nipkit.data.dataset import Dataset
from nipkit.data.dng import write_dng
from nipkit.data.patches import PatchSampler, train_batches, validation_patches
from nipkit.data.prepare import prepare_folder
from nipkit.errors import DataError

P = 32


def take(dataset, count):
    return [(raw.numpy(), rgb.numpy()) for raw, rgb in dataset.take(count)]


def locate(data: Dataset, names, rgb: np.ndarray) -> tuple[str, int, int]:
    """Finds where an rgb patch was cut from, by searching the targets."""
    size = rgb.shape[0]
    for name in names:
        target = data.target(name)
        height, width = target.shape[:2]
        first = np.all(target[: height - size + 1, : width - size + 1] == rgb[0, 0], axis=-1)
        for top, left in np.argwhere(first):
            if np.array_equal(target[top : top + size, left : left + size], rgb):
                return name, int(top), int(left)
    raise AssertionError("patch not found in any photo")


def test_batches_are_aligned_and_take_each_photo_in_turn(small_demo):
    data = Dataset(small_demo)
    batches = take(train_batches(data, P, batch_size=8, seed=0), 2)
    for raw, rgb in batches:
        assert raw.shape == (8, P // 2, P // 2, 4) and rgb.shape == (8, P, P, 3)
        assert raw.dtype == rgb.dtype == np.float32
        sources = []
        for raw_patch, rgb_patch in zip(raw, rgb):
            name, top, left = locate(data, data.train, rgb_patch)
            assert top % 2 == 0 and left % 2 == 0
            np.testing.assert_array_equal(raw_patch, data.bayer(name, (top, left, P, P)))
            sources.append(name)
        # 4 training images, one patch each per pass: every image twice in a batch of 8
        assert sorted(sources[:4]) == sorted(sources[4:]) == sorted(data.train)


def test_per_image_takes_several_patches_of_a_photo(small_demo):
    data = Dataset(small_demo)
    (raw, rgb), = take(train_batches(data, P, batch_size=4, seed=1, per_image=2), 1)
    sources = [locate(data, data.train, patch)[0] for patch in rgb]
    assert sources[0] == sources[1] and sources[2] == sources[3] and sources[0] != sources[2]


def test_batch_k_depends_only_on_seed_and_k(small_demo):
    uninterrupted = take(train_batches(small_demo, P, 4, seed=7), 5)
    resumed = take(train_batches(small_demo, P, 4, seed=7, start_step=3), 2)
    for (raw_a, rgb_a), (raw_b, rgb_b) in zip(uninterrupted[3:], resumed):
        assert np.array_equal(raw_a, raw_b) and np.array_equal(rgb_a, rgb_b)
    other_seed = take(train_batches(small_demo, P, 4, seed=8), 1)
    assert not np.array_equal(other_seed[0][1], uninterrupted[0][1])
    assert not np.array_equal(uninterrupted[0][1], uninterrupted[1][1])


def test_validation_patches_are_fixed_and_aligned(small_demo):
    data = Dataset(small_demo)
    patches = validation_patches(data, P, per_image=5, seed=0)
    assert patches["raw"].shape == (10, P // 2, P // 2, 4) and patches["rgb"].shape == (10, P, P, 3)
    assert patches["image"].tolist() == [0] * 5 + [1] * 5  # two validation photos
    again = validation_patches(small_demo, P, per_image=5, seed=0)
    assert all(np.array_equal(patches[k], again[k]) for k in patches)
    assert not np.array_equal(validation_patches(data, P, 5, seed=1)["rgb"], patches["rgb"])
    for raw, rgb in zip(patches["raw"], patches["rgb"]):
        name, top, left = locate(data, data.validation, rgb)
        np.testing.assert_array_equal(raw, data.bayer(name, (top, left, P, P)))


@pytest.fixture(scope="module")
def half_flat(tmp_path_factory):
    """Three photos whose left half is flat grey and right half is noise."""
    root = tmp_path_factory.mktemp("flat")
    (root / "raw").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        mosaic = rng.integers(64, 4096, size=(160, 160))
        mosaic[:, :80] = 1500
        write_dng(root / "raw" / f"f{i}.dng", mosaic, cfa="rggb", black_level=(64,) * 4, white_level=4095)
    all_flat = root / "raw_flat"
    all_flat.mkdir()
    for i in range(2):
        grey = 1500 + rng.integers(-4, 5, size=(96, 96))  # a grey card has read noise; one value is no photo
        write_dng(all_flat / f"g{i}.dng", grey, cfa="rggb", black_level=(64,) * 4, white_level=4095)
    prepare_folder(root / "raw", root / "data", progress=False)
    prepare_folder(all_flat, root / "flat", progress=False)
    return Dataset(root / "data"), Dataset(root / "flat")


def variances(batches) -> np.ndarray:
    return np.array([patch.var() for _, rgb in batches for patch in rgb])


def test_variance_rule(half_flat):
    data, flat = half_flat
    with_rule = variances(take(train_batches(data, P, 6, seed=0), 5))
    without = variances(take(train_batches(data, P, 6, seed=0, variance_rule=False), 5))
    assert with_rule.min() >= 0.01 and without.min() < 0.01
    # a photo without any varied window still gives patches (the most varied ones)
    flat_patches = variances(take(train_batches(flat, P, 4, seed=0), 2))
    assert flat_patches.shape == (8,) and flat_patches.max() < 0.01
    sampler = PatchSampler(data, data.train, P, variance_rule=(0.0, 0.0))
    assert sampler.rule == (0.0, 0.0)


def test_checks(small_demo):
    with pytest.raises(ValueError, match="patch_size must be an even integer"):
        train_batches(small_demo, 33, 4, seed=0)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        train_batches(small_demo, P, 0, seed=0)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        validation_patches(small_demo, P, 2, seed=-1)
    with pytest.raises(DataError, match="patch size 256 is larger than every photo; at most 160 is possible"):
        validation_patches(small_demo, 256, 2, seed=0)
    with pytest.raises(ValueError, match="variance_rule must be"):
        train_batches(small_demo, P, 4, seed=0, variance_rule=(0.02, 0.01))


def test_the_default_selection_is_every_training_image_and_the_same_batches(small_demo):
    data = Dataset(small_demo)
    assert data.select_train() == data.train
    default = take(train_batches(data, P, 4, seed=5), 2)
    selected = take(train_batches(data, P, 4, seed=5, images=data.select_train("*", None)), 2)
    sampler = PatchSampler(data, data.train, P)  # what train_batches drew from before images existed
    for step, ((raw, rgb), (raw_s, rgb_s)) in enumerate(zip(default, selected)):
        expected_raw, expected_rgb = sampler.batch(5, step, 4)
        assert np.array_equal(raw, raw_s) and np.array_equal(rgb, rgb_s)
        assert np.array_equal(raw, expected_raw) and np.array_equal(rgb, expected_rgb)


def test_excluding_the_scenes_draws_only_from_the_demo_photos(demo_data):
    data = Dataset(demo_data)
    photos = data.select_train(exclude="scene_*")
    assert photos == [n for n in data.train if not n.startswith("scene_")] and len(photos) == 5
    assert data.select_train(["rocket", "astro*", "nothing*"]) == ["astronaut", "rocket"]  # in the dataset's order
    assert data.select_train("*", ["scene_*", "china"]) == [n for n in photos if n != "china"]
    batches = take(train_batches(data, P, 10, seed=0, images=photos), 2)
    for step, (raw, rgb) in enumerate(batches):
        sources = [locate(data, photos, patch)[0] for patch in rgb]
        assert sorted(sources) == sorted(photos * 2)  # 5 photos, one patch each per pass
        expected_raw, expected_rgb = PatchSampler(data, photos, P).batch(0, step, 10)
        assert np.array_equal(raw, expected_raw) and np.array_equal(rgb, expected_rgb)


def test_a_selection_that_leaves_no_training_image_is_one_line(small_demo):
    data = Dataset(small_demo)
    with pytest.raises(DataError) as error:
        data.select_train("astro*", ["scene_*", "astronaut"])
    message = str(error.value)
    assert "\n" not in message and message == (
        f"{small_demo}: train_images ['astro*'] and exclude_images ['scene_*', 'astronaut'] "
        "leave none of its 4 training images")

"""The embedded demo cameras: unprocessing, generated scenes, DNG output, the split,
caching and resolve_data."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from skimage.color import rgb2hsv

from nipkit.cfa import bayer_to_stack
from nipkit.data.dataset import Dataset, resolve_data
from nipkit.data.demo import (
    DEFAULT_SCENES,
    DEMO_CAMERAS,
    DEMO_PHOTOS,
    DEMO_VALIDATION,
    DEMO_VERSION,
    build_demo,
    demo_root,
    demo_scene,
    inverse_tone_curve,
    load_photo,
    unprocess,
)
from nipkit.data.raw import read_raw
from nipkit.errors import ConfigError, DataError


def test_inverse_tone_curve_undoes_smoothstep():
    x = np.linspace(0, 1, 101)
    np.testing.assert_allclose(inverse_tone_curve(3 * x**2 - 2 * x**3), x, atol=1e-6)


def test_photos_ship_with_installed_packages():
    sizes = {name: load_photo(name).shape for name in DEMO_PHOTOS}
    assert all(len(shape) == 3 and shape[2] == 3 for shape in sizes.values())
    assert 2.3e6 < sum(h * w for h, w, _ in sizes.values()) < 2.7e6


def test_cameras_differ():
    a, b = DEMO_CAMERAS
    assert a.cfa != b.cfa and a.white_level != b.white_level and a.black_level != b.black_level
    assert not np.allclose(a.camera_from_srgb, b.camera_from_srgb)
    for camera in DEMO_CAMERAS:
        np.testing.assert_allclose(np.sum(camera.camera_from_srgb, axis=1), 1.0)


def test_unprocess_without_noise_is_the_brooks_chain(positions):
    camera = DEMO_CAMERAS[1]
    srgb = np.random.default_rng(0).random((8, 10, 3))
    sensor, wb = unprocess(srgb, camera, np.random.default_rng(5), noise=False, optics=False)
    assert 1.9 <= wb[0] <= 2.4 and wb[1] == 1.0 and 1.5 <= wb[2] <= 1.9
    # the same chain written as one expression per pixel
    linear = (0.5 - np.sin(np.arcsin(1 - 2 * srgb) / 3)) ** 2.2
    camera_rgb = np.clip(np.einsum("ij,hwj->hwi", np.asarray(camera.camera_from_srgb), linear), 0, 1) / np.asarray(wb)
    for (row, col), colour, black in zip(positions[camera.cfa], (0, 1, 1, 2), camera.black_level):
        values = camera_rgb[row::2, col::2, colour]
        expected = np.round(black + values * (camera.white_level - black))
        assert np.array_equal(sensor[row::2, col::2], expected)


def test_optics_blur_attenuates_stripes_like_a_gaussian():
    camera = DEMO_CAMERAS[0]
    period, sigma = 8, camera.optical_blur
    x = np.arange(64)
    srgb = np.broadcast_to((0.5 + 0.2 * np.sin(2 * np.pi * x / period))[None, :, None], (16, 64, 3))
    sharp, _ = unprocess(srgb, camera, np.random.default_rng(0), noise=False, optics=False)
    blurred, _ = unprocess(srgb, camera, np.random.default_rng(0), noise=False, optics=True)

    def fundamental(sensor):  # red samples sit on every other column: period / 2 samples
        row = sensor[8, 0::2].astype(float)
        return np.abs(np.fft.rfft(row - row.mean()))[len(row) * 2 // period]

    # a Gaussian of σ px passes a sinusoid of frequency f by exp(-2 π² σ² f²)
    expected = np.exp(-2 * np.pi**2 * sigma**2 / period**2)
    assert fundamental(blurred) / fundamental(sharp) == pytest.approx(expected, rel=0.03)
    assert blurred.mean() == pytest.approx(sharp.mean(), rel=0.01)


def test_noise_follows_the_seed():
    camera = DEMO_CAMERAS[0]
    srgb = np.full((32, 32, 3), 0.5)
    one, _ = unprocess(srgb, camera, np.random.default_rng(1))
    again, _ = unprocess(srgb, camera, np.random.default_rng(1))
    other, _ = unprocess(srgb, camera, np.random.default_rng(2))
    assert np.array_equal(one, again) and not np.array_equal(one, other)
    assert one.std() > 0


def test_demo_dngs_are_read_like_real_files(tmp_path):
    built = build_demo(tmp_path, seed=0, scenes=1, limit=2, max_size=96, progress=False)
    assert list(built) == ["sim-a", "sim-b"]
    for camera in DEMO_CAMERAS:
        raw = read_raw(tmp_path / "raw" / camera.name / "astronaut.dng")
        assert raw.camera == f"nipkit {camera.model}" and raw.cfa == camera.cfa
        assert raw.black_level == tuple(map(float, camera.black_level)) and raw.white_level == camera.white_level
        data = Dataset(built[camera.name])
        assert data.cfa == camera.cfa and data.images == ["astronaut", "chelsea", "scene_0000"]
        assert np.array_equal(data.bayer("astronaut"), raw.bayer)
        assert data.shape("astronaut") == (96, 96)


def test_scenes_take_the_real_dng_path(tmp_path):
    camera = DEMO_CAMERAS[1]
    built = build_demo(tmp_path, seed=4, scenes=3, cameras=[camera.name], limit=2, max_size=96, progress=False)
    data = Dataset(built[camera.name])
    assert data.train == ["astronaut", "scene_0000", "scene_0001", "scene_0002"] and data.validation == ["chelsea"]
    textures = [load_photo("astronaut").astype(np.float64) / 255.0]  # the only training photo of the two
    for index in (0, 2):
        path = tmp_path / "raw" / camera.name / f"scene_{index:04d}.dng"
        with tifffile.TiffFile(path) as tif:  # written by tifffile as a DNG
            assert tuple(tif.pages[0].tags["DNGVersion"].value) == (1, 4, 0, 0)
        raw = read_raw(path)  # read by libraw through rawpy
        assert raw.camera == f"nipkit {camera.model}" and raw.cfa == camera.cfa
        rng = np.random.default_rng([4, 1, len(DEMO_PHOTOS) + index])
        sensor, wb = unprocess(demo_scene(index, 4, textures, 96), camera, rng)
        assert np.array_equal(raw.sensor, bayer_to_stack(sensor, camera.cfa))  # bit for bit
        assert raw.wb == pytest.approx(wb, rel=1e-6)
        assert np.array_equal(data.bayer(f"scene_{index:04d}"), raw.bayer) and data.shape(f"scene_{index:04d}") == (96, 96)


def test_scenes_follow_the_seed():
    textures = [load_photo("rocket").astype(np.float64) / 255.0]
    one = demo_scene(0, 0, textures, 64)
    assert one.shape == (64, 64, 3) and 0.0 <= one.min() and one.max() <= 1.0
    assert np.array_equal(one, demo_scene(0, 0, textures, 64))
    assert not np.allclose(one, demo_scene(1, 0, textures, 64))
    assert not np.allclose(one, demo_scene(0, 1, textures, 64))


def test_split_keeps_four_photos_for_validation_and_the_stereo_pair_together():
    assert len(DEMO_VALIDATION) == 4 and set(DEMO_VALIDATION) < set(DEMO_PHOTOS)
    assert ("motorcycle_left" in DEMO_VALIDATION) == ("motorcycle_right" in DEMO_VALIDATION)


def saturated_shares(data: Dataset, names: list[str]) -> np.ndarray:
    """Per sixth of the hue circle, the share of all pixels of the targets of `names` that
    are saturated (HSV saturation >= 0.8 at value >= 0.2) with a hue in it."""
    counts, total = np.zeros(6), 0
    for name in names:
        hsv = rgb2hsv(data.target(name)).reshape(-1, 3)
        vivid = (hsv[:, 1] >= 0.8) & (hsv[:, 2] >= 0.2)
        counts += np.bincount(np.minimum((hsv[vivid, 0] * 6).astype(int), 5), minlength=6)
        total += len(hsv)
    return counts / total


def test_scenes_cover_the_saturated_colours_the_training_photos_lack(demo_data):
    data = Dataset(demo_data)  # the default demo camera, as `data: demo` builds it
    scenes = [name for name in data.train if name.startswith("scene_")]
    photos = [name for name in data.train if not name.startswith("scene_")]
    assert len(scenes) == DEFAULT_SCENES and sorted(photos + list(DEMO_VALIDATION)) == sorted(DEMO_PHOTOS)
    in_scenes, in_photos = saturated_shares(data, scenes), saturated_shares(data, photos)
    assert in_scenes.sum() > 0.08 and in_scenes.sum() > 5 * in_photos.sum()
    assert in_scenes.min() > 0.01  # every sixth of the hue circle is there
    assert np.sum(in_photos < 0.001) >= 4  # the training photos lack most of them


def test_bad_scene_counts():
    for scenes in (0, -1, 1001, 2.0, True):
        with pytest.raises(ConfigError, match="demo scenes must be an integer from 1 to 1000"):
            build_demo("unused", scenes=scenes)


def test_a_folder_built_otherwise_is_refused(tmp_path):
    build_demo(tmp_path, seed=0, scenes=1, cameras=["sim-a"], limit=2, max_size=64, progress=False)
    with pytest.raises(DataError, match="holds demo .*'scenes': 1.*, not demo .*'scenes': 2.*; delete the folder"):
        build_demo(tmp_path, seed=0, scenes=2, cameras=["sim-a"], limit=2, max_size=64, progress=False)
    again = build_demo(tmp_path, seed=0, scenes=1, cameras=["sim-b"], limit=2, max_size=64, progress=False)
    assert Dataset(again["sim-b"]).images == ["astronaut", "chelsea", "scene_0000"]


def test_resolve_data(tmp_path, monkeypatch):
    monkeypatch.setenv("NIPKIT_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "cache" / f"demo-v{DEMO_VERSION}-seed0-scenes{DEFAULT_SCENES}"
    assert demo_root() == root
    stale = root / "sim-b"  # a cache left by a build with other options: rebuilt, never reused
    stale.mkdir(parents=True)
    (root / "demo.json").write_text(json.dumps({"version": DEMO_VERSION - 1, "seed": 0}))
    (stale / "stale.txt").write_text("old")
    path = resolve_data("demo:sim-b")
    assert path == root / "sim-b" and not (stale / "stale.txt").exists()
    index = json.loads((path / "dataset.json").read_text())
    assert index["cfa"] == "bggr" and len(index["images"]) == len(DEMO_PHOTOS) + DEFAULT_SCENES
    assert index["validation"] == sorted(DEMO_VALIDATION) and len(index["train"]) == 5 + DEFAULT_SCENES
    stamp = (path / "dataset.json").stat().st_mtime_ns
    assert resolve_data("demo:sim-b") == path and (path / "dataset.json").stat().st_mtime_ns == stamp
    assert resolve_data(str(path)) == path and resolve_data(path) == path
    assert not (root / "sim-a").exists()

    with pytest.raises(DataError, match="demo camera 'sim-z' does not exist; allowed: sim-a, sim-b"):
        resolve_data("demo:sim-z")
    with pytest.raises(DataError, match=r"not a prepared dataset .*allowed: 'demo', 'demo:sim-a', 'demo:sim-b'"):
        resolve_data(tmp_path / "nothing")

"""The embedded demo cameras: unprocessing, DNG output, caching and resolve_data."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nipkit.data.dataset import Dataset, resolve_data
from nipkit.data.demo import (
    DEMO_CAMERAS,
    DEMO_PHOTOS,
    build_demo,
    inverse_tone_curve,
    load_photo,
    unprocess,
)
from nipkit.data.raw import read_raw
from nipkit.errors import DataError


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
    built = build_demo(tmp_path, seed=0, limit=2, max_size=96, progress=False)
    assert list(built) == ["sim-a", "sim-b"]
    for camera in DEMO_CAMERAS:
        raw = read_raw(tmp_path / "raw" / camera.name / "astronaut.dng")
        assert raw.camera == f"nipkit {camera.model}" and raw.cfa == camera.cfa
        assert raw.black_level == tuple(map(float, camera.black_level)) and raw.white_level == camera.white_level
        data = Dataset(built[camera.name])
        assert data.cfa == camera.cfa and data.images == ["astronaut", "chelsea"]
        assert np.array_equal(data.bayer("astronaut"), raw.bayer)
        assert data.shape("astronaut") == (96, 96)


def test_resolve_data(tmp_path, monkeypatch):
    monkeypatch.setenv("NIPKIT_CACHE", str(tmp_path / "cache"))
    path = resolve_data("demo:sim-b")
    assert path == tmp_path / "cache" / "demo-v2-seed0" / "sim-b"
    index = json.loads((path / "dataset.json").read_text())
    assert index["cfa"] == "bggr" and len(index["images"]) == len(DEMO_PHOTOS)
    assert (len(index["train"]), len(index["validation"])) == (7, 2)
    stamp = (path / "dataset.json").stat().st_mtime_ns
    assert resolve_data("demo:sim-b") == path and (path / "dataset.json").stat().st_mtime_ns == stamp
    assert resolve_data(str(path)) == path and resolve_data(path) == path
    assert not (tmp_path / "cache" / "demo-v2-seed0" / "sim-a").exists()

    with pytest.raises(DataError, match="demo camera 'sim-z' does not exist; allowed: sim-a, sim-b"):
        resolve_data("demo:sim-z")
    with pytest.raises(DataError, match=r"not a prepared dataset .*allowed: 'demo', 'demo:sim-a', 'demo:sim-b'"):
        resolve_data(tmp_path / "nothing")

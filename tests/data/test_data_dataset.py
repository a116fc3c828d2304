"""Reading a prepared dataset: lazy, memory-mapped, normalised windows."""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from nipkit.data.dataset import Dataset
from nipkit.errors import DataError


def test_contents(small_demo):
    data = Dataset(small_demo)
    assert data.camera == "nipkit Sim A 12-bit" and data.cfa == "rggb" and len(data) == 6
    assert sorted(data.train + data.validation) == data.images and not set(data.train) & set(data.validation)
    name = data.images[0]
    assert isinstance(data.sensor(name), np.memmap) and isinstance(data.target_pixels(name), np.memmap)
    bayer, target = data.bayer(name), data.target(name)
    assert bayer.dtype == target.dtype == np.float32
    assert bayer.shape == (80, 80, 4) and target.shape == (160, 160, 3)
    assert 0 <= bayer.min() and bayer.max() <= 1 and 0 <= target.min() and target.max() <= 1
    np.testing.assert_allclose(target, data.target_pixels(name) / 255, atol=1e-7)  # 8-bit target
    window = (32, 48, 64, 96)
    np.testing.assert_array_equal(data.bayer(name, window), bayer[16:48, 24:72])
    np.testing.assert_array_equal(data.target(name, window), target[32:96, 48:144])
    meta = data.meta(name)
    assert meta["cfa"] == "rggb" and meta["white_level"] == 4095 and len(meta["black_level"]) == 4
    assert Dataset.open(small_demo).images == data.images
    assert "train=4, validation=2" in repr(data)


def test_errors(small_demo, tmp_path):
    with pytest.raises(DataError, match="not a prepared dataset"):
        Dataset(tmp_path)
    (tmp_path / "dataset.json").write_text("{nope")
    with pytest.raises(DataError, match="dataset.json: unreadable"):
        Dataset(tmp_path)
    (tmp_path / "dataset.json").write_text('{"format": "other"}')
    with pytest.raises(DataError, match="not a nipkit dataset index"):
        Dataset(tmp_path)

    copy = tmp_path / "copy"
    shutil.copytree(small_demo, copy)
    data = Dataset(copy)
    with pytest.raises(DataError, match="no image 'nobody'"):
        data.bayer("nobody")
    name = data.images[0]
    (copy / "bayer" / f"{name}.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"bayer/.*\.npy: unreadable"):
        data.bayer(name)
    np.save(copy / "target" / f"{name}.npy", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(DataError, match=r"shape \(2, 2, 3\), expected \(160, 160, 3\)"):
        data.target(name)


def test_importing_nipkit_data_stays_light():
    code = "import sys, nipkit.data; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]

"""Reading a prepared dataset (see `nipkit.data.prepare`), lazily and memory-mapped.

Nothing is loaded when a Dataset opens: each photo's arrays are memory-mapped on first
use, and `bayer` / `target` normalise only the window asked for, so 120 full-resolution
photos cost page cache, not process memory.

Example:
    >>> data = Dataset.open("demo")  # doctest: +SKIP
    >>> name = data.train[0]  # doctest: +SKIP
    >>> data.bayer(name).shape, data.target(name, window=(0, 0, 128, 128)).shape  # doctest: +SKIP
    ((256, 256, 4), (128, 128, 3))
"""
from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Sequence

import numpy as np

from nipkit.data.prepare import DATASET_FILE, DATASET_FORMAT
from nipkit.data.raw import normalise
from nipkit.errors import DataError

__all__ = ["Dataset", "resolve_data"]

Window = tuple[int, int, int, int]  # top, left, height, width in full-resolution pixels
Globs = str | Sequence[str]  # one fnmatch glob or several


def resolve_data(spec: str | Path) -> Path:
    """The prepared dataset folder a data spec names.

    Args:
        spec: `demo` (the first demo camera, built on first use), `demo:<camera>`, or a
            folder holding dataset.json. A folder literally called `demo` is `./demo`.

    Example:
        >>> resolve_data("demo:sim-b")  # doctest: +SKIP
        PosixPath('/home/me/.cache/nipkit/demo-v3-seed0-scenes64/sim-b')
    """
    text = str(spec)
    if text == "demo" or text.startswith("demo:"):
        from nipkit.data.demo import demo_dataset

        return demo_dataset(text.partition(":")[2] or None)
    path = Path(text).expanduser()
    if (path / DATASET_FILE).is_file():
        return path
    from nipkit.data.demo import DEMO_CAMERAS

    cameras = ", ".join(f"'demo:{c.name}'" for c in DEMO_CAMERAS)
    raise DataError(
        f"data {text!r}: not a prepared dataset (no {path / DATASET_FILE}); allowed: 'demo', {cameras}, "
        "or a folder written by `nipkit data prepare`"
    )


def _glob_list(globs: Globs | None) -> list[str]:
    return [] if globs is None else [globs] if isinstance(globs, str) else list(globs)


class Dataset:
    """A prepared dataset: one camera's photos, targets and split.

    Args:
        path: the dataset folder (with dataset.json).

    Attributes:
        path: the folder.
        camera: the camera's name.
        cfa: the CFA of every photo.
        images: all image names.
        train: training image names.
        validation: validation image names.
        target_spec: how targets were developed (kind, algorithm, bits).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        index = self.path / DATASET_FILE
        if not index.is_file():
            raise DataError(
                f"{self.path}: not a prepared dataset (no {DATASET_FILE}); write one with "
                "`nipkit data prepare` or `nipkit data demo`"
            )
        try:
            info = json.loads(index.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{index}: unreadable ({exc})") from None
        if not isinstance(info, dict) or info.get("format") != DATASET_FORMAT:
            raise DataError(f"{index}: not a nipkit dataset index (format {DATASET_FORMAT!r} expected)")
        self.info = info
        self.camera: str = info["camera"]
        self.cfa: str = info["cfa"]
        self.images: list[str] = list(info["images"])
        self.train: list[str] = list(info["train"])
        self.validation: list[str] = list(info["validation"])
        self.target_spec: dict = dict(info["target"])
        self._meta: dict[str, dict] = {}
        self._arrays: dict[tuple[str, str], np.ndarray] = {}

    @classmethod
    def open(cls, spec: str | Path) -> "Dataset":
        """Opens the dataset a data spec names (see `resolve_data`)."""
        return cls(resolve_data(spec))

    def __len__(self) -> int:
        return len(self.images)

    def select_train(self, images: Globs = "*", exclude: Globs | None = None) -> list[str]:
        """The training images whose names match a glob of `images` and none of `exclude`,
        in the order of `train` (fnmatch globs, case-sensitive).

        Raises:
            DataError: no training image is left.

        Example:
            >>> Dataset.open("demo").select_train(exclude="scene_*")  # doctest: +SKIP
            ['astronaut', 'china', 'motorcycle_left', 'motorcycle_right', 'rocket']
        """
        take, leave = _glob_list(images), _glob_list(exclude)
        names = [n for n in self.train if any(fnmatchcase(n, g) for g in take) and not any(fnmatchcase(n, g) for g in leave)]
        if not names:
            raise DataError(f"{self.path}: train_images {take} and exclude_images {leave} leave none of its "
                            f"{len(self.train)} training images")
        return names

    def __repr__(self) -> str:
        return (
            f"Dataset({str(self.path)!r}, camera={self.camera!r}, cfa={self.cfa!r}, "
            f"train={len(self.train)}, validation={len(self.validation)})"
        )

    def _check_name(self, name: str) -> None:
        if name not in self._meta and name not in self.images:
            raise DataError(f"{self.path}: no image {name!r} in this dataset")

    def meta(self, name: str) -> dict:
        """The photo's metadata: source, shape, black/white levels, wb, colour matrix."""
        if name not in self._meta:
            self._check_name(name)
            path = self.path / "meta" / f"{name}.json"
            try:
                self._meta[name] = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise DataError(f"{path}: unreadable ({exc}); re-run `nipkit data prepare`") from None
        return self._meta[name]

    def shape(self, name: str) -> tuple[int, int]:
        """(height, width) of the photo at full resolution."""
        meta = self.meta(name)
        return meta["height"], meta["width"]

    def _array(self, name: str, kind: str, shape: tuple[int, ...]) -> np.ndarray:
        key = (name, kind)
        if key not in self._arrays:
            path = self.path / kind / f"{name}.npy"
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise DataError(f"{path}: unreadable ({exc}); re-run `nipkit data prepare`") from None
            if array.shape != shape:
                raise DataError(f"{path}: shape {array.shape}, expected {shape}; re-run `nipkit data prepare`")
            self._arrays[key] = array
        return self._arrays[key]

    def sensor(self, name: str) -> np.ndarray:
        """The memory-mapped uint16 (h/2, w/2, 4) sensor values, channels R, Gr, Gb, B."""
        height, width = self.shape(name)
        return self._array(name, "bayer", (height // 2, width // 2, 4))

    def target_pixels(self, name: str) -> np.ndarray:
        """The memory-mapped uint8/uint16 (h, w, 3) target."""
        return self._array(name, "target", (*self.shape(name), 3))

    def bayer(self, name: str, window: Window | None = None) -> np.ndarray:
        """The pre-processed RAW stack, float32 (h/2, w/2, 4) in [0, 1].

        Args:
            name: the image.
            window: (top, left, height, width) in full-resolution pixels, all even; the
                whole photo when None.
        """
        sensor = self.sensor(name)
        if window is not None:
            top, left, height, width = window
            sensor = sensor[top // 2 : (top + height) // 2, left // 2 : (left + width) // 2]
        meta = self.meta(name)
        return normalise(sensor, meta["black_level"], meta["white_level"], meta["wb"])

    def target(self, name: str, window: Window | None = None) -> np.ndarray:
        """The target, float32 (h, w, 3) in [0, 1].

        Args:
            name: the image.
            window: (top, left, height, width) in full-resolution pixels; the whole photo
                when None.
        """
        pixels = self.target_pixels(name)
        if window is not None:
            top, left, height, width = window
            pixels = pixels[top : top + height, left : left + width]
        scale = np.float32(1.0 / np.iinfo(pixels.dtype).max)
        return pixels.astype(np.float32) * scale

"""The embedded default dataset: natural photos "unprocessed" into synthetic DNG cameras.

Nothing is downloaded. Nine photos shipped inside installed packages (DEMO_PHOTOS:
scikit-image's astronaut, chelsea, coffee, rocket and the left/right motorcycle stereo
pair; scikit-learn's china and flower; matplotlib's grace_hopper; about 2.5 MP in all,
each cropped to even sides) are turned into sensor data following Brooks et al.
(CVPR 2019): inverse tone curve 0.5 − sin(asin(1 − 2x)/3), inverse gamma (x^2.2), the
camera's inverse colour matrix, inverse white-balance gains (red 1.9–2.4, blue 1.5–1.9),
the camera's optics (a Gaussian blur of σ = 1 px), mosaicking to the camera's CFA, and
the shot/read noise of a camera at low ISO (shot in [1e-4, 1e-3] log-uniform, log read =
2.18·log shot + 1.2 + N(0, 0.26)). Each photo becomes a real DNG that libraw reads bit for
bit, and each camera's folder of DNGs is prepared by exactly the code that
prepares real RAW photos. No flipped or cropped copies are added: every camera has the
same nine photos, with its own gains and noise.

Everything is a pure function of the seed. `demo_dataset` keeps the result under the
user's cache folder (`platformdirs.user_cache_dir("nipkit")`, or $NIPKIT_CACHE).

Example:
    >>> path = demo_dataset("sim-b")  # doctest: +SKIP
    >>> build_demo("out/demo", seed=1)  # doctest: +SKIP
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from nipkit.data.dng import write_dng
from nipkit.data.prepare import DATASET_FILE, prepare_folder
from nipkit.files import atomic_write
from nipkit.cfa import sample_positions, stack_to_bayer
from nipkit.data.raw import XYZ_FROM_SRGB
from nipkit.errors import DataError

__all__ = [
    "DEMO_VERSION",
    "DEMO_PHOTOS",
    "DEMO_CAMERAS",
    "VirtualCamera",
    "cache_dir",
    "demo_root",
    "load_photo",
    "inverse_tone_curve",
    "unprocess",
    "build_demo",
    "demo_dataset",
]

DEMO_VERSION = 2  # bump when the demo's output changes, so old caches are not reused
DEMO_PHOTOS = (
    "astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "motorcycle_right",
    "china", "flower", "grace_hopper",
)
MAKE = "nipkit"


@dataclass(frozen=True)
class VirtualCamera:
    """A synthetic camera.

    Attributes:
        name: its short name (`demo:<name>`).
        model: the TIFF Model written to its DNGs (Make is "nipkit").
        cfa: its CFA.
        black_level: black level of R, Gr, Gb and B.
        white_level: the saturation value.
        camera_from_srgb: (3, 3) linear sRGB -> camera RGB, rows summing to 1.
        optical_blur: σ in pixels of the Gaussian point spread standing in for the lens and
            the anti-aliasing filter (the bundled photos are sharper per pixel than what
            a real sensor records).
    """

    name: str
    model: str
    cfa: str
    black_level: tuple[int, int, int, int]
    white_level: int
    camera_from_srgb: tuple[tuple[float, float, float], ...]
    optical_blur: float = 1.0

    @property
    def xyz_to_camera(self) -> np.ndarray:
        """The DNG ColorMatrix1 (XYZ -> camera) that gives back `camera_from_srgb`."""
        return np.asarray(self.camera_from_srgb) @ np.linalg.inv(XYZ_FROM_SRGB)


DEMO_CAMERAS = (
    VirtualCamera(
        "sim-a", "Sim A 12-bit", "rggb", (256, 254, 258, 255), 4095,
        ((0.74, 0.22, 0.04), (0.10, 0.80, 0.10), (0.03, 0.21, 0.76)),
    ),
    VirtualCamera(
        "sim-b", "Sim B 14-bit", "bggr", (1024, 1019, 1027, 1022), 16383,
        ((0.66, 0.30, 0.04), (0.07, 0.84, 0.09), (0.05, 0.27, 0.68)),
    ),
)


def cache_dir() -> Path:
    """nipkit's cache folder: $NIPKIT_CACHE, else the platform's user cache folder."""
    override = os.environ.get("NIPKIT_CACHE")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("nipkit"))


def demo_root(seed: int = 0) -> Path:
    """Where `demo_dataset` keeps the demo built with `seed`."""
    return cache_dir() / f"demo-v{DEMO_VERSION}-seed{seed}"


def _camera(name: str) -> VirtualCamera:
    for camera in DEMO_CAMERAS:
        if camera.name == name:
            return camera
    allowed = ", ".join(c.name for c in DEMO_CAMERAS)
    raise DataError(f"demo camera {name!r} does not exist; allowed: {allowed}")


def load_photo(name: str) -> np.ndarray:
    """One of DEMO_PHOTOS as uint8 (h, w, 3), read from the package that ships it."""
    if name in ("astronaut", "chelsea", "coffee", "rocket"):
        import skimage.data

        return getattr(skimage.data, name)()
    if name in ("motorcycle_left", "motorcycle_right"):
        import skimage.data

        left, right, _ = skimage.data.stereo_motorcycle()
        return left if name == "motorcycle_left" else right
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    if name == "grace_hopper":
        from matplotlib import cbook
        from PIL import Image

        with cbook.get_sample_data("grace_hopper.jpg") as handle:  # type: ignore[union-attr]  # a file object
            return np.asarray(Image.open(handle).convert("RGB"))
    raise ValueError(f"unknown demo photo {name!r}; allowed: {', '.join(DEMO_PHOTOS)}")


def inverse_tone_curve(image: np.ndarray) -> np.ndarray:
    """Undoes the smoothstep tone curve 3x² − 2x³: 0.5 − sin(asin(1 − 2x)/3)."""
    image = np.clip(image, 0.0, 1.0)
    return 0.5 - np.sin(np.arcsin(1.0 - 2.0 * image) / 3.0)


def _mosaic(image: np.ndarray, cfa: str) -> np.ndarray:
    """Keeps, at each pixel, the colour the CFA lets through."""
    mosaic = np.empty(image.shape[:2], dtype=image.dtype)
    for (r, c), colour in zip(sample_positions(cfa), (0, 1, 1, 2)):
        mosaic[r::2, c::2] = image[r::2, c::2, colour]
    return mosaic


def unprocess(
    srgb: np.ndarray, camera: VirtualCamera, rng: np.random.Generator, noise: bool = True, optics: bool = True
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Turns an sRGB photo into the sensor values `camera` would have recorded.

    Args:
        srgb: float (h, w, 3) in [0, 1].
        camera: the virtual camera.
        rng: draws the white-balance gains, then the noise levels and the noise.
        noise: add shot/read noise.
        optics: blur with the camera's point spread (`camera.optical_blur`).

    Returns:
        (uint16 (h, w) sensor values with the camera's black and white levels, the
        white-balance gains (R, 1, B) the camera records).
    """
    linear = np.maximum(inverse_tone_curve(srgb), 1e-8) ** 2.2
    camera_rgb = np.clip(linear @ np.asarray(camera.camera_from_srgb).T, 0.0, 1.0)
    if optics:
        sigma = (camera.optical_blur, camera.optical_blur, 0.0)
        camera_rgb = ndimage.gaussian_filter(camera_rgb, sigma=sigma, mode="reflect")
    wb = (float(rng.uniform(1.9, 2.4)), 1.0, float(rng.uniform(1.5, 1.9)))
    mosaic = _mosaic(camera_rgb / np.asarray(wb), camera.cfa)
    if noise:
        log_shot = rng.uniform(np.log(1e-4), np.log(1e-3))
        log_read = 2.18 * log_shot + 1.20 + rng.normal(0.0, 0.26)
        variance = np.exp(log_shot) * mosaic + np.exp(log_read)
        mosaic = mosaic + rng.normal(0.0, 1.0, mosaic.shape) * np.sqrt(variance)
    height, width = mosaic.shape
    tiles = np.broadcast_to(np.asarray(camera.black_level, dtype=np.float64), (-(-height // 2), -(-width // 2), 4))
    black = stack_to_bayer(tiles, camera.cfa)[:height, :width]
    sensor = np.round(black + mosaic * (camera.white_level - black))
    return np.clip(sensor, 0, camera.white_level).astype(np.uint16), wb


def _fit(photo: np.ndarray, max_size: int | None) -> np.ndarray:
    """Crops to even sides, and to the central max_size × max_size at most."""
    height, width = photo.shape[:2]
    if max_size is not None:
        height, width = min(height, max_size), min(width, max_size)
    height, width = height // 2 * 2, width // 2 * 2
    top, left = (photo.shape[0] - height) // 2, (photo.shape[1] - width) // 2
    return photo[top : top + height, left : left + width]


def _write_camera_dngs(
    folder: Path, camera: VirtualCamera, seed: int, photos: Sequence[str], max_size: int | None, progress: bool
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    index = DEMO_CAMERAS.index(camera)
    for photo in tqdm(photos, desc=f"demo {camera.name}: DNGs", unit="photo", disable=not progress, file=sys.stderr):
        rng = np.random.default_rng([seed, index, DEMO_PHOTOS.index(photo)])
        srgb = _fit(load_photo(photo), max_size).astype(np.float64) / 255.0
        sensor, wb = unprocess(srgb, camera, rng)
        atomic_write(
            folder / f"{photo}.dng",
            lambda tmp: write_dng(
                tmp, sensor, cfa=camera.cfa, black_level=camera.black_level, white_level=camera.white_level,
                wb=wb, color_matrix=camera.xyz_to_camera, make=MAKE, model=camera.model,
            ),
        )


def build_demo(
    out: str | Path,
    seed: int = 0,
    *,
    cameras: Sequence[str] | None = None,
    limit: int | None = None,
    max_size: int | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Writes the demo cameras' DNGs to out/raw/<camera>/ and prepares each into out/<camera>/.

    Args:
        out: the folder to write.
        seed: the seed of every random draw (gains, noise, split).
        cameras: names of the cameras to build; all of DEMO_CAMERAS when None.
        limit: use only the first `limit` photos (quick checks).
        max_size: crop each photo to its central max_size × max_size at most (quick checks).
        progress: show progress bars on stderr.

    Returns:
        {camera name: its prepared dataset folder}.
    """
    out = Path(out)
    chosen = [_camera(name) for name in cameras] if cameras else list(DEMO_CAMERAS)
    photos = DEMO_PHOTOS[:limit] if limit else DEMO_PHOTOS
    if len(photos) < 2:
        raise ValueError(f"the demo needs at least 2 photos; got limit={limit}")
    if max_size is not None and max_size < 32:
        raise ValueError(f"max_size must be at least 32 pixels; got {max_size}")
    prepared = {}
    for camera in chosen:
        raw_folder = out / "raw" / camera.name
        _write_camera_dngs(raw_folder, camera, seed, photos, max_size, progress)
        prepare_folder(raw_folder, out / camera.name, seed=seed, progress=progress)
        prepared[camera.name] = out / camera.name
    return prepared


def demo_dataset(camera: str | None = None, seed: int = 0) -> Path:
    """The prepared demo dataset of one camera, built into the cache on first use.

    Args:
        camera: a DEMO_CAMERAS name; the first one when None.
        seed: the demo's seed.
    """
    name = _camera(camera).name if camera else DEMO_CAMERAS[0].name
    root = demo_root(seed)
    if not (root / name / DATASET_FILE).is_file():
        build_demo(root, seed, cameras=[name])
    return root / name

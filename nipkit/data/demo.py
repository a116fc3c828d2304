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

The photos have few saturated colours, so training also gets `scenes` generated
dead-leaves scenes (`nipkit.data.dead_leaves`, SCENE_SIZE pixels square) that go through
the same unprocessing, optics, noise, DNG files and preparation. Their textured discs are
cut from the training photos only, so no validation photo leaks into training.

The split is fixed (DEMO_VALIDATION): chelsea, coffee, flower and grace_hopper validate;
astronaut, rocket, china, both motorcycle photos (one stereo pair, kept on one side) and
every scene train.

Everything is a pure function of the seed and the options. `demo_dataset` keeps the
result under the user's cache folder (`platformdirs.user_cache_dir("nipkit")`, or
$NIPKIT_CACHE), in a folder named after DEMO_VERSION, the seed and the scene count. Each
demo folder records how it was built in demo.json; a folder built by an older nipkit or
with other options is never reused: the cache is rebuilt, and `build_demo` into another
folder refuses it.

Example:
    >>> path = demo_dataset("sim-b")  # doctest: +SKIP
    >>> build_demo("out/demo", seed=1, scenes=16)  # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from nipkit.data.dead_leaves import dead_leaves
from nipkit.data.dng import write_dng
from nipkit.data.prepare import DATASET_FILE, prepare_folder
from nipkit.files import atomic_write
from nipkit.cfa import sample_positions, stack_to_bayer
from nipkit.data.raw import XYZ_FROM_SRGB
from nipkit.errors import ConfigError, DataError

__all__ = [
    "DEMO_VERSION",
    "DEMO_PHOTOS",
    "DEMO_VALIDATION",
    "DEMO_CAMERAS",
    "DEFAULT_SCENES",
    "MAX_SCENES",
    "SCENE_SIZE",
    "DEMO_MANIFEST",
    "check_scenes",
    "scene_names",
    "VirtualCamera",
    "cache_dir",
    "demo_root",
    "load_photo",
    "inverse_tone_curve",
    "unprocess",
    "demo_scene",
    "demo_split",
    "build_demo",
    "demo_dataset",
]

DEMO_VERSION = 3  # bump when the demo's output changes, so old caches are not reused
DEMO_PHOTOS = (
    "astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "motorcycle_right",
    "china", "flower", "grace_hopper",
)
DEMO_VALIDATION = ("chelsea", "coffee", "flower", "grace_hopper")
DEFAULT_SCENES = 64
MAX_SCENES = 1000
SCENE_SIZE = 256
DEMO_MANIFEST = "demo.json"
MAKE = "nipkit"
_SCENE_STREAM = 0x5CE4E  # separates the scenes' content draws from the cameras' draws


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


def check_scenes(scenes: int) -> int:
    """Checks a count of generated scenes: an integer from 1 to MAX_SCENES."""
    if isinstance(scenes, bool) or not isinstance(scenes, (int, np.integer)) or not 1 <= scenes <= MAX_SCENES:
        raise ConfigError(f"demo scenes must be an integer from 1 to {MAX_SCENES}; got {scenes!r}")
    return int(scenes)


def scene_names(count: int) -> list[str]:
    """The image names of the first `count` generated scenes: scene_0000, scene_0001, ..."""
    return [f"scene_{index:04d}" for index in range(count)]


def demo_root(seed: int = 0, scenes: int = DEFAULT_SCENES) -> Path:
    """Where `demo_dataset` keeps the demo built with `seed` and `scenes` generated scenes."""
    return cache_dir() / f"demo-v{DEMO_VERSION}-seed{seed}-scenes{scenes}"


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


def demo_scene(index: int, seed: int, textures: Sequence[np.ndarray] = (), size: int = SCENE_SIZE) -> np.ndarray:
    """Generated scene `index` of the demo built with `seed`: float sRGB (size, size, 3) in [0, 1].

    Args:
        index: the scene's number.
        seed: the demo's seed.
        textures: float sRGB photos that textured discs are cut from (the training photos).
        size: the side in pixels.
    """
    return dead_leaves(np.random.default_rng([seed, _SCENE_STREAM, index]), size, textures)


def _manifest(seed: int, scenes: int, limit: int | None, max_size: int | None) -> dict:
    return {"version": DEMO_VERSION, "seed": seed, "scenes": scenes, "limit": limit, "max_size": max_size}


def _read_manifest(out: Path) -> dict | str | None:
    """out/demo.json's contents; None when missing, "unreadable" when damaged."""
    try:
        return json.loads((out / DEMO_MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "unreadable"


def _claim(out: Path, manifest: dict, replace_stale: bool) -> None:
    """Makes `out` a folder for the demo `manifest` describes.

    A folder that holds another demo (other options, or an older nipkit's, which wrote no
    manifest) is deleted when `replace_stale`, else refused: its photos would be reused.
    """
    found = _read_manifest(out)
    if found == manifest:
        return
    looks_like_demo = found is not None or any((out / name).exists() for name in ("raw", *(c.name for c in DEMO_CAMERAS)))
    if looks_like_demo:
        if not replace_stale:
            built = f"demo {found}" if isinstance(found, dict) else "a demo of an older nipkit (no readable demo.json)"
            raise DataError(f"{out}: holds {built}, not demo {manifest}; delete the folder or choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest, sort_keys=True) + "\n"
    atomic_write(out / DEMO_MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _shots(photos: Sequence[str], scenes: int, seed: int, max_size: int | None) -> list[tuple[str, int, Callable[[], np.ndarray]]]:
    """(image name, index of its draws, a function giving its float sRGB) of every image."""
    def photo(name: str) -> Callable[[], np.ndarray]:
        return lambda: _fit(load_photo(name), max_size).astype(np.float64) / 255.0

    textures: list[np.ndarray] = []

    def scene(index: int) -> Callable[[], np.ndarray]:
        def make() -> np.ndarray:
            if not textures:  # loaded once, on first use: a resumed build may need none
                textures.extend(load_photo(p).astype(np.float64) / 255.0 for p in photos if p not in DEMO_VALIDATION)
            return demo_scene(index, seed, textures, size)
        return make

    size = min(SCENE_SIZE, max_size) // 2 * 2 if max_size else SCENE_SIZE
    shots = [(name, DEMO_PHOTOS.index(name), photo(name)) for name in photos]
    return shots + [(name, len(DEMO_PHOTOS) + k, scene(k)) for k, name in enumerate(scene_names(scenes))]


def _write_dngs(out: Path, cameras: Sequence[VirtualCamera], seed: int, shots: Sequence, progress: bool) -> None:
    """Writes each image's DNG for each camera to out/raw/<camera>/; keeps those already written."""
    for camera in cameras:
        (out / "raw" / camera.name).mkdir(parents=True, exist_ok=True)
    for name, draws, srgb_of in tqdm(shots, desc="demo: DNGs", unit="image", disable=not progress, file=sys.stderr):
        todo = [c for c in cameras if not (out / "raw" / c.name / f"{name}.dng").is_file()]
        if not todo:
            continue
        srgb = srgb_of()
        for camera in todo:
            rng = np.random.default_rng([seed, DEMO_CAMERAS.index(camera), draws])
            sensor, wb = unprocess(srgb, camera, rng)
            atomic_write(
                out / "raw" / camera.name / f"{name}.dng",
                lambda tmp: write_dng(
                    tmp, sensor, cfa=camera.cfa, black_level=camera.black_level, white_level=camera.white_level,
                    wb=wb, color_matrix=camera.xyz_to_camera, make=MAKE, model=camera.model,
                ),
            )


def demo_split(images: Sequence[str]) -> tuple[list[str], list[str]]:
    """The demo's fixed split of `images`: (training names, validation names), sorted."""
    validation = sorted(name for name in images if name in DEMO_VALIDATION)
    return sorted(name for name in images if name not in DEMO_VALIDATION), validation


def _apply_split(folder: Path) -> None:
    """Replaces the seeded split `prepare_folder` wrote into folder/dataset.json by the demo's."""
    index = json.loads((folder / DATASET_FILE).read_text(encoding="utf-8"))
    index["train"], index["validation"] = demo_split(index["images"])
    index["split"] = [len(index["train"]), len(index["validation"])]
    text = json.dumps(index, indent=1, sort_keys=True) + "\n"
    atomic_write(folder / DATASET_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _is_built(folder: Path) -> bool:
    """Whether a demo camera's dataset is complete, its demo split included."""
    try:
        index = json.loads((folder / DATASET_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (index.get("train"), index.get("validation")) == demo_split(index.get("images", []))


def build_demo(
    out: str | Path,
    seed: int = 0,
    *,
    scenes: int = DEFAULT_SCENES,
    cameras: Sequence[str] | None = None,
    limit: int | None = None,
    max_size: int | None = None,
    progress: bool = True,
    replace_stale: bool = False,
) -> dict[str, Path]:
    """Writes the demo cameras' DNGs to out/raw/<camera>/ and prepares each into out/<camera>/.

    Args:
        out: the folder to write.
        seed: the seed of every random draw (scenes, gains, noise).
        scenes: how many dead-leaves scenes to generate for training (1..MAX_SCENES).
        cameras: names of the cameras to build; all of DEMO_CAMERAS when None.
        limit: use only the first `limit` photos (quick checks).
        max_size: crop each photo, and each scene, to max_size × max_size at most (quick checks).
        progress: show progress bars on stderr.
        replace_stale: delete `out` when it holds a demo built otherwise (the cache does);
            else such a folder is refused with a DataError.

    Returns:
        {camera name: its prepared dataset folder}.
    """
    out = Path(out)
    scenes = check_scenes(scenes)
    chosen = [_camera(name) for name in cameras] if cameras else list(DEMO_CAMERAS)
    photos = DEMO_PHOTOS[:limit] if limit else DEMO_PHOTOS
    if len(photos) < 2:
        raise ValueError(f"the demo needs at least 2 photos; got limit={limit}")
    if max_size is not None and max_size < 32:
        raise ValueError(f"max_size must be at least 32 pixels; got {max_size}")
    _claim(out, _manifest(seed, scenes, limit, max_size), replace_stale)
    _write_dngs(out, chosen, seed, _shots(photos, scenes, seed, max_size), progress)
    prepared = {}
    for camera in chosen:
        prepare_folder(out / "raw" / camera.name, out / camera.name, seed=seed, progress=progress)
        _apply_split(out / camera.name)
        prepared[camera.name] = out / camera.name
    return prepared


def demo_dataset(camera: str | None = None, seed: int = 0) -> Path:
    """The prepared demo dataset of one camera (DEFAULT_SCENES scenes), built into the cache
    on first use, and rebuilt when the cache holds a demo built otherwise.

    Args:
        camera: a DEMO_CAMERAS name; the first one when None.
        seed: the demo's seed.
    """
    name = _camera(camera).name if camera else DEMO_CAMERAS[0].name
    root = demo_root(seed)
    if _read_manifest(root) != _manifest(seed, DEFAULT_SCENES, None, None) or not _is_built(root / name):
        build_demo(root, seed, cameras=[name], replace_stale=True)
    return root / name

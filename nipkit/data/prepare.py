"""RAW photos -> a prepared dataset: Bayer stacks, targets, metadata and a split.

A prepared dataset is a folder:

    dataset.json          camera, cfa, target spec, images, train / validation split
    bayer/NAME.npy        uint16 (h/2, w/2, 4) sensor values, channels R, Gr, Gb, B
    target/NAME.png       the target, 8- or 16-bit sRGB (for people and other tools)
    target/NAME.npy       the same pixels, uint8/uint16 (h, w, 3), memory-mappable
    meta/NAME.json        source file, black/white levels, white balance, colour matrix

NAME is the photo's path below RAW_DIR without its extension, `/` written as `__`.
Every file is written to a temporary name and moved into place, and meta/NAME.json is
written last, so a killed run leaves no half-written photo; a re-run reuses every photo
whose metadata exists and matches (same source size, same target spec), and removes the
temporary files a killed run left (so run one prepare per dataset folder at a time).

One dataset holds one camera. The camera is read from each file's header (see
`read_camera_name`); a folder whose files name more than one camera is refused unless
`camera` picks one. Files that name no camera (damaged ones, or formats such as CR3)
belong to the folder's single named camera, or are left out when several are named.
Images whose CFA differs from the dataset's majority are left out and reported.

Example:
    >>> report = prepare_folder("photos/d90", "data/d90", jobs=4)  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from nipkit.data.develop import TargetSpec, develop
from nipkit.data.png import write_png
from nipkit.data.raw import RAW_EXTENSIONS, open_raw, raw_image_from, read_camera_name
from nipkit.data.raw_checks import DEFAULT_MAX_MEGAPIXELS
from nipkit.errors import DataError
from nipkit.files import atomic_write, remove_temporaries

__all__ = [
    "DATASET_FILE",
    "DATASET_FORMAT",
    "PrepareReport",
    "find_raw_files",
    "image_names",
    "parse_split",
    "split_names",
    "prepare_image",
    "prepare_folder",
]

DATASET_FILE = "dataset.json"
DATASET_FORMAT = "nipkit-prepared-dataset"
DATASET_VERSION = 1


# --- files


def _write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _write_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a file, not a name: np.save would append ".npy"
            np.save(handle, array, allow_pickle=False)

    atomic_write(path, write)


def _remove_stale_temporaries(out: Path) -> None:
    for folder in (out, out / "bayer", out / "target", out / "meta"):
        remove_temporaries(folder)


# --- which files, which names, which split


def find_raw_files(folder: Path) -> tuple[list[Path], int]:
    """RAW files below `folder` (recursive, extensions in any case), sorted, and the number
    of other files found.

    Args:
        folder: the folder to search.
    """
    raw, other = [], 0
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            if path.suffix.lower() in RAW_EXTENSIONS:
                raw.append(path)
            else:
                other += 1
    return raw, other


def image_names(folder: Path, files: Sequence[Path]) -> dict[Path, str]:
    """Each file's image name: its path below `folder` without the extension, `/` -> `__`;
    files that would share a name keep their extension (`IMG_1_cr2`, `IMG_1_dng`).

    Args:
        folder: the RAW folder.
        files: RAW files inside it.
    """
    stems = {f: "__".join(f.relative_to(folder).with_suffix("").parts) for f in files}
    counts = Counter(stems.values())
    return {
        f: stem if counts[stem] == 1 else f"{stem}_{f.suffix.lower().lstrip('.')}" for f, stem in stems.items()
    }


def parse_split(text: str) -> tuple[int, int]:
    """"120:30" -> (120, 30).

    Args:
        text: TRAIN:VALIDATION image counts.
    """
    try:
        train, validation = (int(part) for part in text.split(":"))
    except ValueError:
        raise ValueError(f"split must be TRAIN:VALIDATION image counts such as 120:30; got {text!r}") from None
    if train < 1 or validation < 0:
        raise ValueError(f"split needs at least 1 training image and no negative count; got {text!r}")
    return train, validation


def split_names(names: Sequence[str], split: tuple[int, int], seed: int) -> tuple[list[str], list[str]]:
    """Deterministic train / validation split.

    With at least TRAIN + VALIDATION images, that many are drawn (the rest stay unused);
    with fewer, the images are shared in the same proportion, keeping at least one image
    on each side when there are two or more.

    Args:
        names: the image names.
        split: (train, validation) counts.
        seed: the shuffle's seed.
    """
    order = [str(n) for n in np.random.default_rng(seed).permutation(sorted(names))]
    n_train, n_val = split
    if len(order) < n_train + n_val:
        n_val = round(len(order) * n_val / (n_train + n_val))
        if split[1] > 0 and len(order) >= 2:
            n_val = min(max(n_val, 1), len(order) - 1)
        n_train = len(order) - n_val
    return sorted(order[n_val : n_val + n_train]), sorted(order[:n_val])


# --- one photo


def _meta_path(out: Path, name: str) -> Path:
    return out / "meta" / f"{name}.json"


def _already_prepared(out: Path, name: str, source: Path, spec: TargetSpec) -> dict | None:
    try:
        meta = json.loads(_meta_path(out, name).read_text())
    except (OSError, ValueError):
        return None
    files = (out / "bayer" / f"{name}.npy", out / "target" / f"{name}.npy", out / "target" / f"{name}.png")
    same = meta.get("target") == spec.to_dict() and meta.get("source_bytes") == source.stat().st_size
    return meta if same and all(f.is_file() for f in files) else None


def prepare_image(
    source: Path, name: str, out: Path, spec: TargetSpec, camera: str, relative: str,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> dict:
    """Reads, develops and writes one photo; returns its metadata.

    Args:
        source: the RAW file.
        name: its image name.
        out: the dataset folder (with bayer/, target/ and meta/ in it).
        spec: how to develop the target.
        camera: the dataset's camera name.
        relative: the source's path below RAW_DIR, recorded in the metadata.
        max_megapixels: larger sensors are refused before their data is decoded.
    """
    with open_raw(source, max_megapixels) as raw:
        image = raw_image_from(raw, source, camera=camera)
        rgb = develop(raw, image, spec)
    _write_npy(out / "bayer" / f"{name}.npy", image.sensor)
    _write_npy(out / "target" / f"{name}.npy", rgb)
    write_png(out / "target" / f"{name}.png", rgb)
    meta = {
        "name": name,
        "source": relative,
        "source_bytes": source.stat().st_size,
        "camera": camera,
        "cfa": image.cfa,
        "height": image.height,
        "width": image.width,
        "black_level": list(image.black_level),
        "white_level": image.white_level,
        "wb": list(image.wb),
        "color_matrix": image.color_matrix.astype(float).round(6).tolist(),
        "target": spec.to_dict(),
    }
    _write_json(_meta_path(out, name), meta)
    return meta


def _prepare_safely(*args) -> tuple[dict | None, str | None]:
    """prepare_image that returns (meta, None) or (None, one-line reason); never raises
    for a bad photo, so one file cannot abort the batch."""
    try:
        return prepare_image(*args), None
    except DataError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - a damaged file may break libraw or numpy in any way
        return None, f"{args[0]}: {type(exc).__name__}: {exc}".replace("\n", " ")


# --- the folder


@dataclass
class PrepareReport:
    """What `prepare_folder` did.

    Attributes:
        out: the dataset folder.
        camera: the dataset's camera.
        cfa: its CFA.
        new: the dataset's photos prepared in this run.
        reused: the dataset's photos prepared by an earlier run.
        skipped: one-line reasons of the files left out.
        ignored: files below RAW_DIR without a RAW extension.
        other_cameras: RAW files left out because they belong to other cameras.
        images: the names of the dataset's photos.
        train: training image names.
        validation: validation image names.
    """

    out: Path
    camera: str = ""
    cfa: str = ""
    new: int = 0
    reused: int = 0
    skipped: list[str] = field(default_factory=list)
    ignored: int = 0
    other_cameras: int = 0
    images: list[str] = field(default_factory=list)
    train: list[str] = field(default_factory=list)
    validation: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people."""
        parts = [
            f"{len(self.images)} photos of {self.camera} ({self.cfa}) in {self.out}: "
            f"{self.new} prepared now, {self.reused} already prepared",
            f"{len(self.skipped)} skipped",
        ]
        if self.other_cameras:
            parts.append(f"{self.other_cameras} of other cameras left out")
        if self.ignored:
            parts.append(f"{self.ignored} non-RAW files ignored")
        parts.append(f"split {len(self.train)} train / {len(self.validation)} validation")
        return "; ".join(parts)


def _choose_camera(raw_dir: Path, files: list[Path], camera: str | None) -> tuple[str, list[Path], int]:
    """(the dataset's camera, its files, files of other cameras left out)."""
    named = {f: read_camera_name(f, fallback="") for f in files}
    cameras = Counter(name for name in named.values() if name)
    listing = ", ".join(f"{name} ({count} files)" for name, count in sorted(cameras.items()))
    if camera is None:
        if len(cameras) > 1:
            raise DataError(f"{raw_dir}: photos of {len(cameras)} cameras: {listing}; choose one with --camera NAME")
        chosen = next(iter(cameras), raw_dir.resolve().name)
        return chosen, files, 0
    if not cameras:
        return camera, files, 0
    matches = [name for name in cameras if name.lower() == camera.strip().lower()]
    if not matches:
        raise DataError(f"{raw_dir}: no photos of camera {camera!r}; found {listing}")
    chosen = matches[0]
    keep_unnamed = len(cameras) == 1
    kept = [f for f in files if named[f] == chosen or (keep_unnamed and not named[f])]
    return chosen, kept, len(files) - len(kept)


def prepare_folder(
    raw_dir: str | Path,
    out: str | Path,
    *,
    camera: str | None = None,
    target: TargetSpec = TargetSpec(),
    jobs: int = 1,
    split: tuple[int, int] = (120, 30),
    seed: int = 0,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> PrepareReport:
    """Prepares every Bayer RAW photo below `raw_dir` into the dataset folder `out`.

    Bad files are reported through `echo` (one line each) and skipped; photos prepared by
    an earlier run are reused. Raises DataError when `raw_dir` is missing, holds no RAW
    file, mixes cameras without `camera`, or no photo could be prepared.

    Args:
        raw_dir: the folder of RAW photos, searched recursively.
        out: the dataset folder to write (created if needed).
        camera: the camera to take from a folder that mixes cameras; for files that name
            no camera, the name to record.
        target: how targets are developed.
        jobs: photos prepared in parallel (processes).
        split: (train, validation) image counts; shared proportionally when there are
            fewer photos.
        seed: seed of the split.
        progress: show a progress bar on stderr.
        echo: where to report skipped files; stderr when None.
        max_megapixels: photos with larger sensors are skipped before they are decoded.

    Returns:
        A PrepareReport.
    """
    raw_dir, out = Path(raw_dir), Path(out)
    say = echo or (lambda line: tqdm.write(line, file=sys.stderr))
    if not raw_dir.is_dir():
        raise DataError(f"{raw_dir}: no such folder of RAW photos")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1; got {jobs}")
    if not max_megapixels > 0:
        raise ValueError(f"max_megapixels must be above 0; got {max_megapixels}")
    files, ignored = find_raw_files(raw_dir)
    if not files:
        raise DataError(f"{raw_dir}: no RAW files found (looked for {' '.join(RAW_EXTENSIONS)}, any case, in all subfolders)")
    chosen, files, others = _choose_camera(raw_dir, files, camera)
    for folder in ("bayer", "target", "meta"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out)

    report = PrepareReport(out=out, camera=chosen, ignored=ignored, other_cameras=others)
    names = image_names(raw_dir, files)
    metas: dict[str, dict] = {}
    todo = []
    for source in files:
        meta = _already_prepared(out, names[source], source, target)
        if meta is None:
            relative = source.relative_to(raw_dir).as_posix()
            todo.append((source, names[source], out, target, chosen, relative, max_megapixels))
        else:
            metas[meta["name"]] = meta
    reused = set(metas)

    def record(result: tuple[dict | None, str | None]) -> None:
        meta, reason = result
        if meta is None:
            report.skipped.append(str(reason))
            say(f"skipped {reason}")
        else:
            metas[meta["name"]] = meta

    with tqdm(total=len(todo), desc=f"prepare {chosen}", unit="photo", disable=not progress, file=sys.stderr) as bar:
        if jobs == 1 or len(todo) <= 1:
            for args in todo:
                record(_prepare_safely(*args))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(_prepare_safely, *args): args[0] for args in todo}
                for done in as_completed(futures):
                    try:
                        record(done.result())
                    except Exception as exc:  # noqa: BLE001 - a worker killed by a crash in libraw
                        record((None, f"{futures[done]}: its worker process died ({type(exc).__name__}); run again to retry"))
                    bar.update()

    if not metas:
        raise DataError(f"{raw_dir}: none of the {len(files)} RAW files could be prepared")
    cfas = Counter(meta["cfa"] for meta in metas.values())
    report.cfa = cfas.most_common(1)[0][0]
    for name, meta in sorted(metas.items()):
        if meta["cfa"] != report.cfa:
            del metas[name]
            report.skipped.append(f"{raw_dir / meta['source']}: CFA {meta['cfa']} differs from the dataset's {report.cfa}")
            say(f"skipped {report.skipped[-1]}")
    report.images = sorted(metas)
    report.reused = len(reused.intersection(metas))
    report.new = len(metas) - report.reused
    report.train, report.validation = split_names(report.images, split, seed)
    _write_json(
        out / DATASET_FILE,
        {
            "format": DATASET_FORMAT,
            "version": DATASET_VERSION,
            "camera": chosen,
            "cfa": report.cfa,
            "target": target.to_dict(),
            "images": report.images,
            "train": report.train,
            "validation": report.validation,
            "split": list(split),
            "seed": seed,
            "skipped": report.skipped,
        },
    )
    return report

"""Reading Bayer RAW photos through rawpy (libraw) into nipkit's canonical RAW stack.

A RAW stack is (h/2, w/2, 4) in the canonical order R, Gr (green on a red row),
Gb (green on a blue row), B; the CFA (`rggb`, `grbg`, `gbrg`, `bggr`, the 2×2 tile read
row by row) is metadata. Pre-processing follows the paper: subtract the per-channel black
level, divide by (white − black), clip to [0, 1], multiply by the camera's white-balance
gains (green = 1) and clip again. Odd sizes are cropped to even (the last row/column go).

Example:
    >>> raw = read_raw("photos/DSC_0001.NEF")  # doctest: +SKIP
    >>> raw.bayer.shape, raw.cfa, raw.camera  # doctest: +SKIP
    ((1434, 2150, 4), 'rggb', 'NIKON D90')
"""
from __future__ import annotations

import contextlib
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import rawpy

from nipkit.cfa import CFA_PATTERNS, bayer_to_stack, sample_positions
from nipkit.data.raw_checks import DEFAULT_MAX_MEGAPIXELS, check_header_sizes, check_sensor_data
from nipkit.errors import DataError

__all__ = [
    "RAW_EXTENSIONS",
    "XYZ_FROM_SRGB",
    "RawImage",
    "read_raw",
    "open_raw",
    "libraw_errors",
    "raw_image_from",
    "read_camera_name",
    "normalise",
    "camera_to_srgb",
]

# Extensions of the RAW formats LibRaw reads (it tells formats by content, not by name;
# this list decides which files in a folder are tried). By maker:
RAW_EXTENSIONS = (
    ".dng",  # Adobe DNG (Leica, Pentax, Ricoh, Hasselblad, phones, converters)
    ".crw", ".cr2", ".cr3",  # Canon
    ".nef", ".nrw",  # Nikon
    ".arw", ".srf", ".sr2",  # Sony
    ".raf",  # Fujifilm
    ".orf", ".ori",  # Olympus / OM System
    ".rw2", ".raw",  # Panasonic (and Leica's older .raw)
    ".rwl",  # Leica
    ".pef", ".ptx",  # Pentax
    ".srw",  # Samsung
    ".kdc", ".dcr", ".dcs", ".drf", ".k25", ".kc2", ".dc2",  # Kodak
    ".mrw", ".mdc",  # Minolta
    ".3fr", ".fff",  # Hasselblad / Imacon
    ".iiq", ".cap", ".eip",  # Phase One
    ".mos",  # Leaf
    ".mef", ".mfw",  # Mamiya
    ".erf",  # Epson
    ".x3f",  # Sigma (Foveon; LibRaw 0.21+ refuses it, which is then one line)
    ".gpr",  # GoPro
    ".cs1", ".sti", ".ia",  # Sinar
    ".bay",  # Casio
    ".bmq",  # NuCore
    ".pxn",  # Logitech
    ".qtk",  # Apple QuickTake
    ".rdc",  # Ricoh / Digital Dream
    ".rwz",  # Rawzor
)
# Linear sRGB (D65) -> CIE XYZ, the matrix libraw also uses to turn a camera's
# XYZ -> camera matrix into a camera -> sRGB one.
XYZ_FROM_SRGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)


def normalise(
    sensor: np.ndarray, black_level: Sequence[float], white_level: float, wb: Sequence[float]
) -> np.ndarray:
    """Sensor values of a canonical stack (or a crop of one) -> float32 in [0, 1].

    Args:
        sensor: (..., 4) sensor values, channels R, Gr, Gb, B.
        black_level: the four channels' black levels.
        white_level: the sensor's saturation value.
        wb: white-balance gains (R, G, B), green = 1.
    """
    black = np.asarray(black_level, dtype=np.float32)
    scale = np.float32(white_level) - black
    gains = np.asarray([wb[0], wb[1], wb[1], wb[2]], dtype=np.float32)
    values = np.clip((sensor.astype(np.float32) - black) / scale, 0.0, 1.0)
    return np.clip(values * gains, 0.0, 1.0)


def camera_to_srgb(xyz_to_camera: np.ndarray) -> np.ndarray:
    """The (3, 3) camera RGB -> linear sRGB matrix from an XYZ -> camera matrix.

    As libraw does: camera-from-sRGB = xyz_to_camera · XYZ_FROM_SRGB, each row scaled to
    sum to 1 (so white-balanced white stays white), then inverted.

    Args:
        xyz_to_camera: (3, 3), e.g. a DNG's ColorMatrix1.
    """
    camera_from_srgb = np.asarray(xyz_to_camera, dtype=np.float64) @ XYZ_FROM_SRGB
    camera_from_srgb /= camera_from_srgb.sum(axis=1, keepdims=True)
    return np.linalg.inv(camera_from_srgb)


@dataclass(frozen=True, eq=False)
class RawImage:
    """One Bayer RAW photo, pre-processed.

    Attributes:
        path: the RAW file.
        camera: make and model where the file says them, else the folder name.
        cfa: `rggb`, `grbg`, `gbrg` or `bggr` (of the top-left tile after cropping).
        sensor: uint16 (h/2, w/2, 4) sensor values in canonical order R, Gr, Gb, B.
        bayer: float32 (h/2, w/2, 4), `sensor` normalised, white-balanced, in [0, 1].
        black_level: black level of each canonical channel (R, Gr, Gb, B).
        white_level: the saturation value.
        wb: the camera's white-balance gains (R, G, B), green = 1.
        color_matrix: (3, 3) white-balanced camera RGB -> linear sRGB.
    """

    path: Path
    camera: str
    cfa: str
    sensor: np.ndarray
    bayer: np.ndarray
    black_level: tuple[float, ...]  # four values: R, Gr, Gb, B
    white_level: float
    wb: tuple[float, float, float]
    color_matrix: np.ndarray

    @property
    def height(self) -> int:
        """Full-resolution height (even)."""
        return 2 * self.sensor.shape[0]

    @property
    def width(self) -> int:
        """Full-resolution width (even)."""
        return 2 * self.sensor.shape[1]


def _libraw_message(exc: BaseException) -> str:
    text = exc.args[0] if exc.args else str(exc)
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)


@contextlib.contextmanager
def libraw_errors(path: Path) -> Iterator[None]:
    """Turns libraw's errors raised inside the block into one-line DataErrors naming `path`."""
    try:
        yield
    except rawpy.LibRawFileUnsupportedError:
        raise DataError(f"{path}: not a RAW file libraw can read (unsupported format or damaged header)") from None
    except rawpy.LibRawIOError:
        raise DataError(f"{path}: cannot be read to the end (truncated or damaged file)") from None
    except rawpy.LibRawError as exc:
        raise DataError(f"{path}: damaged RAW data (libraw: {_libraw_message(exc)})") from None
    except MemoryError:
        raise DataError(f"{path}: damaged RAW file (libraw asked for an absurd amount of memory)") from None


class _StderrMute:
    """Mutes file descriptor 2 while libraw reads or closes a file: its C code prints its
    own complaint ("Unexpected end of file", on closing) beside nipkit's one-line error.
    Re-entrant across threads: the first to enter mutes, the last to leave restores."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: int | None = None

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                try:
                    self._saved = os.dup(2)
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, 2)
                    os.close(devnull)
                except OSError:
                    self._saved = None
            self._depth += 1

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._saved is not None:
                os.dup2(self._saved, 2)
                os.close(self._saved)
                self._saved = None


_libraw_stderr_muted = _StderrMute()


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() not in RAW_EXTENSIONS:
        raise DataError(f"{path}: not a RAW file extension LibRaw reads (allowed: {' '.join(RAW_EXTENSIONS)})")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")


@contextlib.contextmanager
def open_raw(path: str | Path, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> Iterator[rawpy.RawPy]:
    """Opens and unpacks a RAW file with rawpy; every failure is a one-line DataError.

    The header's sensor size is checked before the data is decoded: above
    `max_megapixels`, or larger than the file can hold, the file is refused.

    Args:
        path: the RAW file (one of RAW_EXTENSIONS, any case).
        max_megapixels: the largest sensor accepted, in millions of pixels.

    Example:
        >>> with open_raw("DSC_0001.NEF") as raw:  # doctest: +SKIP
        ...     image = raw_image_from(raw, Path("DSC_0001.NEF"))
    """
    path = Path(path)
    _check_file(path)
    raw = rawpy.RawPy()
    try:
        with libraw_errors(path), _libraw_stderr_muted:
            raw.open_file(str(path))
            sizes = raw.sizes
            check_header_sizes(path, sizes.raw_width, sizes.raw_height, path.stat().st_size, max_megapixels)
            raw.unpack()
        yield raw
    finally:
        with _libraw_stderr_muted:
            raw.close()


def _bayer_tile(raw: rawpy.RawPy, path: Path) -> tuple[str, np.ndarray]:
    """The CFA name and the (2, 2) libraw colour indices of the visible top-left tile."""
    colours = raw.num_colors
    pattern = raw.raw_pattern
    if colours == 1:
        raise DataError(f"{path}: monochrome sensor, not a Bayer CFA")
    if raw.raw_type != rawpy.RawType.Flat or pattern is None:
        raise DataError(f"{path}: not a Bayer sensor (linear DNG or three colours per pixel)")
    if pattern.shape != (2, 2):
        kind = "X-Trans" if pattern.shape == (6, 6) else "non-Bayer"
        raise DataError(f"{path}: {kind} CFA with a {pattern.shape[0]}×{pattern.shape[1]} pattern, not a 2×2 Bayer CFA")
    desc = raw.color_desc.decode(errors="replace")
    tile = np.asarray(raw.raw_colors_visible[:2, :2])
    letters = "".join(desc[i] for i in tile.ravel()).lower()
    if letters not in CFA_PATTERNS:
        raise DataError(f"{path}: {letters.upper()} colour filters, not an R/G/G/B Bayer CFA")
    return letters, tile


def _white_balance(raw: rawpy.RawPy) -> tuple[float, float, float]:
    for gains in (raw.camera_whitebalance, raw.daylight_whitebalance):
        red, green, blue = (float(g) for g in gains[:3])
        if green > 0 and red > 0 and blue > 0 and np.isfinite([red, green, blue]).all():
            return red / green, 1.0, blue / green
    return 1.0, 1.0, 1.0


def _color_matrix(raw: rawpy.RawPy) -> np.ndarray:
    xyz_to_camera = np.asarray(raw.rgb_xyz_matrix, dtype=np.float64)[:3]
    if np.abs(xyz_to_camera).sum() > 0:
        return camera_to_srgb(xyz_to_camera)
    # DNG files: libraw keeps the ready camera -> sRGB matrix, 4th column for a second green.
    libraw_matrix = np.asarray(raw.color_matrix, dtype=np.float64)
    if np.abs(libraw_matrix).sum() > 0:
        matrix = libraw_matrix[:, :3].copy()
        matrix[:, 1] += libraw_matrix[:, 3]
        return matrix
    return np.eye(3)


def raw_image_from(raw: rawpy.RawPy, path: Path, camera: str | None = None) -> RawImage:
    """Builds the RawImage of an opened rawpy file.

    Args:
        raw: the unpacked rawpy object (see `open_raw`).
        path: its file, for messages and `RawImage.path`.
        camera: the camera name; read from the file when None.
    """
    with libraw_errors(path):
        cfa, tile = _bayer_tile(raw, path)
        mosaic = raw.raw_image_visible
        per_colour = raw.black_level_per_channel
        white_level = float(raw.white_level)
        wb = _white_balance(raw)
        color_matrix = _color_matrix(raw)
    if mosaic.shape[0] < 2 or mosaic.shape[1] < 2:
        raise DataError(f"{path}: image of {mosaic.shape[1]}×{mosaic.shape[0]} pixels is too small")
    black_level = tuple(float(per_colour[tile[r, c]]) for r, c in sample_positions(cfa))
    if white_level <= max(black_level):
        raise DataError(f"{path}: white level {white_level:g} is not above the black level {max(black_level):g}")
    sensor = bayer_to_stack(mosaic, cfa).astype(np.uint16)
    check_sensor_data(path, sensor, black_level)
    return RawImage(
        path=path,
        camera=camera or read_camera_name(path),
        cfa=cfa,
        sensor=sensor,
        bayer=normalise(sensor, black_level, white_level, wb),
        black_level=black_level,
        white_level=white_level,
        wb=wb,
        color_matrix=color_matrix.astype(np.float32),
    )


def read_raw(path: str | Path, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> RawImage:
    """Reads a Bayer RAW file that libraw reads (any of RAW_EXTENSIONS: DNG, NEF, CR2, KDC, ...).

    Args:
        path: the RAW file.
        max_megapixels: the largest sensor accepted, in millions of pixels.

    Returns:
        The RawImage; raises DataError (one line, naming the file) for an unreadable,
        damaged, cut-short or empty file, image data that is missing (mostly black or one
        value), a sensor above `max_megapixels`, a wrong extension, or a non-Bayer sensor
        (X-Trans, Foveon, monochrome, linear DNG).

    Example:
        >>> raw = read_raw("IMG_0001.CR2")  # doctest: +SKIP
        >>> raw.bayer.dtype, raw.bayer.shape[-1]  # doctest: +SKIP
        (dtype('float32'), 4)
    """
    path = Path(path)
    with open_raw(path, max_megapixels) as raw:
        return raw_image_from(raw, path)


# --- camera name: TIFF-style IFD0 Make/Model (DNG, NEF, CR2, ARW, PEF, SRW, ORF, RW2), RAF header


def _ifd0_strings(head: bytes, tags: Sequence[int]) -> dict[int, str]:
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or len(head) < 8:
        return {}
    (offset,) = struct.unpack(order + "I", head[4:8])
    if offset + 2 > len(head):
        return {}
    (count,) = struct.unpack(order + "H", head[offset : offset + 2])
    found = {}
    for i in range(min(count, 512)):
        entry = head[offset + 2 + 12 * i : offset + 14 + 12 * i]
        if len(entry) < 12:
            break
        tag, kind, size, value = struct.unpack(order + "HHI4s", entry)
        if tag not in tags or kind != 2:
            continue
        if size > 4:
            (where,) = struct.unpack(order + "I", value)
            value = head[where : where + size]
        found[tag] = value[:size].split(b"\0", 1)[0].decode("ascii", errors="replace").strip()
    return found


def read_camera_name(path: str | Path, fallback: str | None = None) -> str:
    """The camera's make and model as the file states them, else `fallback`.

    Reads IFD0 Make/Model of TIFF-based RAW files (DNG's UniqueCameraModel as a fallback)
    and the model of a Fujifilm RAF header; other formats (e.g. CR3) name no camera.

    Args:
        path: the RAW file.
        fallback: the name when the file names no camera; the file's folder name if None.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        head = b""
    if head.startswith(b"FUJIFILM") and len(head) >= 0x3C:
        model = head[0x1C:0x3C].split(b"\0", 1)[0].decode("ascii", errors="replace").strip()
        return f"FUJIFILM {model}".strip()
    strings = _ifd0_strings(head, (271, 272, 50708))
    make, model = strings.get(271, ""), strings.get(272, "")
    if make and model:
        same_brand = model.split()[0].lower() == make.split()[0].lower()
        return model if same_brand else f"{make} {model}"
    named = model or strings.get(50708, "")
    if named:
        return named
    return path.resolve().parent.name if fallback is None else fallback

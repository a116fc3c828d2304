"""Checks that refuse RAW files which open in libraw but hold no usable photo.

libraw opens a RAW header whose image data is missing (a partially copied memory card, a
file cut short) without an error, and hands back sensor data that is all zeros or one
repeated value. It also decodes any size the header claims. These checks run on what
libraw reports: the header before the sensor data is decoded, the samples after.

Example:
    >>> check_header_sizes(Path("IMG_1.CR2"), 6000, 4000, file_bytes=25_000_000)  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from nipkit.errors import DataError

__all__ = ["DEFAULT_MAX_MEGAPIXELS", "MIN_BITS_PER_PIXEL", "MOSTLY", "check_header_sizes", "check_sensor_data"]

DEFAULT_MAX_MEGAPIXELS = 100.0
# No RAW codec stores a photo in less than one bit per sensor pixel (lossy DNG needs about
# three); a file smaller than that lacks its image data.
MIN_BITS_PER_PIXEL = 1.0
# Share of the samples above which a photo is "mostly" black or one value.
MOSTLY = 0.9


def check_header_sizes(path: Path, width: int, height: int, file_bytes: int, max_megapixels: float = DEFAULT_MAX_MEGAPIXELS) -> None:
    """Refuses a sensor above the megapixel cap, or a file too small to hold its data.

    Args:
        path: the RAW file, for messages.
        width: the sensor's width in pixels as the header states it (margins included).
        height: its height.
        file_bytes: the file's size.
        max_megapixels: the largest sensor accepted, in millions of pixels.
    """
    megapixels = width * height / 1e6
    if megapixels > max_megapixels:
        raise DataError(
            f"{path}: {width}×{height} sensor ({megapixels:.1f} MP) is above the limit of {max_megapixels:g} MP; "
            "refused before decoding (raise it with --max-megapixels)"
        )
    needed = int(width * height * MIN_BITS_PER_PIXEL / 8)
    if file_bytes < needed:
        raise DataError(
            f"{path}: truncated or image data missing: {file_bytes:,} bytes cannot hold the data of "
            f"its {width}×{height} sensor (at least {needed:,} expected)"
        )


def check_sensor_data(path: Path, sensor: np.ndarray, black_level: Sequence[float]) -> None:
    """Refuses sensor data that is mostly at the black level or mostly one value.

    Args:
        path: the RAW file, for messages.
        sensor: (h/2, w/2, 4) uint16 sensor values, channels R, Gr, Gb, B.
        black_level: the black level of each channel.
    """
    at_black = float(np.mean(sensor <= np.asarray(black_level, dtype=np.float64)))
    if at_black >= MOSTLY:
        raise DataError(
            f"{path}: image data missing or truncated: {100 * at_black:.1f}% of its sensor samples "
            "are at the black level"
        )
    counts = np.bincount(sensor.ravel())
    common = int(counts.argmax())
    share = counts[common] / sensor.size
    if share >= MOSTLY:
        raise DataError(
            f"{path}: image data missing or damaged: {100 * share:.1f}% of its sensor samples "
            f"have the one value {common}"
        )

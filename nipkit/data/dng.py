"""Writing DNG files with tifffile, readable by libraw bit for bit.

`write_dng` stores a Bayer mosaic uncompressed in IFD0 with the DNG tags libraw needs:
the CFA pattern, per-position black levels, the white level, ColorMatrix1 (XYZ -> camera,
D65) and AsShotNeutral (the inverse white-balance gains). `write_linear_dng` writes
demosaiced (three-sample) or monochrome data, which nipkit rejects as non-Bayer.

Example:
    >>> mosaic = np.full((64, 96), 1000, np.uint16)
    >>> write_dng("flat.dng", mosaic, cfa="rggb", black_level=(64, 64, 64, 64),
    ...           white_level=4095, wb=(2.0, 1.0, 1.5))  # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Iterable, Sequence

import numpy as np
import tifffile

from nipkit._version import __version__
from nipkit.cfa import sample_positions

__all__ = ["write_dng", "write_linear_dng"]

# TIFF field types
_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _SRATIONAL = 1, 2, 3, 4, 5, 10
_CFA, _LINEAR_RAW = 32803, 34892
_D65 = 21
_DENOMINATOR = 1_000_000


def _rationals(values: Iterable[float]) -> list[int]:
    out: list[int] = []
    for value in values:
        out += [int(round(float(value) * _DENOMINATOR)), _DENOMINATOR]
    return out


def _common_tags(
    make: str, model: str, color_matrix: np.ndarray, wb: Sequence[float], white_level: int
) -> list[tuple]:
    tags = [
        (50706, _BYTE, 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, _BYTE, 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50717, _LONG, 1, int(white_level), True),  # WhiteLevel
        (50721, _SRATIONAL, 9, _rationals(np.asarray(color_matrix).ravel()), True),  # ColorMatrix1
        (50728, _RATIONAL, 3, _rationals([1.0 / g for g in wb]), True),  # AsShotNeutral
        (50778, _SHORT, 1, _D65, True),  # CalibrationIlluminant1
        (274, _SHORT, 1, 1, True),  # Orientation: as stored
    ]
    if make or model:
        tags.append((50708, _ASCII, 0, f"{make} {model}".strip(), True))  # UniqueCameraModel
    if make:
        tags.append((271, _ASCII, 0, make, True))
    if model:
        tags.append((272, _ASCII, 0, model, True))
    return tags


def write_dng(
    path: str | Path | BinaryIO,
    mosaic: np.ndarray,
    *,
    cfa: str | np.ndarray,
    black_level: Sequence[float],
    white_level: int,
    wb: Sequence[float] = (1.0, 1.0, 1.0),
    color_matrix: np.ndarray | None = None,
    make: str = "nipkit",
    model: str = "",
) -> None:
    """Writes a CFA mosaic as an uncompressed 16-bit DNG.

    Args:
        path: the file to write, or a seekable binary handle.
        mosaic: (h, w) integer sensor values up to `white_level`; any size libraw accepts
            (at least 22×22), odd sides included.
        cfa: a Bayer CFA name, or an (n, m) array of colour codes 0 = R, 1 = G, 2 = B
            (e.g. a 6×6 X-Trans pattern), read from the top-left pixel.
        black_level: for a CFA name, the black level of R, Gr, Gb and B (canonical order);
            for a pattern array, one value for all pixels.
        white_level: the saturation value, e.g. 4095 for 12 bits.
        wb: white-balance gains (R, G, B) the camera chose; stored as AsShotNeutral = 1/wb.
        color_matrix: (3, 3) XYZ -> camera (ColorMatrix1, D65); identity when None.
        make: the camera maker (TIFF Make); empty to leave it out.
        model: the camera model (TIFF Model); empty to leave it out.
    """
    mosaic = np.asarray(mosaic)
    if mosaic.ndim != 2:
        raise ValueError(f"a CFA mosaic must be 2-D; got shape {mosaic.shape}")
    if isinstance(cfa, str):
        codes, black_tile = np.zeros((2, 2), dtype=np.uint8), np.zeros((2, 2))
        for (r, c), colour, black in zip(sample_positions(cfa), (0, 1, 1, 2), black_level):
            codes[r, c], black_tile[r, c] = colour, black
        black_tags: list[tuple] = [(50713, _SHORT, 2, (2, 2), True), (50714, _LONG, 4, [int(b) for b in black_tile.ravel()], True)]
    else:
        codes = np.asarray(cfa, dtype=np.uint8)
        black_tags = [(50714, _LONG, 1, int(black_level[0]), True)]
    matrix = np.eye(3) if color_matrix is None else np.asarray(color_matrix, dtype=np.float64)
    tags = _common_tags(make, model, matrix, wb, white_level) + black_tags + [
        (33421, _SHORT, 2, codes.shape, True),  # CFARepeatPatternDim
        (33422, _BYTE, codes.size, [int(v) for v in codes.ravel()], True),  # CFAPattern
        (50710, _BYTE, 3, (0, 1, 2), True),  # CFAPlaneColor
        (50711, _SHORT, 1, 1, True),  # CFALayout: rectangular
    ]
    tifffile.imwrite(
        path, mosaic.astype(np.uint16), photometric=_CFA, software=f"nipkit {__version__}",
        metadata=None, extratags=tags,
    )


def write_linear_dng(
    path: str | Path,
    image: np.ndarray,
    *,
    white_level: int = 65535,
    make: str = "nipkit",
    model: str = "",
) -> None:
    """Writes demosaiced (h, w, 3) or monochrome (h, w) data as a LinearRaw DNG.

    tifffile refuses a one-sample LinearRaw image, so monochrome data is written as
    BlackIsZero and its PhotometricInterpretation is then set to LinearRaw in place.

    Args:
        path: the file to write.
        image: uint16 samples, (h, w, 3) or (h, w).
        white_level: the saturation value.
        make: the camera maker; empty to leave it out.
        model: the camera model; empty to leave it out.
    """
    path = Path(path)
    image = np.asarray(image).astype(np.uint16)
    tags = _common_tags(make, model, np.eye(3), (1.0, 1.0, 1.0), white_level)
    photometric = _LINEAR_RAW if image.ndim == 3 else "minisblack"
    tifffile.imwrite(path, image, photometric=photometric, software=f"nipkit {__version__}", metadata=None, extratags=tags)
    if image.ndim == 2:
        with tifffile.TiffFile(path) as tif:
            tag = tif.pages[0].tags[262]
            offset, byteorder = tag.valueoffset, tif.byteorder
        with open(path, "r+b") as handle:
            handle.seek(offset)
            handle.write(np.array(_LINEAR_RAW, dtype=byteorder + "u2").tobytes())

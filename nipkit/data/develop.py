"""Target images: what a standard pipeline develops a RAW photo into, for NIPs to learn.

Two developers, both with the camera's white balance, the camera -> sRGB colour matrix,
no automatic brightening and the sRGB gamma curve, at the RAW stack's (even) size:

- `libraw`: libraw's own pipeline through rawpy; its demosaicing algorithm is configurable
  (default AHD).
- `menon`: Menon et al. 2007 demosaicing (colour-demosaicing) of nipkit's pre-processed
  stack, then nipkit's colour matrix and gamma (the paper's choice).

Example:
    >>> spec = TargetSpec("menon", bits=16)
    >>> with open_raw("DSC_0001.NEF") as raw:  # doctest: +SKIP
    ...     rgb = develop(raw, raw_image_from(raw, Path("DSC_0001.NEF")), spec)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import rawpy

from nipkit.cfa import stack_to_bayer
from nipkit.data.raw import RawImage, libraw_errors
from nipkit.errors import DataError

__all__ = ["TARGETS", "LIBRAW_ALGORITHMS", "TargetSpec", "srgb_gamma", "quantise", "develop"]

TARGETS = ("libraw", "menon")
LIBRAW_ALGORITHMS = tuple(a.name for a in rawpy.DemosaicAlgorithm if a.isSupported)
SRGB_GAMMA = (2.4, 12.92)  # libraw's (power, toe slope) for the sRGB curve


@dataclass(frozen=True)
class TargetSpec:
    """How targets are developed.

    Args:
        kind: `libraw` or `menon`.
        algorithm: libraw's demosaicing algorithm (one of LIBRAW_ALGORITHMS); only for
            `libraw`.
        bits: 8 or 16 bits per sample.
    """

    kind: str = "libraw"
    algorithm: str = "AHD"
    bits: int = 8

    def __post_init__(self) -> None:
        if self.kind not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}; got {self.kind!r}")
        if self.algorithm not in LIBRAW_ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(LIBRAW_ALGORITHMS)}; got {self.algorithm!r}")
        if self.bits not in (8, 16):
            raise ValueError(f"bits must be 8 or 16; got {self.bits!r}")

    def to_dict(self) -> dict:
        """A JSON-ready dict; `menon` targets carry no libraw algorithm."""
        out = asdict(self)
        if self.kind == "menon":
            out.pop("algorithm")
        return out


def srgb_gamma(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve: 12.92·x below 0.0031308, else 1.055·x^(1/2.4) − 0.055.

    Args:
        linear: values in [0, 1].
    """
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def quantise(image: np.ndarray, bits: int) -> np.ndarray:
    """Values in [0, 1] -> uint8 or uint16, rounded to nearest.

    Args:
        image: the float image.
        bits: 8 or 16.
    """
    top = (1 << bits) - 1
    return np.round(np.clip(image, 0.0, 1.0) * top).astype(np.uint8 if bits == 8 else np.uint16)


def _develop_libraw(raw: rawpy.RawPy, image: RawImage, spec: TargetSpec) -> np.ndarray:
    with libraw_errors(image.path):
        rgb = raw.postprocess(
            demosaic_algorithm=rawpy.DemosaicAlgorithm[spec.algorithm],
            use_camera_wb=True,
            no_auto_bright=True,
            output_color=rawpy.ColorSpace.sRGB,
            gamma=SRGB_GAMMA,
            output_bps=spec.bits,
            user_flip=0,
        )
    if rgb.shape[0] < image.height or rgb.shape[1] < image.width:
        raise DataError(
            f"{image.path}: libraw develops {rgb.shape[1]}×{rgb.shape[0]} pixels, smaller than the "
            f"sensor's {image.width}×{image.height}; try --target menon"
        )
    return np.ascontiguousarray(rgb[: image.height, : image.width])


def _develop_menon(image: RawImage, spec: TargetSpec) -> np.ndarray:
    from colour_demosaicing import demosaicing_CFA_Bayer_Menon2007

    mosaic = stack_to_bayer(image.bayer, image.cfa).astype(np.float64)
    camera_rgb = np.clip(demosaicing_CFA_Bayer_Menon2007(mosaic, image.cfa.upper()), 0.0, 1.0)
    linear = camera_rgb @ image.color_matrix.astype(np.float64).T
    return quantise(srgb_gamma(linear), spec.bits)


def develop(raw: rawpy.RawPy, image: RawImage, spec: TargetSpec = TargetSpec()) -> np.ndarray:
    """Develops one RAW photo into its target.

    Args:
        raw: the opened rawpy file (used by the `libraw` developer).
        image: its RawImage (used by the `menon` developer, and for the size).
        spec: the developer and the bit depth.

    Returns:
        uint8 or uint16 (image.height, image.width, 3) sRGB.
    """
    if spec.kind == "libraw":
        return _develop_libraw(raw, image, spec)
    return _develop_menon(image, spec)

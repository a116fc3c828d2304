"""Rate–distortion of codecs on whole photos: bits per pixel from real bytes, PSNR, SSIM.

Every rate here is measured from the bytes a real encoder wrote (JPEG files from libjpeg
through Pillow, a learned codec's bitstreams), divided by the photo's pixels; PSNR and
SSIM compare the decoded photo with the original. `psnr_at` interpolates a codec's curve
(e.g. libjpeg's over qualities) at another rate, for comparisons at equal rate.

Example:
    >>> rows = jpeg_curve(photos, "4:4:4", qualities=(50,))  # doctest: +SKIP
    >>> rows[0]["bpp"], rows[0]["psnr"]  # doctest: +SKIP
    (1.21, 33.4)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from nipkit.evaluation.metrics import mean_psnr, mean_ssim

if TYPE_CHECKING:
    from nipkit.data import Dataset

__all__ = ["QUALITIES", "validation_photos", "jpeg_curve", "codec_point", "psnr_at"]

QUALITIES = (10, 20, 30, 40, 50, 60, 70, 80, 90, 95)


def _scores(photos: Sequence[np.ndarray], decoded: Sequence[np.ndarray], sizes: Sequence[int]) -> dict:
    """Mean bpp (from `sizes`, bytes per photo), PSNR and SSIM over the photos."""
    return {
        "bpp": float(np.mean([8 * n / (p.shape[0] * p.shape[1]) for n, p in zip(sizes, photos)])),
        "psnr": float(np.mean([mean_psnr(p[None], d[None]) for p, d in zip(photos, decoded)])),
        "ssim": float(np.mean([mean_ssim(p[None], d[None]) for p, d in zip(photos, decoded)])),
    }


def validation_photos(data: "str | Dataset", crop: int | None = None) -> tuple[list[str], list[np.ndarray]]:
    """The names and target photos (float32 (h, w, 3)) of a data set's validation split
    (a `Dataset`, or a name or folder such as "demo"), whole or as centre crops of side
    at most `crop`."""
    from nipkit.data import Dataset, resolve_data

    dataset = data if isinstance(data, Dataset) else Dataset(resolve_data(data))
    photos = []
    for name in dataset.validation:
        photo = np.asarray(dataset.target(name), "float32")
        if crop:
            top, left = max(0, (photo.shape[0] - crop) // 2), max(0, (photo.shape[1] - crop) // 2)
            photo = photo[top : top + crop, left : left + crop]
        photos.append(photo)
    return list(dataset.validation), photos


def jpeg_curve(photos: Sequence[np.ndarray], subsampling: str, qualities: Sequence[int] = QUALITIES) -> list[dict]:
    """One row per quality: {"quality", "bpp", "psnr", "ssim"} of libjpeg on the photos."""
    from nipkit.evaluation.libjpeg import decode, encode

    rows = []
    for quality in qualities:
        files = [encode(p, quality, subsampling) for p in photos]
        rows.append({"quality": quality, **_scores(photos, [decode(f) for f in files], [len(f) for f in files])})
    return rows


def codec_point(codec, photos: Sequence[np.ndarray]) -> dict:
    """{"bpp" (from the bitstreams), "bpp_estimate" (the model's), "psnr", "ssim"} of a learned codec."""
    import keras

    streams = [codec.compress(p[None])[0] for p in photos]
    decoded = [codec.decompress([s])[0] for s in streams]
    estimates = []
    for p in photos:
        codec(p[None])
        estimates.append(float(keras.ops.convert_to_numpy(codec.last_bpp)))
    return {**_scores(photos, decoded, [len(s) for s in streams]), "bpp_estimate": float(np.mean(estimates))}


def psnr_at(curve: Sequence[dict], bpp: float) -> float:
    """The PSNR of a curve (rows with "bpp" and "psnr") at `bpp`, interpolated linearly;
    nan outside the curve's range of rates."""
    points = sorted((row["bpp"], row["psnr"]) for row in curve)
    rates, values = [r for r, _ in points], [v for _, v in points]
    if not rates[0] <= bpp <= rates[-1]:
        return float("nan")
    return float(np.interp(bpp, rates, values))

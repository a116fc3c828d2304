"""Dead-leaves scenes: the camera-texture chart of ISO 19567-2, generated with numpy.

A dead-leaves image is a stack of occluding discs whose radii follow a power law
(density ∝ r^−3, which makes the image scale-invariant, like natural images). The
demo camera uses them as extra training scenes, because its natural photos lack
colours: each flat disc gets a random colour, half of them saturated (any hue,
saturation 0.85–1), and is modulated by the luminance texture of a patch cut from one
of the `textures` photos; a share of the discs are photo patches themselves, with their
own edges and textures. A smooth illumination gradient (a linear ramp in a random
direction, up to 3× darker at one side, applied in linear light) lies over the whole
scene.

Discs are drawn in rounds of DISCS_PER_ROUND, each round rasterised in a handful of
vectorised operations; each pixel shows the first disc drawn that covers it (the one in
front), and drawing stops when every pixel is covered.

Example:
    >>> scene = dead_leaves(np.random.default_rng(0), 128)
    >>> scene.shape, bool(scene.min() >= 0.0 and scene.max() <= 1.0)
    ((128, 128, 3), True)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["RADIUS_EXPONENT", "hsv_to_rgb", "power_law_radii", "dead_leaves"]

RADIUS_EXPONENT = 3.0  # density of the radii ∝ r^−3 (ISO 19567-2)
MAX_DISCS = 65_536  # pixels no disc covers by then (rare) show a background disc
DISCS_PER_ROUND = 4096
TEXTURED_SHARE = 0.3  # discs that are patches of the texture photos
SATURATED_SHARE = 0.5  # flat discs with a saturated colour; the others are uniform in RGB


def hsv_to_rgb(hue: np.ndarray, saturation: np.ndarray, value: np.ndarray) -> np.ndarray:
    """HSV (each in [0, 1], any shape) -> RGB (shape + (3,)), the standard hexcone model."""
    sector = hue * 6.0
    k = (np.array([5.0, 3.0, 1.0]) + sector[..., None]) % 6.0
    ramp = np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return value[..., None] * (1.0 - saturation[..., None] * ramp)


def power_law_radii(rng: np.random.Generator, count: int, low: float, high: float, exponent: float = RADIUS_EXPONENT) -> np.ndarray:
    """`count` radii in [low, high] with density ∝ r^−exponent (inverse-CDF sampling).

    Args:
        rng: the random generator.
        count: how many.
        low: the smallest radius (> 0).
        high: the largest radius.
        exponent: the power law's exponent (≠ 1).
    """
    power = 1.0 - exponent
    u = rng.random(count)
    return (low**power + u * (high**power - low**power)) ** (1.0 / power)


def _disc_colours(rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, 3) colours: a SATURATED_SHARE of vivid ones (any hue), the rest uniform in RGB."""
    vivid = hsv_to_rgb(rng.random(count), rng.uniform(0.85, 1.0, count), rng.uniform(0.45, 1.0, count))
    uniform = rng.random((count, 3))
    return np.where((rng.random(count) < SATURATED_SHARE)[:, None], vivid, uniform)


def _first_cover(size: int, centres: np.ndarray, radii: np.ndarray, first_id: int, label: np.ndarray, none: int) -> None:
    """label[pixel] = min(label[pixel], id of the first disc covering it), all discs at once.

    Discs whose bounding box holds no pixel still `none` cannot change anything and are
    skipped (a summed-area table counts those pixels per box). The others are rasterised
    in buckets of similar radius, so each disc's candidate window is not much larger than
    the disc; np.minimum.at keeps the lowest id, the front-most disc.
    """
    open_pixels = np.zeros((size + 1, size + 1), dtype=np.int64)
    open_pixels[1:, 1:] = (label == none).reshape(size, size).cumsum(0).cumsum(1)
    top = np.clip(np.floor(centres[:, 0] - radii).astype(int), 0, size)
    bottom = np.clip(np.ceil(centres[:, 0] + radii).astype(int) + 1, 0, size)
    left = np.clip(np.floor(centres[:, 1] - radii).astype(int), 0, size)
    right = np.clip(np.ceil(centres[:, 1] + radii).astype(int) + 1, 0, size)
    reachable = (
        open_pixels[bottom, right] - open_pixels[top, right] - open_pixels[bottom, left] + open_pixels[top, left]
    ) > 0
    ids = np.arange(first_id, first_id + len(radii))[reachable]
    radii, centres = radii[reachable], centres[reachable]
    if not len(radii):
        return
    edges = radii.min() * 1.25 ** np.arange(int(np.log(radii.max() / radii.min()) / np.log(1.25)) + 2)
    bucket = np.searchsorted(edges, radii)
    for index in np.unique(bucket):
        chosen = bucket == index
        r, disc = radii[chosen], ids[chosen]
        whole = np.floor(centres[chosen]).astype(int)
        fraction = (centres[chosen] - whole).astype(np.float32)
        reach = int(np.ceil(r.max())) + 1
        dy, dx = (offsets.ravel() for offsets in np.mgrid[-reach : reach + 1, -reach : reach + 1])
        inside = (dy.astype(np.float32) - fraction[:, :1]) ** 2 + (dx.astype(np.float32) - fraction[:, 1:]) ** 2 <= (r * r)[:, None]
        rows, cols = whole[:, :1] + dy, whole[:, 1:] + dx
        inside &= (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
        np.minimum.at(label, rows[inside] * size + cols[inside], np.broadcast_to(disc[:, None], rows.shape)[inside])


def _illumination(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 1) multipliers of linear light: a ramp from 1 down to 1/3..1 across the scene."""
    angle = rng.uniform(0.0, 2.0 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-12)
    darkest = rng.uniform(1.0 / 3.0, 1.0)
    return (1.0 - (1.0 - darkest) * ramp)[..., None]


def _mirror(index: np.ndarray, length: int) -> np.ndarray:
    """Indices folded into [0, length) by mirroring at the edges (numpy's "reflect")."""
    folded = np.abs(index) % (2 * length - 2)
    return np.where(folded < length, folded, 2 * length - 2 - folded)


def _texture_pixels(
    rng: np.random.Generator, textures: Sequence[np.ndarray], label: np.ndarray, centres: np.ndarray, reach: np.ndarray, size: int
) -> np.ndarray:
    """(size², 3): each pixel's value in the patch of its disc, cut around a random spot of a texture photo."""
    count = len(reach)
    source = rng.integers(0, len(textures), count)
    heights = np.array([t.shape[0] for t in textures])[source]
    widths = np.array([t.shape[1] for t in textures])[source]
    reach = np.minimum(reach, np.minimum(heights, widths) // 2 - 1)  # a disc larger than its photo is cut mirrored
    spot_y = rng.integers(reach, heights - reach)
    spot_x = rng.integers(reach, widths - reach)
    rows, cols = np.divmod(np.arange(size * size), size)
    y = rows - np.floor(centres[label, 0]).astype(int) + spot_y[label]
    x = cols - np.floor(centres[label, 1]).astype(int) + spot_x[label]
    out = np.empty((size * size, 3))
    for index, texture in enumerate(textures):
        mine = source[label] == index
        h, w = texture.shape[:2]
        out[mine] = texture[_mirror(y[mine], h), _mirror(x[mine], w)]
    return out


def dead_leaves(
    rng: np.random.Generator,
    size: int,
    textures: Sequence[np.ndarray] = (),
    min_radius: float = 3.0,
    max_radius: float | None = None,
) -> np.ndarray:
    """One dead-leaves scene as float64 sRGB (size, size, 3) in [0, 1].

    Args:
        rng: every draw comes from it, so the scene is a pure function of its seed.
        size: the side in pixels.
        textures: float sRGB (h, w, 3) photos in [0, 1] that textured discs are cut from
            and that modulate the flat discs; without any, discs are flat.
        min_radius: the smallest disc radius in pixels.
        max_radius: the largest; size / 4 when None.
    """
    high = max_radius if max_radius is not None else size / 4.0
    none = np.iinfo(np.int64).max
    label = np.full(size * size, none, dtype=np.int64)
    radii, centres = np.empty(0), np.empty((0, 2))
    while len(radii) < MAX_DISCS and (label == none).any():
        new_radii = power_law_radii(rng, DISCS_PER_ROUND, min_radius, high)
        new_centres = rng.uniform(-0.1 * size, 1.1 * size, (DISCS_PER_ROUND, 2))
        _first_cover(size, new_centres, new_radii, len(radii), label, none)
        radii, centres = np.concatenate([radii, new_radii]), np.concatenate([centres, new_centres])
    # pixels no disc reached show one more disc behind all the others, as large as the scene
    radii, centres = np.append(radii, float(size)), np.concatenate([centres, [[size / 2.0, size / 2.0]]])
    label[label == none] = len(radii) - 1

    count = len(radii)
    colours = _disc_colours(rng, count)
    pixels = colours[label]
    if textures:
        patch = _texture_pixels(rng, textures, label, centres, np.ceil(radii).astype(int) + 1, size)
        textured = rng.random(count) < TEXTURED_SHARE
        contrast = rng.uniform(0.0, 0.8, count)
        luminance = patch @ np.array([0.299, 0.587, 0.114])
        mean = np.bincount(label, luminance, count) / np.maximum(np.bincount(label, minlength=count), 1)
        modulated = pixels * (1.0 + contrast[label] * (luminance - mean[label]))[:, None]
        pixels = np.where(textured[label][:, None], patch, modulated)
    # linear light × illumination, in sRGB-like gamma 2.2: (x^2.2 · light)^(1/2.2)
    return np.clip(pixels.reshape(size, size, 3), 0.0, 1.0) * _illumination(rng, size) ** (1.0 / 2.2)

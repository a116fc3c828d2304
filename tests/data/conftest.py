"""Fixtures of the RAW data tests: real DNG files written by nipkit.data.dng."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from nipkit.data.demo import DEMO_CAMERAS, build_demo, load_photo, unprocess
from nipkit.data.dng import write_dng

WHITE = {12: 4095, 14: 16383, 16: 65535}
# Where R, Gr (green on the red row), Gb and B sit in each CFA's 2x2 tile, written out by hand.
POSITIONS = {
    "rggb": ((0, 0), (0, 1), (1, 0), (1, 1)),
    "grbg": ((0, 1), (0, 0), (1, 1), (1, 0)),
    "gbrg": ((1, 0), (1, 1), (0, 0), (0, 1)),
    "bggr": ((1, 1), (1, 0), (0, 1), (0, 0)),
}


@pytest.fixture(scope="session")
def positions() -> dict:
    """{cfa: ((row, col) of R, Gr, Gb, B)}, the hand-written reference."""
    return POSITIONS


@pytest.fixture
def bayer_dng():
    """Writes a DNG of random sensor values; returns the mosaic written.

    Call: bayer_dng(path, cfa="rggb", bits=12, shape=(47, 63), black=None, wb=(2.0, 1.0, 1.6),
    make="nipkit", model="Test", seed=0).
    """

    def write(path, cfa="rggb", bits=12, shape=(47, 63), black=None, wb=(2.0, 1.0, 1.6), make="nipkit", model="Test", seed=0):
        white = WHITE[bits]
        if black is None:
            base = white // 16
            black = (base, base + 3, base + 7, base + 12)
        rng = np.random.default_rng(seed)
        mosaic = rng.integers(0, white + 1, size=shape).astype(np.uint16)
        write_dng(path, mosaic, cfa=cfa, black_level=black, white_level=white, wb=wb, make=make, model=model)
        return mosaic

    return write


@pytest.fixture
def photo_dng():
    """Writes a noise- and blur-free DNG of a real photo's crop; returns the sRGB crop in [0, 1].

    Call: photo_dng(path, photo="astronaut", size=(96, 128), offset=(100, 100), camera=0, model=None).
    """

    def write(path, photo="astronaut", size=(96, 128), offset=(100, 100), camera=0, model=None, seed=0):
        cam = DEMO_CAMERAS[camera]
        top, left = offset
        srgb = load_photo(photo)[top : top + size[0], left : left + size[1]].astype(np.float64) / 255.0
        sensor, wb = unprocess(srgb, cam, np.random.default_rng(seed), noise=False, optics=False)
        write_dng(
            path, sensor, cfa=cam.cfa, black_level=cam.black_level, white_level=cam.white_level,
            wb=wb, color_matrix=cam.xyz_to_camera, make="nipkit", model=model or cam.model,
        )
        return srgb

    return write


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """The demo camera sim-a with 4 photos and 2 generated scenes, all cropped to 160×160,
    prepared: astronaut, rocket and both scenes train, chelsea and coffee validate."""
    out = tmp_path_factory.mktemp("demo")
    return build_demo(out, seed=0, scenes=2, cameras=["sim-a"], limit=4, max_size=160, progress=False)["sim-a"]


@pytest.fixture(scope="session")
def damaged_copies():
    """damaged_copies(good, folder) -> {kind: path}; see `write_damaged_copies`."""
    return write_damaged_copies


@pytest.fixture(scope="session")
def claim_size():
    """claim_size(path, width, height); see `write_claimed_size`."""
    return write_claimed_size


def write_damaged_copies(good: Path, folder: Path) -> dict[str, Path]:
    """Copies of a real DNG as a partially copied memory card leaves them, by what happened:

    - `stripped`: header and tags kept, the image data gone (the file ends early);
    - `unwritten`: full length, the image data never written (zeros, as preallocated);
    - `erased`: full length, the image data reads as erased flash (all bits set);
    - `cut`: the file stops a third of the way into its image data.
    """
    data = good.read_bytes()
    with tifffile.TiffFile(good) as tif:
        start, size = tif.pages[0].dataoffsets[0], sum(tif.pages[0].databytecounts)
    end = start + size
    contents = {
        "stripped": data[:start] + data[end:],
        "unwritten": data[:start] + bytes(size) + data[end:],
        "erased": data[:start] + b"\xff" * size + data[end:],
        "cut": data[: start + size // 3],
    }
    folder.mkdir(parents=True, exist_ok=True)
    copies = {}
    for kind, content in contents.items():
        copies[kind] = folder / f"{kind}{good.suffix}"
        copies[kind].write_bytes(content)
    return copies


def write_claimed_size(path: Path, width: int, height: int) -> None:
    """Rewrites a DNG's ImageWidth and ImageLength tags in place (its data stays as small)."""
    with tifffile.TiffFile(path) as tif:
        tags, order = tif.pages[0].tags, tif.byteorder
        fields = [(tags[code].valueoffset, tags[code].dtype, value) for code, value in ((256, width), (257, height))]
    with open(path, "r+b") as handle:
        for offset, dtype, value in fields:
            handle.seek(offset)
            handle.write(np.array(value, dtype=order + ("u2" if dtype == 3 else "u4")).tobytes())

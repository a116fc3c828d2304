"""DNG files written by nipkit.data.dng, checked through libraw (rawpy) itself."""
from __future__ import annotations

import numpy as np
import pytest
import rawpy

from nipkit.data.dng import write_dng, write_linear_dng
from nipkit.data.raw import XYZ_FROM_SRGB, camera_to_srgb

# The 2x2 tile of each CFA, row by row, as letters.
TILES = {"rggb": "RGGB", "grbg": "GRBG", "gbrg": "GBRG", "bggr": "BGGR"}


@pytest.mark.parametrize("cfa", sorted(TILES))
@pytest.mark.parametrize("bits", [12, 14, 16])
def test_libraw_reads_the_mosaic_bit_exactly(tmp_path, bayer_dng, positions, cfa, bits):
    path = tmp_path / "x.dng"
    black = (100 * bits, 100 * bits + 5, 100 * bits + 9, 100 * bits + 17)  # R, Gr, Gb, B
    mosaic = bayer_dng(path, cfa=cfa, bits=bits, shape=(47, 63), black=black, wb=(2.25, 1.0, 1.75))
    with rawpy.imread(str(path)) as raw:
        assert np.array_equal(raw.raw_image_visible, mosaic)
        assert raw.white_level == (1 << bits) - 1
        colours = raw.raw_colors_visible[:2, :2]
        desc = raw.color_desc.decode()
        assert "".join(desc[c] for c in colours.ravel()) == TILES[cfa]
        per_colour = raw.black_level_per_channel
        assert [per_colour[colours[pos]] for pos in positions[cfa]] == list(black)
        np.testing.assert_allclose(np.asarray(raw.camera_whitebalance[:3]), [2.25, 1.0, 1.75], rtol=1e-5)


def test_colour_matrix_is_what_libraw_derives(tmp_path, bayer_dng):
    xyz_to_camera = np.array([[0.9, -0.3, -0.1], [-0.4, 1.2, 0.2], [-0.05, 0.15, 0.6]])
    path = tmp_path / "cm.dng"
    write_dng(path, np.full((40, 40), 500), cfa="rggb", black_level=(0, 0, 0, 0), white_level=4095, color_matrix=xyz_to_camera)
    with rawpy.imread(str(path)) as raw:
        libraw = np.asarray(raw.color_matrix)[:, :3]
        assert not np.asarray(raw.rgb_xyz_matrix).any()  # a DNG's matrix is not exposed there
    np.testing.assert_allclose(camera_to_srgb(xyz_to_camera), libraw, atol=1e-4)  # libraw works in float32
    # and it inverts sRGB -> camera with rows scaled to sum to 1
    camera_from_srgb = xyz_to_camera @ XYZ_FROM_SRGB
    camera_from_srgb /= camera_from_srgb.sum(1, keepdims=True)
    np.testing.assert_allclose(libraw @ camera_from_srgb, np.eye(3), atol=1e-4)


def test_make_and_model_are_written(tmp_path):
    import tifffile

    path = tmp_path / "m.dng"
    write_dng(path, np.zeros((30, 30)), cfa="gbrg", black_level=(0,) * 4, white_level=4095, make="Acme", model="Acme Z9")
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        assert tags[271].value == "Acme" and tags[272].value == "Acme Z9"
        assert tags[50708].value == "Acme Acme Z9"


def test_linear_and_monochrome_dngs(tmp_path):
    rng = np.random.default_rng(0)
    write_linear_dng(tmp_path / "rgb.dng", rng.integers(0, 4000, (40, 40, 3)), white_level=4095)
    write_linear_dng(tmp_path / "mono.dng", rng.integers(0, 4000, (40, 40)), white_level=4095)
    with rawpy.imread(str(tmp_path / "rgb.dng")) as raw:
        assert raw.raw_type == rawpy.RawType.Stack and raw.raw_pattern is None
    with rawpy.imread(str(tmp_path / "mono.dng")) as raw:
        assert raw.num_colors == 1

"""read_raw against the sensor values the tests wrote into real DNG files."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nipkit.data.dng import write_dng, write_linear_dng
from nipkit.cfa import CFA_PATTERNS, bayer_to_stack, sample_positions, stack_to_bayer
from nipkit.data.raw import RAW_EXTENSIONS, read_camera_name, read_raw
from nipkit.errors import DataError

# X-Trans 6x6 colour codes (0 = R, 1 = G, 2 = B).
XTRANS = np.array([
    [1, 1, 0, 1, 1, 2], [1, 1, 2, 1, 1, 0], [2, 0, 1, 0, 2, 1],
    [1, 1, 2, 1, 1, 0], [1, 1, 0, 1, 1, 2], [0, 2, 1, 2, 0, 1],
])


def expected_bayer(mosaic, cfa_table, black, white, wb):
    """The paper's pre-processing, written out channel by channel in float64."""
    height, width = mosaic.shape[0] // 2 * 2, mosaic.shape[1] // 2 * 2
    gains = (wb[0], wb[1], wb[1], wb[2])
    channels = []
    for (row, col), b, gain in zip(cfa_table, black, gains):
        values = mosaic[row:height:2, col:width:2].astype(np.float64)
        values = np.clip((values - b) / (white - b), 0, 1)
        channels.append(np.clip(values * gain, 0, 1))
    return np.stack(channels, axis=-1)


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
@pytest.mark.parametrize("bits", [12, 14, 16])
def test_bayer_matches_the_sensor_values_written(tmp_path, bayer_dng, positions, cfa, bits):
    path = tmp_path / f"{cfa}.DNG"
    white = (1 << bits) - 1
    black = (white // 16, white // 16 + 4, white // 16 + 9, white // 16 + 15)
    mosaic = bayer_dng(path, cfa=cfa, bits=bits, shape=(51, 73), black=black, wb=(2.2, 1.0, 1.7), seed=bits)
    raw = read_raw(path)

    assert raw.cfa == cfa
    assert raw.black_level == tuple(float(b) for b in black)
    assert raw.white_level == white
    np.testing.assert_allclose(raw.wb, (2.2, 1.0, 1.7), rtol=1e-5)
    assert raw.bayer.dtype == np.float32 and raw.bayer.shape == (25, 36, 4)
    assert (raw.height, raw.width) == (50, 72)
    for channel, (row, col) in enumerate(positions[cfa]):
        assert np.array_equal(raw.sensor[..., channel], mosaic[row:50:2, col:72:2])
    np.testing.assert_allclose(raw.bayer, expected_bayer(mosaic, positions[cfa], black, white, raw.wb), atol=1e-6)
    assert raw.bayer.min() == 0.0 and raw.bayer.max() == 1.0  # random values reach both clips


def test_camera_names(tmp_path, bayer_dng):
    bayer_dng(tmp_path / "a.dng", make="Canon", model="Canon EOS 40D")
    bayer_dng(tmp_path / "b.dng", make="NIKON CORPORATION", model="NIKON D90")
    bayer_dng(tmp_path / "c.dng", make="SONY", model="ILCE-7M3")
    (tmp_path / "trip").mkdir()
    bayer_dng(tmp_path / "trip" / "d.dng", make="", model="")
    assert read_raw(tmp_path / "a.dng").camera == "Canon EOS 40D"
    assert read_raw(tmp_path / "b.dng").camera == "NIKON D90"
    assert read_raw(tmp_path / "c.dng").camera == "SONY ILCE-7M3"
    assert read_raw(tmp_path / "trip" / "d.dng").camera == "trip"
    assert read_camera_name(tmp_path / "trip" / "d.dng", fallback="") == ""


def test_colour_matrix_and_white_balance(tmp_path, photo_dng):
    from nipkit.data.demo import DEMO_CAMERAS

    photo_dng(tmp_path / "p.dng", camera=1)
    raw = read_raw(tmp_path / "p.dng")
    camera_from_srgb = np.asarray(DEMO_CAMERAS[1].camera_from_srgb)
    np.testing.assert_allclose(raw.color_matrix @ camera_from_srgb, np.eye(3), atol=1e-4)
    assert 1.9 <= raw.wb[0] <= 2.4 and raw.wb[1] == 1.0 and 1.5 <= raw.wb[2] <= 1.9


def test_stack_helpers_round_trip():
    mosaic = np.arange(6 * 8).reshape(6, 8)
    for cfa in CFA_PATTERNS:
        assert np.array_equal(stack_to_bayer(bayer_to_stack(mosaic, cfa), cfa), mosaic)
    odd = np.arange(7 * 9).reshape(7, 9)
    assert bayer_to_stack(odd, "rggb").shape == (3, 4, 4)
    assert sample_positions("bggr") == ((1, 1), (1, 0), (0, 1), (0, 0))
    with pytest.raises(ValueError, match="cfa must be one of"):
        sample_positions("rgbg")


def one_line_error(path) -> str:
    with pytest.raises(DataError) as info:
        read_raw(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.mark.parametrize(
    "pattern, reason",
    [("xtrans", "X-Trans"), ("gbgr", "GBGR colour filters"), ("linear", "linear DNG"), ("mono", "monochrome")],
)
def test_non_bayer_sensors_are_refused(tmp_path, pattern, reason):
    path = tmp_path / f"{pattern}.dng"
    rng = np.random.default_rng(0)
    if pattern == "xtrans":
        write_dng(path, rng.integers(0, 4000, (48, 48)), cfa=XTRANS, black_level=[0], white_level=4095)
    elif pattern == "gbgr":  # greens in one column: no Bayer tile
        write_dng(path, rng.integers(0, 4000, (48, 48)), cfa=np.array([[1, 2], [1, 0]]), black_level=[0], white_level=4095)
    elif pattern == "linear":
        write_linear_dng(path, rng.integers(0, 4000, (48, 48, 3)), white_level=4095)
    else:
        write_linear_dng(path, rng.integers(0, 4000, (48, 48)), white_level=4095)
    assert reason in one_line_error(path)


def test_unreadable_files_are_refused(tmp_path, bayer_dng):
    good = tmp_path / "good.dng"
    bayer_dng(good, shape=(64, 64))
    data = good.read_bytes()

    (tmp_path / "zero.dng").write_bytes(b"")
    assert "empty file" in one_line_error(tmp_path / "zero.dng")

    for cut in (0.05, 0.5, 0.99):
        (tmp_path / "cut.dng").write_bytes(data[: int(len(data) * cut)])
        assert "truncated" in one_line_error(tmp_path / "cut.dng")

    (tmp_path / "header.dng").write_bytes(b"XXXX" + data[4:])
    assert "not a RAW file libraw can read" in one_line_error(tmp_path / "header.dng")

    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "photo.jpg")
    shutil.copy(tmp_path / "photo.jpg", tmp_path / "photo.NEF")
    assert "not a RAW file libraw can read" in one_line_error(tmp_path / "photo.NEF")

    shutil.copy(good, tmp_path / "renamed.tif")
    assert "not a RAW file extension" in one_line_error(tmp_path / "renamed.tif")

    assert "no such file" in one_line_error(tmp_path / "missing.cr2")


def test_a_partially_copied_file_is_refused_with_its_reason(tmp_path, bayer_dng, damaged_copies):
    good = tmp_path / "good.dng"
    bayer_dng(good, shape=(96, 128))
    copies = damaged_copies(good, tmp_path / "card")
    assert "truncated or image data missing: 544 bytes cannot hold the data of its 128×96 sensor" in one_line_error(copies["stripped"])
    assert "image data missing or truncated: 100.0% of its sensor samples are at the black level" in one_line_error(copies["unwritten"])
    assert "image data missing or damaged: 100.0% of its sensor samples have the one value 65535" in one_line_error(copies["erased"])
    assert "cannot be read to the end" in one_line_error(copies["cut"])
    assert read_raw(good).sensor.shape == (48, 64, 4)


def test_mostly_black_is_refused_but_a_dark_photo_is_not(tmp_path):
    rng = np.random.default_rng(1)
    black = (64, 64, 64, 64)
    dark = 64 + rng.normal(0, 3, size=(96, 128)).round()  # a night shot: read noise around black
    write_dng(tmp_path / "dark.dng", np.clip(dark, 0, 4095), cfa="rggb", black_level=black, white_level=4095)
    assert read_raw(tmp_path / "dark.dng").sensor.shape == (48, 64, 4)

    lost = rng.integers(64, 4096, size=(96, 128))
    lost[9:] = 0  # only the first rows were written
    write_dng(tmp_path / "lost.dng", lost, cfa="rggb", black_level=black, white_level=4095)
    assert "are at the black level" in one_line_error(tmp_path / "lost.dng")


def test_the_megapixel_cap_refuses_before_decoding(tmp_path, bayer_dng, claim_size):
    huge = tmp_path / "huge.dng"
    bayer_dng(huge, shape=(64, 64))
    claim_size(huge, 16000, 16000)  # a 16000² header with 8 KB of data: decoding would fail
    assert one_line_error(huge) == (
        f"{huge}: 16000×16000 sensor (256.0 MP) is above the limit of 100 MP; refused before decoding "
        "(raise it with --max-megapixels)"
    )
    small = tmp_path / "small.dng"
    bayer_dng(small, shape=(64, 64))
    with pytest.raises(DataError, match=r"64×64 sensor \(0.0 MP\) is above the limit of 0.001 MP"):
        read_raw(small, max_megapixels=0.001)
    assert read_raw(small, max_megapixels=0.005).width == 64


def test_the_readme_lists_every_raw_extension():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    listed = re.search(r"any format LibRaw reads:\n(.*?), in any case", readme, re.S).group(1)
    assert sorted("." + name.strip().lower() for name in listed.split(",")) == sorted(RAW_EXTENSIONS)

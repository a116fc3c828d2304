"""Target developers: a photo unprocessed into a DNG must develop back into the photo."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nipkit.data.demo import inverse_tone_curve
from nipkit.data.develop import TargetSpec, develop, quantise, srgb_gamma
from nipkit.data.raw import open_raw, raw_image_from


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def develop_file(path: Path, spec: TargetSpec) -> np.ndarray:
    with open_raw(path) as raw:
        return develop(raw, raw_image_from(raw, path), spec)


def test_srgb_gamma_matches_colour_science():
    from colour.models import eotf_inverse_sRGB

    x = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(srgb_gamma(x), eotf_inverse_sRGB(x), atol=1e-6)


def test_quantise():
    assert quantise(np.array([0.0, 0.5, 1.0, 1.5]), 8).tolist() == [0, 128, 255, 255]
    assert quantise(np.array([1.0]), 16).dtype == np.uint16


@pytest.mark.parametrize("camera", [0, 1])
@pytest.mark.parametrize("spec", [TargetSpec("libraw"), TargetSpec("menon"), TargetSpec("libraw", "DCB", bits=16)])
def test_targets_reproduce_the_photo(tmp_path, photo_dng, camera, spec):
    # The DNG holds the photo after the inverse tone curve and gamma 2.2; a faithful
    # developer (white balance, colour matrix, sRGB gamma) gives that back.
    srgb = photo_dng(tmp_path / "p.dng", photo="coffee", size=(96, 128), offset=(150, 200), camera=camera)
    expected = srgb_gamma(inverse_tone_curve(srgb) ** 2.2)
    target = develop_file(tmp_path / "p.dng", spec)
    assert target.shape == (96, 128, 3)
    assert target.dtype == (np.uint8 if spec.bits == 8 else np.uint16)
    developed = target / np.iinfo(target.dtype).max
    assert psnr(developed[4:-4, 4:-4], expected[4:-4, 4:-4]) > 33.0


def test_odd_sizes_give_even_targets(tmp_path, photo_dng):
    photo_dng(tmp_path / "odd.dng", size=(95, 127))
    for kind in ("libraw", "menon"):
        assert develop_file(tmp_path / "odd.dng", TargetSpec(kind)).shape == (94, 126, 3)


def test_target_spec_checks():
    with pytest.raises(ValueError, match="target must be one of libraw, menon"):
        TargetSpec("dcraw")
    with pytest.raises(ValueError, match="algorithm must be one of"):
        TargetSpec("libraw", "NOPE")
    with pytest.raises(ValueError, match="bits must be 8 or 16"):
        TargetSpec(bits=12)
    assert TargetSpec("menon").to_dict() == {"kind": "menon", "bits": 8}

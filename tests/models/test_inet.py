"""INet: parameter count, shapes, errors, and development at initialisation against an
independent numpy pipeline (colour-demosaicing's bilinear demosaicing, a colour matrix,
the sRGB curve of the `colour` package)."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import yaml
from colour.models import eotf_inverse_sRGB
from colour_demosaicing import demosaicing_CFA_Bayer_bilinear, masks_CFA_Bayer
from scipy import ndimage
from skimage import data, transform

from nipkit import registry
from nipkit.errors import ConfigError
from nipkit.models import INet
from nipkit.models.inet import DEFAULT_COLOR_MATRIX
from nipkit.testing import check_component

CFAS = ("rggb", "grbg", "gbrg", "bggr")
CUSTOM_MATRIX = [[1.5, -0.4, -0.1], [-0.2, 1.4, -0.2], [0.05, -0.35, 1.3]]


def trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def smooth_camera_image(shape=(64, 96)) -> np.ndarray:
    """A smooth linear camera-RGB image in [0.05, 0.75]."""
    img = transform.resize(data.astronaut(), shape, anti_aliasing=True)
    return 0.05 + 0.7 * ndimage.gaussian_filter(img, (1.5, 1.5, 0))


def raw_stack(camera: np.ndarray, cfa: str) -> tuple[np.ndarray, np.ndarray]:
    """The Bayer mosaic and its canonical stack R, Gr, Gb, B, built from colour's masks."""
    masks = masks_CFA_Bayer(camera.shape[:2], cfa.upper())
    bayer = sum(camera[..., c] * masks[c] for c in range(3))
    tiles = {}
    for dy in (0, 1):
        for dx in (0, 1):
            colour = next(c for c in range(3) if masks[c][dy, dx])
            tiles[(dy, dx)] = (colour, bayer[dy::2, dx::2])
    red_row = next(dy for (dy, _), (c, _) in tiles.items() if c == 0)
    planes = [
        next(p for (dy, _), (c, p) in tiles.items() if c == 0),
        next(p for (dy, _), (c, p) in tiles.items() if c == 1 and dy == red_row),
        next(p for (dy, _), (c, p) in tiles.items() if c == 1 and dy != red_row),
        next(p for (dy, _), (c, p) in tiles.items() if c == 2),
    ]
    return bayer, np.stack(planes, axis=-1)[None].astype("float32")


def reference_pipeline(bayer: np.ndarray, cfa: str, matrix) -> np.ndarray:
    # Mirror padding by an even width keeps the CFA phase at the borders.
    padded = np.pad(bayer, 2, mode="reflect")
    rgb = demosaicing_CFA_Bayer_bilinear(padded, cfa.upper())[2:-2, 2:-2]
    return eotf_inverse_sRGB(np.clip(rgb @ np.asarray(matrix).T, 0.0, 1.0))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def test_trainable_count_through_registry():
    model = registry.models.build({"type": "inet"})
    model.build((None, 8, 8, 4))
    assert trainable_count(model) == 321
    assert model.non_trainable_weights == []


@pytest.mark.parametrize("cfa, matrix", [(c, None) for c in CFAS] + [("gbrg", CUSTOM_MATRIX)])
def test_initial_inet_matches_numpy_pipeline(cfa, matrix):
    bayer, stack = raw_stack(smooth_camera_image(), cfa)
    expected = reference_pipeline(bayer, cfa, matrix or DEFAULT_COLOR_MATRIX)
    developed = keras.ops.convert_to_numpy(INet(cfa=cfa, color_matrix=matrix)(stack))[0]
    assert developed.shape == expected.shape
    assert psnr(developed, expected) > 30.0


def test_random_init_switches_initialisation_off():
    bayer, stack = raw_stack(smooth_camera_image(), "rggb")
    expected = reference_pipeline(bayer, "rggb", DEFAULT_COLOR_MATRIX)
    model = INet(random_init=True)
    developed = keras.ops.convert_to_numpy(model(stack))[0]
    assert psnr(developed, expected) < 20.0
    assert trainable_count(model) == 321


@pytest.mark.parametrize("cfa", CFAS)
@pytest.mark.parametrize("shape", [(1, 2, 2, 4), (2, 5, 7, 4), (1, 16, 12, 4)])
def test_output_shapes(cfa, shape):
    out = INet(cfa=cfa)(np.random.default_rng(0).uniform(size=shape).astype("float32"))
    assert tuple(out.shape) == (shape[0], 2 * shape[1], 2 * shape[2], 3)
    values = keras.ops.convert_to_numpy(out)
    assert values.min() >= 0.0 and values.max() <= 1.0


def test_symbolic_input_and_input_multiple():
    model = INet()
    assert INet.input_multiple == 1 and model.input_multiple == 1
    assert tuple(model(keras.Input((None, None, 4))).shape) == (None, None, None, 3)


def test_errors_at_construction_and_build():
    with pytest.raises(ValueError, match=r"RAW stack \(batch, h/2, w/2, 4\)"):
        INet()(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="at least 2"):
        INet()(np.zeros((1, 1, 8, 4), "float32"))
    with pytest.raises(ValueError, match="3×3"):
        INet(color_matrix=[[1, 0], [0, 1]])
    with pytest.raises(ConfigError, match="'inet'.*cfa must be one of"):
        registry.models.build({"type": "inet", "cfa": "rgbg"})


def test_yaml_spec_round_trip():
    spec = yaml.safe_load(
        "type: inet\ncfa: BGGR\ncolor_matrix: [[1.5, -0.4, -0.1], [-0.2, 1.4, -0.2], [0.05, -0.35, 1.3]]\n"
    )
    model = registry.models.build(spec)
    config = model.get_config()
    assert config["cfa"] == "bggr" and config["color_matrix"] == CUSTOM_MATRIX
    assert yaml.safe_load(yaml.safe_dump({k: config[k] for k in ("cfa", "color_matrix", "random_init")}))


def test_check_component():
    check_component(INet(cfa="grbg", color_matrix=CUSTOM_MATRIX), (6, 8, 4))


def test_initialisation_survives_a_symbolic_build_inside_another_model():
    """An outer model may build INet symbolically; its starting pipeline must still hold."""
    import keras

    from nipkit.models import INet

    class Outer(keras.Model):
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def call(self, x):
            return self.inner(x)

    raw = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 4)).astype("float32")
    alone = INet(cfa="grbg")
    expected = keras.ops.convert_to_numpy(alone(raw))
    outer = Outer(INet(cfa="grbg"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outer(raw)), expected, atol=1e-6)

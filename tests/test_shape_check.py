"""`validate` checks shapes without data: NIP → manipulations → channel → FAN, symbolically."""
from __future__ import annotations

import subprocess
import sys

import keras
import pytest

from support import pythonpath

from nipkit import registry
from nipkit.config import load_config
from nipkit.errors import ConfigError
from nipkit.layers.downscale import Downscale
from nipkit.schema import validate
from test_config import EXPERIMENT, write

# A size-changing layer and a one-channel layer, declared in roles where they do not fit.
registry.layers.register("halve_for_shape_tests", Downscale, roles=("manipulation",))
registry.layers.register("dense1_for_shape_tests", keras.layers.Dense, roles=("channel",))


def error_of(tmp_path, text: str) -> tuple[str, str]:
    config = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        validate(load_config(config))
    return str(config), str(err.value)


def test_paper_experiment_passes(tmp_path):
    assert validate(load_config(write(tmp_path, EXPERIMENT.replace("steps: 10", "patch_size: 64")))) == "experiment"


def test_patch_too_small_for_the_fan_after_the_channel(tmp_path):
    config, message = error_of(tmp_path, EXPERIMENT.replace("steps: 10", "patch_size: 32"))
    assert message.startswith(
        f"{config}:11: fan: cannot take the output of channel[1] (16×16×3): ValueError: FAN needs spatial sizes of at least 20"
    ), message
    assert message.endswith("raise training.patch_size (now 32) or shrink less in `channel:`")


def test_default_fan_is_checked_too(tmp_path):
    config, message = error_of(tmp_path, EXPERIMENT.replace("fan: fan\n", "").replace("steps: 10", "patch_size: 32"))
    # No `fan:` line to point at: the location is the document.
    assert message.startswith(f"{config}:1: fan: cannot take the output of channel[1] (16×16×3)"), message


def test_manipulation_that_changes_the_image_size(tmp_path):
    config, message = error_of(tmp_path, EXPERIMENT.replace("  - resample", "  - halve_for_shape_tests"))
    assert message == (
        f"{config}:7: manipulations[3]: changes the image size from 256×256×3 to 128×128×3; a manipulation must keep "
        "it (size changes belong in `channel:`)"
    )


def test_channel_step_whose_output_breaks_the_fan(tmp_path):
    config, message = error_of(tmp_path, EXPERIMENT.replace("  - jpeg: {quality: 50}", "  - dense1_for_shape_tests: {units: 1}"))
    assert message == (
        f"{config}:10: channel[1].dense1_for_shape_tests: gives 128×128×1 images; a channel step must give non-empty RGB images (…×3)"
    )


def test_channel_step_that_refuses_the_previous_output(tmp_path):
    text = EXPERIMENT.replace("  - downscale: {factor: 2}", "  - downscale: {factor: 2}\n  - gaussian: {kernel_size: 301}")
    config, message = error_of(tmp_path, text)
    assert message == (
        f"{config}:10: channel[1].gaussian: cannot take the output of channel[0] (128×128×3): ValueError: Gaussian: a "
        "border of 150 pixels (reflect padding) needs images larger than 150×150; got 128×128"
    )


def test_channel_step_that_leaves_nothing(tmp_path):
    config, message = error_of(tmp_path, EXPERIMENT.replace("downscale: {factor: 2}", "downscale: {factor: 512}"))
    assert message == (
        f"{config}:9: channel[0].downscale: gives 0×0×3 images; a channel step must give non-empty RGB images (…×3)"
    )


def test_nip_that_refuses_the_patch_size(tmp_path):
    config, message = error_of(tmp_path, EXPERIMENT.replace("{type: inet}", "{type: unet}").replace("steps: 10", "patch_size: 200"))
    assert message.startswith(f"{config}:2: nip.type: cannot take the RAW stacks of patch_size 200 (100×100×4): ValueError: "), message
    assert "16" in message


def one_error_line(result) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_run_gives_the_same_one_line_error_as_validate(nipkit_cli, tmp_path, fixture_plugins):
    small = write(tmp_path, EXPERIMENT.replace("steps: 10", "patch_size: 32"), name="small.yaml")
    expected = one_error_line(nipkit_cli("validate", small))
    assert "FAN needs spatial sizes of at least 20" in expected
    assert one_error_line(nipkit_cli("run", small, "--out", tmp_path / "runs")) == expected

    crop = write(tmp_path, EXPERIMENT.replace("  - resample", "  - fixture_crop"), name="crop.yaml")
    env = pythonpath(fixture_plugins["good"])
    line = one_error_line(nipkit_cli("run", crop, "--out", tmp_path / "runs", env=env))
    assert line == (
        f"error: {crop}:7: manipulations[3]: changes the image size from 256×256×3 to 252×252×3; a manipulation must "
        "keep it (size changes belong in `channel:`)"
    )
    assert not (tmp_path / "runs").exists()


def test_nip_training_configs_are_left_alone_and_schema_stays_light():
    from nipkit.config import Config
    from nipkit.shape_check import check_shapes

    check_shapes(Config({"data": "demo", "nip": "unet", "training": {"patch_size": 200}}))  # no experiment: nothing built
    code = "import sys, nipkit.schema; assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

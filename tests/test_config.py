"""Config files: safe YAML, FILE:LINE locations, overrides, validation."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nipkit.config import format_path, load_config, parse_override
from nipkit.errors import ConfigError
from nipkit.schema import check_manipulation_names, validate

EXPERIMENT = """\
data: demo
nip: {type: inet}
manipulations:
  - sharpen
  - gaussian: {sigma: 0.83}
  - {type: jpeg, quality: 80, rounding: sin}
  - resample
channel:
  - downscale: {factor: 2}
  - jpeg: {quality: 50}
fan: fan
training:
  mode: [fan, joint]
  steps: 10
output: runs/test
"""


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_valid_experiment(tmp_path):
    assert validate(load_config(write(tmp_path, EXPERIMENT))) == "experiment"


def test_format_path():
    assert format_path(("channel", 1, "quality")) == "channel[1].quality"


def test_unknown_channel_type_names_file_line_and_suggestion(tmp_path):
    path = write(tmp_path, EXPERIMENT.replace("jpeg: {quality: 50}", "gausian: {sigma: 1}"))
    with pytest.raises(ConfigError) as err:
        validate(load_config(path))
    message = str(err.value)
    assert f"{path}:10:" in message and "channel[1]" in message
    assert "gausian" in message and "'gaussian'" in message


def test_wrong_parameter_points_at_its_line(tmp_path):
    path = write(tmp_path, EXPERIMENT.replace("sigma: 0.83", "sigmaa: 0.83"))
    with pytest.raises(ConfigError) as err:
        validate(load_config(path))
    assert f"{path}:5: manipulations[1].gaussian.sigmaa: unknown parameter 'sigmaa'" in str(err.value)


def test_bad_value_points_at_its_line(tmp_path):
    path = write(tmp_path, EXPERIMENT.replace("quality: 50", "quality: 0"))
    with pytest.raises(ConfigError) as err:
        validate(load_config(path))
    assert f"{path}:10: channel[1].jpeg.quality:" in str(err.value)


def test_unknown_training_key(tmp_path):
    path = write(tmp_path, EXPERIMENT.replace("steps: 10", "stepz: 10"))
    with pytest.raises(ConfigError, match=r":14: training.stepz: unknown key \(did you mean 'steps'\?\)"):
        validate(load_config(path))


def test_python_tags_are_refused(tmp_path):
    path = write(tmp_path, "data: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match=r"exp.yaml:1: invalid YAML"):
        load_config(path)


def test_overrides_are_yaml_and_located(tmp_path):
    path = write(tmp_path, EXPERIMENT)
    cfg = load_config(path, ["training.steps=25", "channel[1].jpeg.quality=0", "training.mode=fan"])
    assert cfg.get("training.steps") == 25 and cfg.get("training.mode") == "fan"
    with pytest.raises(ConfigError, match=r"--set channel\[1\]\.jpeg\.quality=0: channel\[1\]\.jpeg\.quality"):
        validate(cfg)
    assert parse_override("a.b=[1, 2]") == (("a", "b"), [1, 2])
    with pytest.raises(ConfigError):
        parse_override("novalue")


def test_class_names(tmp_path):
    cfg = load_config(write(tmp_path, EXPERIMENT))
    assert check_manipulation_names(cfg) == ["native", "sharpen", "gaussian", "jpeg", "resample"]


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


EXAMPLES = sorted(p for p in (Path(__file__).parents[1] / "examples").rglob("*.yaml") if p.name != "plugins.yaml")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_shipped_examples_validate(path):
    """Every example config nipkit ships is valid (plugins.yaml: tests/test_plugin_packages.py)."""
    assert validate(load_config(path)) in ("nip", "experiment")

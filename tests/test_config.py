"""Config files: safe YAML, FILE:LINE locations, overrides, validation."""
from __future__ import annotations

import resource
import subprocess
import textwrap
from pathlib import Path

import pytest

from nipkit.config import format_path, load_config, parse_override
from nipkit.errors import ConfigError
from nipkit.options import JointTrainingOptions, NipTrainingOptions, parse_options
from support import nipkit_executable
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


def test_training_image_globs_from_set_and_their_checks(tmp_path):
    assert parse_override("training.exclude_images=scene_*") == (("training", "exclude_images"), "scene_*")
    assert parse_override("training.exclude_images=[scene_*, flower]") == (("training", "exclude_images"),
                                                                           ["scene_*", "flower"])
    assert parse_override("training.train_images=*_day") == (("training", "train_images"), "*_day")  # not an alias
    assert parse_override("training.train_images= *_day night ")[1] == "*_day night"  # a lone glob: taken whole
    assert parse_override("training.train_images=[*_day, scene_*]") == (("training", "train_images"),
                                                                       ["*_day", "scene_*"])
    assert parse_override("training.train_images=[a, *_day]")[1] == ["a", "*_day"]
    assert parse_override('training.train_images=["x, *y"]')[1] == ["x, *y"]  # quoted: left as written
    with pytest.raises(ConfigError, match="invalid YAML"):
        parse_override("training.train_images=[*_day")
    path = write(tmp_path, EXPERIMENT)
    options = parse_options(load_config(path, ["training.exclude_images=[scene_*, flower]"]), JointTrainingOptions)
    assert (options.train_images, options.exclude_images) == ("*", ("scene_*", "flower"))
    assert (NipTrainingOptions().train_images, NipTrainingOptions().exclude_images) == ("*", None)
    for key, bad in (("exclude_images", "3"), ("train_images", "[]"), ("train_images", "[scene_*, 1]"),
                     ("train_images", "null")):
        with pytest.raises(ConfigError, match=rf"^--set training.{key}=.*: training.{key}: must be a glob"):
            validate(load_config(path, [f"training.{key}={bad}"]))
    with pytest.raises(ConfigError, match=r"pretrain.exclude_images: must be a glob"):
        parse_options(load_config(path, ["pretrain.exclude_images=3"]), NipTrainingOptions, "pretrain")


def test_augment_is_none_or_dihedral(tmp_path):
    path = write(tmp_path, EXPERIMENT)
    assert parse_options(load_config(path, ["training.augment=dihedral"]), JointTrainingOptions).augment == "dihedral"
    assert NipTrainingOptions().augment == JointTrainingOptions().augment == "none"
    with pytest.raises(ConfigError, match=r"^--set training.augment=flips: training.augment: must be none or dihedral"):
        validate(load_config(path, ["training.augment=flips"]))


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
    assert validate(load_config(path)) in ("nip", "codec", "experiment")


def alias_bomb(levels: int) -> str:
    """A YAML "billion laughs": each level a list of 9 aliases of the level below."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


VALIDATE_MEMORY = 3 << 30  # ample for `nipkit validate` of a real config; the bomb needs ~100 GB


def validate_under_memory_limit(config: Path) -> subprocess.CompletedProcess:
    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (VALIDATE_MEMORY, VALIDATE_MEMORY))

    return subprocess.run(
        [nipkit_executable(), "validate", str(config)], capture_output=True, text=True, preexec_fn=limit_memory
    )


def test_alias_bomb_is_one_line_under_a_memory_limit(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb(10))
    assert len(bomb.read_bytes()) < 600
    fine = validate_under_memory_limit(write(tmp_path, EXPERIMENT))
    assert (fine.returncode, fine.stdout.strip()) == (0, "ok"), fine.stderr  # the limit itself is no obstacle

    result = validate_under_memory_limit(bomb)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        f"error: {bomb}:1: the YAML's aliases (*name) expand to more than 100,000 values; "
        "write the values out instead of nesting aliases of lists or mappings"
    ]


def test_modest_aliases_keep_their_values_and_lines(tmp_path):
    config = load_config(write(tmp_path, """\
        base: &jpeg {type: jpeg, quality: 80}
        manipulations:
          - *jpeg
          - sharpen
        channel: [*jpeg]
        """))
    assert config.get("manipulations[0].quality") == 80 and config.get("channel[0].type") == "jpeg"
    assert config.where(("manipulations", 1)) == f"{tmp_path / 'exp.yaml'}:4"
    assert config.where(("base", "quality")) == f"{tmp_path / 'exp.yaml'}:1"


def test_an_alias_bomb_in_a_set_value_is_refused_too():
    bomb = "[&a [x, x, x, x, x, x, x, x, x, x], " + ", ".join(
        f"&{b} [{', '.join([f'*{a}'] * 10)}]" for a, b in zip("abcd", "bcde")
    ) + "]"
    with pytest.raises(ConfigError, match=r"^--set 'nip=.*':1: the YAML's aliases \(\*name\) expand to more than 100,000 values"):
        parse_override(f"nip={bomb}")
    with pytest.raises(ConfigError, match=r"^--set 'a=\[1, 2':1: invalid YAML"):
        parse_override("a=[1, 2")


def test_extends_merges_mappings_replaces_lists_and_locates_each_value(tmp_path):
    base = write(tmp_path, EXPERIMENT, name="base.yaml")
    child = write(tmp_path, """\
        extends: base.yaml
        channel:
          - downscale: {factor: 2}
        training:
          steps: 0
        output: runs/child
        """, name="child.yaml")
    cfg = load_config(child)
    assert "extends" not in cfg.data
    assert cfg.get("channel") == [{"downscale": {"factor": 2}}]  # a list replaces the base's
    assert cfg.get("training") == {"mode": ["fan", "joint"], "steps": 0}  # mappings merge
    assert cfg.get("manipulations") == load_config(base).get("manipulations")
    assert list(cfg.data) == list(load_config(base).data)  # the base's key order
    with pytest.raises(ConfigError, match=rf"{child}:5: training.steps: "):
        validate(cfg)
    wrong = write(tmp_path, EXPERIMENT.replace("sigma: 0.83", "sigmaa: 0.83"), name="base.yaml")
    with pytest.raises(ConfigError, match=rf"{wrong}:5: manipulations\[1\]\.gaussian\.sigmaa: unknown parameter"):
        validate(load_config(child))


@pytest.mark.parametrize("files, message", [
    ({"child.yaml": "extends: nope.yaml\n"}, r"child\.yaml:1: extends: .*nope\.yaml: no such config file"),
    ({"child.yaml": "extends: [base.yaml]\n"}, r"child\.yaml:1: extends: must name a config file"),
    ({"child.yaml": "extends: mid.yaml\n", "mid.yaml": "extends: child.yaml\n"},
     r"child\.yaml:1: extends: .*mid\.yaml:1: extends: child\.yaml -> mid\.yaml -> child\.yaml: configs cannot extend in a circle"),
    ({"child.yaml": "extends: child.yaml\n"}, r"child\.yaml:1: extends: child\.yaml -> child\.yaml: configs cannot"),
])
def test_extends_errors_are_one_located_line(tmp_path, files, message):
    for name, text in files.items():
        write(tmp_path, text, name=name)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(tmp_path / "child.yaml")
    assert "\n" not in str(err.value)


def test_web_channels_is_the_quick_start_with_another_channel():
    examples = Path(__file__).parents[1] / "examples"
    web, quick = load_config(examples / "web_channels.yaml"), load_config(examples / "quickstart.yaml")
    differ = {k for k in quick.data if web.data[k] != quick.data[k]}
    assert differ == {"channel", "output"} and set(web.data) == set(quick.data)
    assert web.get("channel[1].jpeg.subsampling") == "4:2:0"

"""Sweep sections and `--sweep`: combinations, run names, and every kind of bad input as one line.

These run the real `nipkit validate` / `nipkit sweep` commands in this process; nothing
here trains (the sweeps that train are in test_sweep_executors.py).
"""
from __future__ import annotations

import pytest
import yaml

from nip_runs import error_lines, invoke
from nipkit.config import load_config
from nipkit.sweep.spec import check_sweep, expand_sweep
from test_joint_experiment import TINY


def write_sweep(tmp_path, sweep, name="sweep.yaml", **top) -> str:
    document = {**TINY, **top}
    if sweep is not None:
        document["sweep"] = sweep
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return str(path)


def test_every_combination_is_a_config_with_a_readable_name(tmp_path):
    config = load_config(write_sweep(tmp_path, {"training.fidelity_weight": [0.01, 0.1, 1.0], "training.seed": [0, 1]}))
    runs = check_sweep(config, ["data=demo,demo:sim-b"])  # 3 × 2 × 2
    assert len(runs) == 12
    assert runs[0].name == "fidelity_weight=0.01,seed=0,data=demo"
    assert runs[1].name == "fidelity_weight=0.01,seed=0,data=demo-sim-b"
    assert len({run.name for run in runs}) == 12
    last = runs[-1].config
    assert (last.get("training.fidelity_weight"), last.get("training.seed"), last.get("data")) == (1.0, 1, "demo:sim-b")
    assert "sweep" not in last.data and last.get("training.steps") == TINY["training"]["steps"]
    assert runs[-1].values == {"training.fidelity_weight": 1.0, "training.seed": 1, "data": "demo:sim-b"}


def test_a_command_line_sweep_replaces_the_yaml_list_and_names_clashing_keys_in_full(tmp_path):
    config = load_config(write_sweep(tmp_path, {"training.seed": [0, 1, 2]}, pretrain={"steps": 2, "seed": 0}))
    runs = expand_sweep(config, ["training.seed=5,6", "pretrain.seed=1,2"])
    assert [run.name for run in runs] == [
        "training.seed=5,pretrain.seed=1", "training.seed=5,pretrain.seed=2",
        "training.seed=6,pretrain.seed=1", "training.seed=6,pretrain.seed=2"]


def test_validate_checks_every_combination_at_the_line_of_the_bad_value(tmp_path):
    path = write_sweep(tmp_path, {"training.seed": [0, 1], "training.fidelity_weight": [0.1, -1.0]})
    code, out, err = invoke("validate", path)
    assert code == 2 and out == ""
    line = next(i for i, text in enumerate(open(path).read().splitlines(), 1) if text.strip() == "- -1.0")
    assert error_lines(err) == [f"error: {path}:{line}: training.fidelity_weight: must be a positive number up to "
                                "1e+30 or null, got -1.0"]
    assert invoke("validate", path, "--sweep", "training.fidelity_weight=0.1,1")[:2] == (0, "ok\n")


@pytest.mark.parametrize("sweep, options, message", [
    ({"training.seed": []}, [], "sweep.training.seed: must be a non-empty list of values, got []"),
    ({"training.seed": 3}, [], "sweep.training.seed: must be a non-empty list of values, got 3"),
    ({}, [], "sweep: must map config keys to lists of values"),
    (None, ["training.seed="], "--sweep 'training.seed=': no values"),
    (None, ["training.seed"], "--sweep 'training.seed': expected KEY=V1,V2"),
    ({"training.sede": [0, 1]}, [], "training.sede: unknown key (did you mean 'seed'?)"),
    ({"trainnig.seed": [0, 1]}, [], "sweep key 'trainnig.seed': no such config key"),
    ({"output": ["a", "b"]}, [], "sweep key 'output': output cannot be swept"),
    ({"training.seed": [1, 1]}, [], "sweep key 'training.seed': repeats the value 1"),
])
def test_bad_sweeps_are_one_line(tmp_path, sweep, options, message):
    path = write_sweep(tmp_path, sweep)
    for command in ("validate", "sweep"):
        args = [command, path, *[f"--sweep={o}" for o in options]]
        if command == "sweep":
            args += ["--out", str(tmp_path / "runs")]
        code, out, err = invoke(*args)
        assert code == 2, (command, out, err)
        (line,) = error_lines(err)
        assert message in line and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing started


def test_a_sweep_over_the_maximum_needs_yes(tmp_path):
    path = write_sweep(tmp_path, {"training.seed": list(range(6)), "training.fidelity_weight": [0.1, 1.0]})
    code, _, err = invoke("sweep", path, "--out", tmp_path / "runs", "--max-runs", "10")
    assert code == 2
    assert error_lines(err) == [f"error: {path}: the sweep has 12 runs, more than --max-runs 10; add --yes to start "
                                "them all, or raise --max-runs"]
    assert not (tmp_path / "runs").exists()


def test_nipkit_run_refuses_a_sweep_and_resources_are_checked(tmp_path):
    code, _, err = invoke("run", write_sweep(tmp_path, {"training.seed": [0, 1]}), "--out", tmp_path / "runs")
    assert code == 2 and "a sweep runs with `nipkit sweep CONFIG`" in error_lines(err)[0]
    code, _, err = invoke("validate", write_sweep(tmp_path, None, resources={"cpus": 0}))
    assert code == 2 and "resources.cpus: must be a positive number up to 1024" in error_lines(err)[0]


def test_ray_problems_are_one_line(tmp_path):
    path = write_sweep(tmp_path, {"training.seed": [0]})
    code, _, err = invoke("sweep", path, "--out", tmp_path / "runs", "--address", "127.0.0.1:6379")
    assert code == 2 and error_lines(err) == ["error: --address names a Ray cluster; add --executor ray"]
    code, _, err = invoke("sweep", path, "--out", tmp_path / "runs", "--executor", "ray", "--address", "127.0.0.1:1")
    assert code == 2
    (line,) = error_lines(err)
    assert line.startswith("error: cannot reach the Ray cluster at 127.0.0.1:1 (") and line.endswith("check --address")


def test_a_missing_ray_is_one_line_with_the_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # `import ray` raises ImportError, as when absent
    code, _, err = invoke("sweep", write_sweep(tmp_path, {"training.seed": [0]}), "--out", tmp_path / "runs",
                          "--executor", "ray")
    assert code == 2
    assert error_lines(err) == ['error: --executor ray needs Ray, which is not installed; install it with: '
                                'pip install "nipkit[ray]"']
    assert not (tmp_path / "runs").exists()

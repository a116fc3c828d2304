"""`training.distribute: multi_worker` with two real `nipkit run` processes on localhost (TF_CONFIG,
free ports): killed mid-run and resumed, it reaches the loss of a one-worker run with the same
global batch and seed, and saves the same moving average of the weights; only the chief writes the run folder; a bad TF_CONFIG is one line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from nip_runs import error_lines, invoke
from nipkit import load_model
from nipkit.sweep.watch import checkpoint_step
from nipkit.training.multi_worker import localhost_tf_configs
from nipkit.training.run_lock import LOCK_FILE
from support import HANG_GUARD_S, nipkit_executable, wait_for
from test_joint_experiment import TINY

STEPS = 4
# with the moving average of the weights, which validation and the saved models use (`training.ema`)
TRAINING = {"mode": "joint", "steps": STEPS, "batch_size": 4, "checkpoint_every": 2, "seed": 5, "ema": 0.9}


def write_config(path: Path, **training) -> Path:
    document = json.loads(json.dumps(TINY))
    document["training"].update({**TRAINING, **training})
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def start_workers(config: Path, out: Path, *extra: str) -> list[subprocess.Popen]:
    return [subprocess.Popen([nipkit_executable(), "run", str(config), "--out", str(out), *extra],
                             env={**os.environ, "TF_CONFIG": value, "TF_CPP_MIN_LOG_LEVEL": "3"},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for value in localhost_tf_configs(2)]


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "joint-r0" / "history.jsonl").read_text().splitlines()]


def test_two_workers_killed_and_resumed_reach_the_loss_of_one(tmp_path, demo_data):
    code, _, err = invoke("run", write_config(tmp_path / "one.yaml"), "--out", tmp_path / "one")
    assert code == 0, err[-3000:]
    config, out = write_config(tmp_path / "mw.yaml", distribute="multi_worker"), tmp_path / "mw"

    chief, worker = start_workers(config, out)
    try:
        wait_for(lambda: 2 <= checkpoint_step(out / "joint-r0") < STEPS, chief, "a checkpoint of the chief")
        worker.send_signal(signal.SIGKILL)  # one worker dies; the cluster is restarted, as a job manager would
    finally:
        for process in (worker, chief):
            process.kill()
            process.communicate()
    killed_at = checkpoint_step(out / "joint-r0")

    resumed = start_workers(config, out, "--resume")
    results = [process.communicate(timeout=HANG_GUARD_S) for process in resumed]
    for process, (stdout, stderr) in zip(resumed, results):
        assert process.returncode == 0, stderr[-3000:]
        assert f"from step {killed_at}" in stdout  # both workers continue from the chief's checkpoint
        assert "2 workers × 1 CPU (multi-worker)" in stdout
    assert f"report: {out / 'report' / 'report.md'}" in results[0][0]
    assert str(out) not in results[1][0]  # worker 1 wrote a scratch copy only
    assert not (out / LOCK_FILE).exists()

    two, one = history(out), history(tmp_path / "one")
    assert [r["step"] for r in two] == [r["step"] for r in one] == [0, 2, 4]  # no gap, no step twice
    for a, b in zip(two[1:], one[1:]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["fidelity_loss"] == pytest.approx(b["fidelity_loss"], rel=2e-2)
        assert a["psnr"] == pytest.approx(b["psnr"], abs=0.25)
    # the saved models are the moving average, as one worker's: the raw weights are 2e-4 to 4e-4 away
    for name in ("nip.keras", "fan.keras"):
        two_model, one_model = (load_model(run / "joint-r0" / name) for run in (out, tmp_path / "one"))
        gap = max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(two_model.weights, one_model.weights))
        assert gap < 1e-5, (name, gap)


@pytest.mark.parametrize("value, message", [
    (None, "training.distribute: multi_worker needs the cluster in TF_CONFIG"),
    ("{not json", "TF_CONFIG: not valid JSON"),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}',
     "TF_CONFIG: task.index must be 0 to 0 for worker, got 3"),
    ('{"cluster": {"worker": "localhost:1"}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG: cluster.worker must be a non-empty list of host:port strings"),
])
def test_a_bad_tf_config_is_one_line(tmp_path, monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    code, _, err = invoke("run", write_config(tmp_path / "mw.yaml", distribute="multi_worker"), "--out", tmp_path / "mw")
    assert code == 2
    (line,) = error_lines(err)
    assert line.startswith(f"error: {message}")
    assert not (tmp_path / "mw").exists()

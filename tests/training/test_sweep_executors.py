"""`nipkit sweep` through both executors with real processes: a Ray worker SIGKILLed mid-run
is retried and its run resumes from its checkpoint; a run folder held by another process
is never trained twice at once.

Ray starts once for the module (`ray.init(num_cpus=2)`); the sweeps join it with --address.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml

from nip_runs import error_lines, invoke
from nipkit.sweep.watch import checkpoint_step, history_steps, lock_holder
from nipkit.training.run_lock import LOCK_FILE, RunLock
from support import HANG_GUARD_S, nipkit_executable, wait_for
from test_joint_experiment import TINY

ray = pytest.importorskip("ray", reason="Ray is in the test extra: pip install -e '.[test]'")

# Long enough (8 steps, a checkpoint every 2) that a worker can be killed between checkpoints.
KILLED = {"steps": 8, "validate_every": 4, "checkpoint_every": 2}


@pytest.fixture(scope="module")
def ray_address():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def write_sweep(tmp_path: Path, sweep: dict, **training) -> Path:
    document = json.loads(json.dumps(TINY))
    document["training"].update({"mode": "joint", **training})
    document["sweep"] = sweep
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_a_ray_sweep_survives_a_killed_worker(tmp_path, demo_data, ray_address):
    config = write_sweep(tmp_path, {"training.seed": [0, 1]}, **KILLED)
    out = tmp_path / "runs"
    sweep = subprocess.Popen(
        [nipkit_executable(), "sweep", str(config), "--out", str(out), "--executor", "ray", "--address", ray_address],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    victim = out / "seed=0"
    try:
        wait_for(lambda: 2 <= checkpoint_step(victim / "joint-r0") < KILLED["steps"], sweep, "a checkpoint of seed=0")
        worker = lock_holder(victim)  # the Ray worker process training seed=0
        os.kill(worker, signal.SIGKILL)
        stdout, stderr = sweep.communicate(timeout=HANG_GUARD_S)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, stderr[-3000:]
    assert "[sweep 2/2 done · 0 running · 0 failed" in stdout
    record = json.loads((out / "sweep.json").read_text())
    assert (record["done"], record["failed"]) == (2, 0)
    assert {o["name"] for o in record["outcomes"]} == {"seed=0", "seed=1"}
    assert next(o for o in record["outcomes"] if o["name"] == "seed=0")["pid"] != worker  # retried elsewhere
    log = (victim / "run.log").read_text()
    resumed = [line for line in log.splitlines() if line.startswith("resuming ")]
    assert len(resumed) == 1 and 2 <= int(resumed[0].rsplit(" ", 1)[1]) < KILLED["steps"], log
    for name in ("seed=0", "seed=1"):
        assert history_steps(out / name / "joint-r0") == [0, 4, 8]  # no gap, no step twice
        assert json.loads((out / name / "joint-r0" / "summary.json").read_text())["steps"] == 8
        assert not (out / name / LOCK_FILE).exists()
    report = (out / "report" / "report.md").read_text()
    assert "seed=0" in report and "seed=1" in report


def test_a_local_sweep_retries_a_killed_run_and_goes_on_past_a_held_one(tmp_path, demo_data):
    config = write_sweep(tmp_path, {"training.seed": [0, 1]}, **KILLED)
    out, finished = tmp_path / "runs", {}
    run, held = out / "seed=0", out / "seed=1"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom nipkit.training.run_lock import RunLock\n"
         "with RunLock(sys.argv[1]):\n    print('locked', flush=True)\n    sys.stdin.read()", str(held)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        sweep = threading.Thread(target=lambda: finished.update(
            result=invoke("sweep", config, "--out", out, "--workers", "2")))
        sweep.start()
        hang_guard = time.monotonic() + HANG_GUARD_S
        while True:  # an event, not a duration: a checkpoint of seed=0 before its last step
            try:
                if 2 <= checkpoint_step(run / "joint-r0") < KILLED["steps"]:
                    break
            except (OSError, ValueError):
                pass
            assert sweep.is_alive() and time.monotonic() < hang_guard, finished
            time.sleep(0.005)
        os.kill(lock_holder(run), signal.SIGKILL)  # the `nipkit run` process of seed=0
        sweep.join(HANG_GUARD_S)
    finally:
        holder.stdin.close()
        holder.wait()
    code, stdout, stderr = finished["result"]
    assert code == 2
    (line,) = error_lines(stderr)
    assert line.startswith(f"error: 1 of 2 runs failed (seed=1: {held} is in use by process {holder.pid} on ")
    assert line.endswith("the same command retries them")
    assert f"seed=1: failed: {held} is in use by process {holder.pid}" in stdout
    assert not (held / "joint-r0").exists()  # never trained while held
    assert f"seed=0: its process was killed (signal {signal.SIGKILL}); resuming it (attempt 2)" in stdout
    assert "resuming " in (run / "run.log").read_text()
    assert history_steps(run / "joint-r0") == [0, 4, 8]  # no gap, no step twice
    assert "[seed=0/joint-r0](../seed=0/joint-r0)" in (out / "report" / "report.md").read_text()
    record = json.loads((out / "sweep.json").read_text())
    assert (record["executor"], record["done"], record["failed"]) == ("local", 1, 1)


# Holds argv[1]'s lock until stdin closes; a second process waits for it (RunLock(wait=True)).
WAITER = textwrap.dedent(
    """
    import sys
    from nipkit.training.run_lock import RunLock
    print("waiting", flush=True)
    with RunLock(sys.argv[1], wait=True):
        print("locked", flush=True)
    """
)


def test_a_retried_run_waits_for_a_live_holder(tmp_path):
    folder = tmp_path / "run"
    with RunLock(folder):
        waiter = subprocess.Popen([sys.executable, "-c", WAITER, str(folder)], stdout=subprocess.PIPE, text=True)
        assert waiter.stdout.readline().strip() == "waiting"
        assert waiter.poll() is None  # still waiting while this process holds the folder
    assert waiter.stdout.readline().strip() == "locked"
    assert waiter.wait(timeout=HANG_GUARD_S) == 0

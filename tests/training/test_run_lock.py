"""Run-folder locks with real processes: a second process on a locked folder is refused
with one line naming the holder, and a lock left by a SIGKILLed process is taken over."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nip_runs import SMALL_TRAINING, error_lines, write_config
from nipkit.training.checkpoints import read_state
from nipkit.training.run_lock import LOCK_FILE, RunLock, RunLockedError
from support import HANG_GUARD_S, run_nipkit, wait_for

VALIDATED = list(range(0, SMALL_TRAINING["steps"] + 1, SMALL_TRAINING["validate_every"]))

# Holds the lock on argv[1] until its stdin closes (or it is killed).
HOLDER = textwrap.dedent(
    """
    import sys
    from nipkit.training.run_lock import RunLock
    with RunLock(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.read()
    """
)


def _holder(folder: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def _lock_record(folder: Path) -> dict:
    try:
        text = (folder / LOCK_FILE).read_text()
        return json.loads(text) if text.strip() else {}
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def test_a_second_process_is_refused_naming_the_holder_and_then_may_lock(tmp_path):
    holder = _holder(tmp_path / "run")
    try:
        with pytest.raises(RunLockedError) as refused:
            RunLock(tmp_path / "run").acquire()
        assert f"process {holder.pid} on {socket.gethostname()}" in str(refused.value)
        assert "\n" not in str(refused.value)
    finally:
        holder.stdin.close()
        assert holder.wait() == 0
    assert not (tmp_path / "run").exists()  # a clean release removes the lock and the folder it made
    (tmp_path / "run").mkdir()
    with RunLock(tmp_path / "run") as lock:
        assert lock.held and _lock_record(tmp_path / "run")["pid"] == os.getpid()
    assert not lock.held
    assert (tmp_path / "run").is_dir() and not any((tmp_path / "run").iterdir())  # a folder it found stays


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    holder = _holder(tmp_path / "run")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert _lock_record(tmp_path / "run")["pid"] == holder.pid  # the record outlives the holder
    with pytest.warns(UserWarning, match=f"taking over the lock of process {holder.pid}"):
        lock = RunLock(tmp_path / "run").acquire()
    assert _lock_record(tmp_path / "run")["pid"] == os.getpid()
    lock.release()


# Takes and releases the lock of argv[1] many times; while holding it, checks that no other
# process holds it too (a marker file only the holder may create).
CONTENDER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from nipkit.training.run_lock import RunLock, RunLockedError
    folder, held = Path(sys.argv[1]), 0
    while held < 30:
        try:
            lock = RunLock(folder).acquire()
        except RunLockedError:
            continue
        marker = os.open(folder.parent / "holder", os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails if shared
        os.close(marker)
        os.unlink(folder.parent / "holder")
        lock.release()
        held += 1
    """
)


def test_contending_processes_never_hold_the_lock_together(tmp_path):
    processes = [subprocess.Popen([sys.executable, "-c", CONTENDER, str(tmp_path / "run")], stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
    for process in processes:
        _, err = process.communicate(timeout=HANG_GUARD_S)
        assert process.returncode == 0, err[-2000:]


def _start_training(config: Path, out: Path, *extra: str) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "nipkit"), "train", "nip", str(config), "--out", str(out), *extra]
    return subprocess.Popen(command, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _history_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "history.jsonl").read_text().splitlines()]


def test_two_training_processes_on_one_folder(tmp_path, demo_data):
    config = write_config(tmp_path / "inet.yaml")
    run = tmp_path / "run"
    first = _start_training(config, run)
    try:
        wait_for(lambda: _lock_record(run).get("pid") == first.pid, first, "lock record")
        first.send_signal(signal.SIGSTOP)  # holds the lock for as long as the second one needs
        second = run_nipkit("train", "nip", config, "--out", run)
    finally:
        first.send_signal(signal.SIGCONT)
        _, first_err = first.communicate(timeout=HANG_GUARD_S)
    assert second.returncode == 2, second.stderr[-2000:]
    (line,) = error_lines(second.stderr)
    assert line.startswith(f"error: {run} is in use by process {first.pid} on {socket.gethostname()} since ")
    assert "Traceback" not in second.stderr
    assert first.returncode == 0, first_err[-2000:]
    assert _history_steps(run) == VALIDATED  # nothing written twice
    assert read_state(run / "checkpoint")["step"] == SMALL_TRAINING["steps"]


def test_a_sigkilled_run_is_taken_over_and_resumed(tmp_path, demo_data):
    config = write_config(tmp_path / "inet.yaml", steps=100_000)  # never ends by itself
    run = tmp_path / "run"
    first = _start_training(config, run)
    try:
        wait_for(lambda: (run / "checkpoint" / "state.json").exists(), first, "checkpoint")
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    assert first.returncode == -signal.SIGKILL
    assert _lock_record(run)["pid"] == first.pid
    killed_at = read_state(run / "checkpoint")["step"]
    steps = killed_at + 2 * SMALL_TRAINING["validate_every"]

    second = run_nipkit("train", "nip", config, "--out", run, "--resume", "--set", f"training.steps={steps}")
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"taking over the lock of process {first.pid}" in second.stderr
    assert f"from step {killed_at}" in second.stdout
    assert _history_steps(run) == list(range(0, steps + 1, SMALL_TRAINING["validate_every"]))
    assert read_state(run / "checkpoint")["step"] == steps
    assert not (run / LOCK_FILE).exists()


def test_nipkit_run_locks_the_output_folder_of_its_config(tmp_path):
    from test_joint_experiment import write_config as write_experiment

    root = tmp_path / "runs"
    config = write_experiment(tmp_path, output=str(root))  # no --out: the config's `output:`
    holder = _holder(root)
    try:
        refused = run_nipkit("run", config)
    finally:
        holder.stdin.close()
        holder.wait()
    assert refused.returncode == 2
    assert error_lines(refused.stderr)[0].startswith(f"error: {root} is in use by process {holder.pid} on ")
    assert not root.exists()  # nothing was started, and the holder's release removed the folder

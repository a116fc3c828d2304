"""A full disk on a real (tmpfs) filesystem: one line naming the folder and the space
needed, no partial checkpoint left, the previous checkpoint kept, and --resume works once
there is space again. Needs permission to mount a tmpfs (root); skipped otherwise."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from nip_runs import error_lines, invoke, write_config
from nipkit.errors import DiskFullError
from nipkit.files import atomic_write
from nipkit.training.checkpoints import read_state

BLOCK = 4096


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs mounted at tmp_path/disk."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Writes a filler file that leaves about `leave` bytes free."""
    filler = disk / "filler"
    size = max(0, (shutil.disk_usage(disk).free - leave) // BLOCK * BLOCK)
    with open(filler, "wb") as handle:
        handle.write(b"\0" * size)
    return filler


def used(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_atomic_write_on_a_full_disk_keeps_the_old_file(small_disk):
    target = small_disk / "summary.json"
    target.write_text("old")
    fill(small_disk, 64 * 1024)
    with pytest.raises(DiskFullError, match=rf"^{small_disk}: the disk is full: summary.json does not fit "
                                            rf"\(.* free\); summary.json is unchanged$"):
        atomic_write(target, lambda tmp: tmp.write_bytes(b"x" * (1 << 20)))
    assert target.read_text() == "old"
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "summary.json"]  # no temporary left


def test_full_disk_at_a_checkpoint_is_one_line_and_resume_works(small_disk, demo_data):
    # Validation only at the start and the end, checkpoints every 3 steps: the disk fills
    # up at a checkpoint.
    config = write_config(small_disk.parent / "inet.yaml", steps=6, validate_every=100, checkpoint_every=3)
    run = small_disk / "run"
    code, _, err = invoke("train", "nip", config, "--out", run)
    assert code == 0, err
    checkpoint_size = used(run / "checkpoint")
    filler = fill(small_disk, checkpoint_size // 2)

    code, _, err = invoke("train", "nip", config, "--out", run, "--resume", "--set", "training.steps=12")
    assert code == 2, err[-3000:]
    assert "Traceback" not in err
    (line,) = error_lines(err)
    assert line.startswith(f"error: {run}: the disk is full: the checkpoint of step 9 needs about ")
    assert line.endswith(" free); the checkpoint of step 6 is kept; free some space, then continue with --resume")
    assert not (run / "checkpoint.new").exists()
    assert read_state(run / "checkpoint")["step"] == 6

    filler.unlink()
    code, out, err = invoke("train", "nip", config, "--out", run, "--resume", "--set", "training.steps=12")
    assert code == 0, err[-3000:]
    assert "from step 6" in out
    assert read_state(run / "checkpoint")["step"] == 12
    steps = [json.loads(line)["step"] for line in (run / "history.jsonl").read_text().splitlines()]
    assert steps == [0, 6, 12]

"""A finished F and F+N run whose channel draws its arguments at random, killed once and resumed."""
from __future__ import annotations

import subprocess

import pytest
import yaml

from random_run import RANDOM
from support import kill_at_checkpoint, nipkit_executable


@pytest.fixture(scope="session")
def resumed_random_run(tmp_path_factory, demo_data):
    """(output folder, what the resumed process printed): `nipkit run` killed at F's step 4, then `--resume`d."""
    tmp = tmp_path_factory.mktemp("random_run")
    path, out = tmp / "random.yaml", tmp / "runs"
    path.write_text(yaml.safe_dump(RANDOM, sort_keys=False))
    kill_at_checkpoint(["run", path, "--out", out], out / "fan-r0" / "checkpoint" / "state.json", 4)
    assert not (out / "fan-r0" / "summary.json").exists()
    resumed = subprocess.run([nipkit_executable(), "run", str(path), "--out", str(out), "--resume"],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return out, resumed.stdout + resumed.stderr

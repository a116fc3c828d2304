"""A NIP pre-training or a joint run that passes the memory estimate but cannot allocate ends in one line
naming the key to lower, exit 2, and does not hang: `nipkit train nip` and `nipkit run` under a real
address-space limit (RLIMIT_AS)."""
from __future__ import annotations

import resource
import subprocess

import yaml

from nipkit.options import NipTrainingOptions
from nipkit.resources import estimate_memory, physical_memory
from support import HANG_GUARD_S, nipkit_executable

# Room for TensorFlow and a small run; far too little for 10,000 validation patches of 64²
# from each validation photo (the estimate counts one photo: 0.6 GiB).
ADDRESS_SPACE = 4 << 30
TRAINING = {"steps": 2, "batch_size": 4, "patch_size": 32, "validate_every": 2, "validation_size": 64, "seed": 3}
SMALL, LARGE = {"validation_patches": 2}, {"validation_patches": 10_000}


def nipkit_under_limit(*args) -> subprocess.CompletedProcess:
    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    return subprocess.run([nipkit_executable(), *map(str, args)], capture_output=True, text=True,
                          preexec_fn=limit_memory, timeout=HANG_GUARD_S)  # the timeout only guards a hang


def nip_config(path, sizes: dict):
    path.write_text(yaml.safe_dump({"data": "demo", "nip": "inet", "training": {**TRAINING, **sizes}}, sort_keys=False))
    return path


def test_the_large_size_passes_the_estimate():
    needs = sum(estimate_memory(NipTrainingOptions(**TRAINING, **LARGE)).values())
    assert needs < min(ADDRESS_SPACE, physical_memory())


def test_nip_pretraining_out_of_memory_is_one_line(tmp_path, demo_data):
    fine = nipkit_under_limit("train", "nip", nip_config(tmp_path / "small.yaml", SMALL), "--out", tmp_path / "small")
    assert fine.returncode == 0, fine.stderr[-2000:]  # the limit itself is no obstacle

    out = tmp_path / "large"
    large = nip_config(tmp_path / "large.yaml", LARGE)
    assert nipkit_under_limit("validate", large).returncode == 0
    result = nipkit_under_limit("train", "nip", large, "--out", out)
    assert result.returncode == 2, result.stderr[-2000:]
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        f"error: out of memory in {out} (10000 validation patches of 64² per validation image); "
        "lower training.validation_patches or training.validation_size"
    ]
    assert "Traceback" not in result.stderr


def test_joint_run_out_of_memory_is_one_line(tmp_path, demo_data):
    config = tmp_path / "exp.yaml"
    config.write_text(yaml.safe_dump({
        "data": "demo", "nip": "onet", "manipulations": ["sharpen"],
        "channel": [{"downscale": {"factor": 2}}, {"jpeg": {"quality": 50}}],
        "fan": {"type": "fan", "filters": [8, 8, 8, 8], "dense": [16, 8]},
        "training": {"mode": "fan", "steps": 2, "batch_size": 2, "patch_size": 64, "validate_every": 2,
                     "validation_patches": 10_000, "fidelity_patches": 1, "seed": 1},
    }, sort_keys=False))
    assert nipkit_under_limit("validate", config).returncode == 0
    out = tmp_path / "runs"
    result = nipkit_under_limit("run", config, "--out", out)
    assert result.returncode == 2, result.stderr[-2000:]
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        f"error: out of memory in {out / 'fan-r0'} (10000 + 1 validation patches of 64² per validation image); "
        "lower training.validation_patches or training.fidelity_patches or training.patch_size"
    ]

"""Helpers of the training tests: small NIP-training configs and the CLI run in-process.
(The shared demo camera is the `demo_data` fixture of tests/conftest.py.)"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import yaml


# A few seconds of INet training on 32 px patches: enough to move the loss, small enough
# for the test suite.
SMALL_TRAINING = {
    "steps": 24,
    "batch_size": 4,
    "patch_size": 32,
    "validate_every": 6,
    "validation_size": 64,
    "validation_patches": 2,
    "learning_rate": 1.0e-3,
    "seed": 3,
}


def write_config(path: Path, nip="inet", **training) -> Path:
    """Writes a NIP-training YAML on the demo camera with SMALL_TRAINING updated by `training`."""
    document = {"data": "demo", "nip": nip, "training": {**SMALL_TRAINING, **training}}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    """Runs the `nipkit` CLI in this process; returns (exit code, stdout, stderr)."""
    from nipkit.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def error_lines(stderr: str) -> list[str]:
    """The lines nipkit printed as errors (TensorFlow's own start-up lines left out)."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]

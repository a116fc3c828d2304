"""The joint experiment's former module, kept so existing imports keep working.

The engine now lives in `nipkit.training.experiment` (models, optimisers, train step),
`nipkit.training.steps`, `nipkit.training.runner` (runs, digests, report) and
`nipkit.evaluation.scoring` / `nipkit.evaluation.summary`.
"""
from __future__ import annotations

from nipkit.training.runner import RunResult, run_experiment, train_joint

__all__ = ["RunResult", "run_experiment", "train_joint"]

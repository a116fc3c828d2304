"""Training machinery: NIP pre-training and the pieces every nipkit trainer shares.

- `runtime`: device, `tf.distribute` strategy, mixed precision, XLA.
- `run_folder`: the run folder's layout and the start/resume rules.
- `checkpoints`: atomic checkpoints of models, optimisers and loop state.
- `history`: `history.jsonl`, one record per validation.
- `loop`: the step loop (progress bar, TensorBoard, schedules, non-finite loss guard).
- `early_stop`: the paper's stopping rule.
- `losses`: per-image fidelity losses.
- `nip`: `NipTrainer` and `train_nip`, the `nipkit train nip` command's work.
- `experiment`: `Experiment`, one run of the joint experiment (models, optimisers, step, scorer).
- `steps`: the train steps, honouring every loss the models add.
- `runner`: `run_experiment` and `train_joint`, the `nipkit run` command's work.

Importing `nipkit.training` does not import TensorFlow; the public names are imported on
first access.

Example:
    >>> from nipkit.training import Experiment, train_nip  # doctest: +SKIP
    >>> result = train_nip(load_config("examples/nip/inet.yaml"))  # doctest: +SKIP
    >>> exp = Experiment.from_config(load_config("examples/quickstart.yaml"), mode="joint")  # doctest: +SKIP
"""
from __future__ import annotations

from nipkit._lazy import lazy_exports

_MODULES = {
    "train_nip": "nip", "NipResult": "nip", "NipTrainer": "nip",
    "Experiment": "experiment",
    "run_experiment": "runner", "train_joint": "runner", "RunResult": "runner",
}

__all__ = sorted(_MODULES)

__getattr__, __dir__ = lazy_exports(__name__, _MODULES)

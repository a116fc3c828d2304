"""Training machinery: NIP pre-training and the pieces every nipkit trainer shares.

- `runtime`: device, `tf.distribute` strategy, mixed precision, XLA.
- `run_folder`: the run folder's layout and the start/resume rules.
- `checkpoints`: atomic checkpoints of models, optimisers and loop state.
- `history`: `history.jsonl`, one record per validation.
- `loop`: the step loop (progress bar, TensorBoard, schedules, non-finite loss guard).
- `early_stop`: the paper's stopping rule.
- `losses`: per-image fidelity losses.
- `nip`: `train_nip`, the `nipkit train nip` command's work.

Importing `nipkit.training` does not import TensorFlow; `train_nip` is imported on first
access.

Example:
    >>> from nipkit.training import train_nip  # doctest: +SKIP
    >>> result = train_nip(load_config("examples/nip/inet.yaml"))  # doctest: +SKIP
"""
from __future__ import annotations

__all__ = ["train_nip", "NipResult"]


def __getattr__(name: str):
    if name in __all__:
        from nipkit.training import nip

        return getattr(nip, name)
    raise AttributeError(f"module 'nipkit.training' has no attribute {name!r}")

"""`history.jsonl`: one JSON object per validation, appended as training goes.

Every line is flushed to disk when written, so the file survives a kill. A checkpoint
stores the file's size, and resuming cuts the file back to it: validations made after the
checkpoint are made again, and no step appears twice.

Example:
    >>> history = History(run / "history.jsonl")  # doctest: +SKIP
    >>> history.append({"step": 100, "loss": 0.01, "psnr": 38.2, "ssim": 0.97, "time": 12.5})  # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

from nipkit.errors import TrainingError

__all__ = ["History"]


def _json_value(value: Any) -> Any:
    # JSON has no NaN/inf; null keeps the file readable by strict parsers.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class History:
    """An append-only JSON-lines log of validation records.

    Args:
        path: the `history.jsonl` file (created on the first append).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def records(self) -> list[dict]:
        """Every record, in order; an empty list when the file does not exist."""
        if not self.path.exists():
            return []
        records = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise TrainingError(f"{self.path}:{number}: not a JSON record") from None
        return records

    def append(self, record: Mapping[str, Any]) -> None:
        """Adds one record as a line and flushes it to disk."""
        line = json.dumps({k: _json_value(v) for k, v in record.items()}, allow_nan=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def size(self) -> int:
        """The file's size in bytes (0 when it does not exist)."""
        return self.path.stat().st_size if self.path.exists() else 0

    def truncate(self, size: int) -> None:
        """Cuts the file back to `size` bytes (what a checkpoint recorded)."""
        if not self.path.exists():
            if size:
                raise TrainingError(f"{self.path}: missing, but the checkpoint expects {size} bytes of history")
            return
        if self.size() < size:
            raise TrainingError(f"{self.path}: shorter than the checkpoint expects ({self.size()} < {size} bytes)")
        with open(self.path, "r+b") as handle:
            handle.truncate(size)
            os.fsync(handle.fileno())

    def clear(self) -> None:
        """Removes the file (a fresh run)."""
        self.path.unlink(missing_ok=True)

"""Files written so that a process killed at any moment never leaves one half-written."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "fsync_file", "fsync_dir", "remove_temporaries"]

_TEMP = ".tmp"


def fsync_dir(folder: Path) -> None:
    """Flushes a folder's entries (renames) to disk."""
    if os.name == "posix":  # a directory cannot be opened for fsync on Windows
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_file(path: Path) -> None:
    """Flushes a file's contents to disk."""
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> None:
    """Calls `write(tmp)` on a temporary file beside `path`, then renames it to `path`.

    The temporary name starts with a dot and keeps the suffix (Keras insists on `.keras`,
    NumPy on `.npy`); it is removed if `write` fails.

    Example:
        >>> atomic_write(Path("summary.json"), lambda tmp: tmp.write_text("{}"))  # doctest: +SKIP
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}{_TEMP}{path.suffix}")
    try:
        write(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def remove_temporaries(folder: Path) -> None:
    """Deletes what `atomic_write` calls left behind in `folder` when they were killed."""
    for temp in Path(folder).glob(f".*{_TEMP}*"):
        temp.unlink(missing_ok=True)

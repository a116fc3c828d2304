"""Files written so that a process killed at any moment never leaves one half-written."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "temporary_name", "fsync_file", "fsync_dir", "remove_temporaries"]

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


def temporary_name(path: Path, keep_suffix: bool = False) -> Path:
    """The temporary file `atomic_write` writes before it renames it to `path`.

    `.NAME.SUFFIX.PID.tmp` by default, so that no glob for the final names (`*.json`)
    matches a file still being written; `.NAME.PID.tmp.SUFFIX` with `keep_suffix`, for
    writers that insist on their suffix (Keras on `.keras`).

    Args:
        path: the final file.
        keep_suffix: end the temporary name with `path`'s suffix.
    """
    if keep_suffix:
        return path.with_name(f".{path.stem}.{os.getpid()}{_TEMP}{path.suffix}")
    return path.with_name(f".{path.name}.{os.getpid()}{_TEMP}")


def atomic_write(path: str | Path, write: Callable[[Path], None], *, keep_suffix: bool = False) -> None:
    """Calls `write(tmp)` on a temporary file beside `path`, then renames it to `path`.

    The temporary name starts with a dot and ends in `.tmp` (see `temporary_name`); it is
    removed if `write` fails. Writers that add a suffix to a name lacking it (`np.save`,
    `np.savez`) should be given an open file instead of the name.

    Args:
        path: the final file.
        write: writes the whole file to the path it is given.
        keep_suffix: the writer needs `path`'s suffix on the temporary name too.

    Example:
        >>> atomic_write(Path("summary.json"), lambda tmp: tmp.write_text("{}"))  # doctest: +SKIP
    """
    path = Path(path)
    tmp = temporary_name(path, keep_suffix)
    try:
        write(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def remove_temporaries(folder: Path) -> None:
    """Deletes what `atomic_write` calls left behind in `folder` when they were killed."""
    folder = Path(folder)
    for temp in [*folder.glob(f".*{_TEMP}"), *folder.glob(f".*{_TEMP}.*")]:
        temp.unlink(missing_ok=True)

"""Files written so that a process killed at any moment never leaves one half-written."""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Callable

from nipkit.errors import DiskFullError

__all__ = ["atomic_write", "temporary_name", "fsync_file", "fsync_dir", "remove_temporaries", "is_disk_full",
           "disk_full_error", "format_size"]

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


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or an error it was raised from) says that a disk or quota is full."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(current):  # h5py and others keep only the text
            return True
        current = current.__cause__ or current.__context__
    return False


def format_size(size: float) -> str:
    """A byte count for people: 812 B, 14.2 KB, 3.1 MB, 1.4 GB."""
    for unit in ("B", "KB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def disk_full_error(folder: Path, what: str, needed: int | None = None, advice: str = "") -> DiskFullError:
    """The one-line error of a write to `folder` that found its disk full.

    Args:
        folder: where the write went.
        what: what was being written, e.g. "the checkpoint of step 20".
        needed: the bytes the write needs, when known.
        advice: what is kept and what to do, appended after a semicolon.
    """
    try:
        free = f"{format_size(shutil.disk_usage(folder).free)} free"
    except OSError:
        free = "free space unknown"
    need = f"needs about {format_size(needed)}" if needed else "does not fit"
    return DiskFullError(f"{folder}: the disk is full: {what} {need} ({free}){'; ' + advice if advice else ''}")


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


def atomic_write(path: str | Path, write: Callable[[Path], object], *, keep_suffix: bool = False) -> None:
    """Calls `write(tmp)` on a temporary file beside `path`, then renames it to `path`.

    The temporary name starts with a dot and ends in `.tmp` (see `temporary_name`); it is
    removed if `write` fails. A full disk raises DiskFullError and leaves any previous
    `path` as it was. Writers that add a suffix to a name lacking it (`np.save`,
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
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise disk_full_error(path.parent, path.name, advice=f"{path.name} is unchanged") from exc
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def remove_temporaries(folder: Path) -> None:
    """Deletes what `atomic_write` calls left behind in `folder` when they were killed."""
    folder = Path(folder)
    for temp in [*folder.glob(f".*{_TEMP}"), *folder.glob(f".*{_TEMP}.*")]:
        temp.unlink(missing_ok=True)

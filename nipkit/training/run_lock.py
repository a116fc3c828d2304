"""One process per run folder: an advisory lock held for the life of the process.

The lock is `RUN/.lock`, locked with `flock` (POSIX) or `msvcrt.locking` (Windows). The
operating system drops such a lock when its holder ends, however it ends, so a lock left
by a killed process never blocks the next run. The file also records the holder's PID,
host and start time, so that a second process can say who holds the folder. A clean
release deletes the file (and the folder, when the lock made it and nothing else was
written); a file found on taking the lock tells of a holder that ended without releasing
it. Whoever locks a file checks afterwards that it is still the one at `RUN/.lock`, so a
file deleted by its releasing holder is never locked by two processes.

Example:
    >>> with RunLock("runs/quickstart"):  # doctest: +SKIP
    ...     run_experiment(config, out="runs/quickstart")
"""
from __future__ import annotations

import json
import os
import socket
import time
import warnings
from pathlib import Path

from nipkit.errors import TrainingError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

__all__ = ["LOCK_FILE", "RunLock", "RunLockedError"]

LOCK_FILE = ".lock"


class RunLockedError(TrainingError):
    """Another process holds the run folder."""


# Windows locks byte ranges and refuses reads inside them: lock one byte far past the record.
_WINDOWS_OFFSET = 1 << 20


def _try_lock(fd: int, wait: bool = False) -> bool:
    """Locks `fd`; with `wait`, blocks until its holder ends or releases it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, _WINDOWS_OFFSET, os.SEEK_SET)
            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                    break
                except OSError:
                    if not wait:
                        raise
                    time.sleep(0.5)
    except OSError:  # BlockingIOError on POSIX, PermissionError on Windows
        return False
    return True


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:
        os.lseek(fd, _WINDOWS_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


def _read_record(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode("utf-8", errors="replace").strip()
    try:
        record = json.loads(text) if text else {}
    except json.JSONDecodeError:
        record = {}
    return record if isinstance(record, dict) else {}


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open file `fd` is still the file at `path`."""
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)


def _describe(record: dict) -> str:
    pid, host = record.get("pid", "?"), record.get("host", "?")
    started = record.get("started")
    since = f" since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}" if isinstance(started, (int, float)) else ""
    return f"process {pid} on {host}{since}"


class RunLock:
    """An exclusive lock on a run folder, held until `release()` or the process ends.

    Args:
        folder: the run folder (created if needed).
        wait: on `acquire()`, wait while another process holds the folder (a sweep's
            retried run) instead of refusing.

    Raises:
        RunLockedError: on `acquire()`, when another process holds the folder (and not `wait`).

    Example:
        >>> with RunLock(out):  # doctest: +SKIP
        ...     train_nip(config, out=out)
    """

    def __init__(self, folder: str | Path, wait: bool = False) -> None:
        self.folder = Path(folder)
        self.wait = wait
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None
        self._made_folder = False

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> "RunLock":
        """Takes the lock (waiting for it with `wait`), or raises RunLockedError naming the holder's PID and host."""
        if self._fd is not None:
            return self
        self._made_folder = not self.folder.exists()
        while True:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)  # again after a holder's release removed it
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except (FileNotFoundError, FileExistsError):  # a holder's release removed the folder meanwhile
                if self.folder.exists() and not self.folder.is_dir():
                    raise
                continue
            if not _try_lock(fd, self.wait):
                holder = _read_record(fd)
                os.close(fd)
                raise RunLockedError(
                    f"{self.folder} is in use by {_describe(holder)}; wait for it to end, or choose another --out"
                )
            if _same_file(fd, self.path):
                break
            os.close(fd)  # its holder deleted it on release: lock the new one
        left = _read_record(fd)
        if left:
            warnings.warn(f"{self.folder}: taking over the lock of {_describe(left)}, which ended without releasing it")
        self._write_record(fd, {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        self._fd = fd
        return self

    def release(self) -> None:
        """Deletes the lock file and drops the lock (a no-op when not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            self.path.unlink(missing_ok=True)  # while still locked: see _same_file
            _unlock(fd)
        finally:
            os.close(fd)
        if self._made_folder:
            try:
                self.folder.rmdir()  # only when empty: nothing but the lock was written
            except OSError:
                pass

    @staticmethod
    def _write_record(fd: int, record: dict) -> None:
        data = json.dumps(record).encode("utf-8")
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)
        os.fsync(fd)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

"""`training.distribute: multi_worker`: one run over several processes or machines.

The run uses `tf.distribute.MultiWorkerMirroredStrategy`; the cluster comes from the
`TF_CONFIG` environment variable, as TensorFlow defines it:

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'

Every worker runs the same `nipkit run CONFIG --out OUT` (add `--resume` to continue). The
chief (the `chief` task, else worker 0) alone writes the run folder and holds its lock;
the others train the same steps but write into a scratch copy that they delete at the
end. A resumed worker other than the chief starts from a copy of the chief's checkpoints,
so OUT must be readable by every worker (a shared file system, or the same machine).

TensorFlow needs the strategy before it runs anything, so the training commands create
it (`start_multi_worker`) right after reading the config.

Example:
    >>> start_multi_worker()  # doctest: +SKIP
    >>> with worker_output("runs/mw") as out:  # doctest: +SKIP
    ...     run_experiment(config, out=out)
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterator

from nipkit.config import Config
from nipkit.errors import ConfigError, TrainingError

__all__ = ["MULTI_WORKER", "localhost_tf_configs", "read_tf_config", "is_chief", "uses_multi_worker", "start_multi_worker", "worker_output"]

MULTI_WORKER = "multi_worker"
EXAMPLE = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
_strategy = None  # one per process: TensorFlow configures collective ops once


def _bad(problem: str) -> ConfigError:
    return ConfigError(f"TF_CONFIG: {problem}; expected e.g. {EXAMPLE}")


def localhost_tf_configs(workers: int) -> list[str]:
    """TF_CONFIG values for `workers` processes on this machine, on free localhost ports.

    Args:
        workers: how many workers; the i-th value is worker i's (worker 0 is the chief).

    Example:
        >>> configs = localhost_tf_configs(2)
        >>> json.loads(configs[1])["task"]
        {'type': 'worker', 'index': 1}
    """
    sockets = [socket.socket() for _ in range(workers)]
    for s in sockets:  # all bound at once, so that no two get the same port
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(workers)]


def read_tf_config() -> dict:
    """The cluster and task of `TF_CONFIG`, checked.

    Raises:
        ConfigError: it is missing, not JSON, or does not name this task within its cluster.
    """
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        raise ConfigError(f"training.distribute: {MULTI_WORKER} needs the cluster in TF_CONFIG, e.g. TF_CONFIG='{EXAMPLE}'")
    try:
        tf_config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    cluster = tf_config.get("cluster") if isinstance(tf_config, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise _bad("no \"cluster\" mapping of task types to host:port lists")
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses or not all(
                isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses):
            raise _bad(f"cluster.{kind} must be a non-empty list of host:port strings, got {addresses!r}")
    if "worker" not in cluster and "chief" not in cluster:
        raise _bad("the cluster has no worker or chief")
    task = tf_config.get("task")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise _bad(f"\"task\" must name a type of the cluster ({', '.join(cluster)}), got {task!r}")
    index = task.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[task["type"]]):
        raise _bad(f"task.index must be 0 to {len(cluster[task['type']]) - 1} for {task['type']}, got {index!r}")
    return tf_config


def is_chief() -> bool:
    """Whether this process writes the run folder: no TF_CONFIG, the chief task, or worker 0 without a chief."""
    if not os.environ.get("TF_CONFIG", "").strip():
        return True
    tf_config = read_tf_config()
    task = tf_config["task"]
    if task["type"] == "chief":
        return True
    return task["type"] == "worker" and task.get("index", 0) == 0 and "chief" not in tf_config["cluster"]


def uses_multi_worker(config: Config) -> bool:
    """Whether the config's training (or pre-training) asks for `distribute: multi_worker`."""
    return any(config.get((section, "distribute")) == MULTI_WORKER for section in ("training", "pretrain"))


def start_multi_worker():
    """The process's `MultiWorkerMirroredStrategy`, created on the first call from TF_CONFIG.

    Raises:
        ConfigError: TF_CONFIG is bad.
        TrainingError: TensorFlow had already started running (the strategy must come first).
    """
    global _strategy
    if _strategy is None:
        read_tf_config()
        import tensorflow as tf

        try:
            _strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as exc:
            raise TrainingError(f"training.distribute: {MULTI_WORKER} must start before TensorFlow runs anything "
                                f"({exc}); call nipkit.training.multi_worker.start_multi_worker() first") from None
    return _strategy


def _copy_for_worker(root: Path, scratch: Path) -> None:
    """What a worker other than the chief needs to resume: the chief's folder, less its lock and figures."""
    if root.is_dir():
        shutil.copytree(root, scratch, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".lock", "report", "tensorboard", "validation", "*.png"))


@contextlib.contextmanager
def worker_output(root: str | Path) -> Iterator[Path]:
    """The folder this process writes its run into: `root` for the chief, else a scratch copy deleted afterwards."""
    root = Path(root)
    if is_chief():
        yield root
        return
    scratch = Path(tempfile.mkdtemp(prefix="nipkit-worker-")) / root.name
    try:
        _copy_for_worker(root, scratch)
        yield scratch
    finally:
        shutil.rmtree(scratch.parent, ignore_errors=True)

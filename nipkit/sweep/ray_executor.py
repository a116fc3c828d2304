"""The Ray executor: each run of a sweep is one Ray task (`nipkit[ray]`).

`ray.init()` starts Ray on this machine, or joins a cluster with `address` ("auto" or
`host:port`). Each task asks for `resources.cpus` CPUs and `resources.gpus` GPUs and
trains its run in the worker process (`train_sweep_run`); Ray starts a task again when
its worker process dies, up to `resources.retries` times, and the run continues from its
checkpoint once the dead process's folder lock is gone. At most `workers` runs (default:
as many as the cluster's CPUs allow) are in flight at once.

Example:
    >>> outcomes = run_ray(jobs, RunResources(), progress, workers=2)  # doctest: +SKIP
"""
from __future__ import annotations

import math
import os
import socket
from typing import Any, Sequence

from nipkit.errors import SweepError
from nipkit.options import RunResources
from nipkit.sweep.local import SweepJob
from nipkit.sweep.progress import SweepProgress
from nipkit.sweep.task import RunOutcome, first_line, train_sweep_run

__all__ = ["import_ray", "connect_ray", "run_ray"]

INSTALL_HINT = 'pip install "nipkit[ray]"'


def import_ray() -> Any:
    """The `ray` module, or a SweepError with the install hint."""
    try:
        import ray
    except ImportError:
        raise SweepError(f"--executor ray needs Ray, which is not installed; install it with: {INSTALL_HINT}") from None
    return ray


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fails fast on a host:port nothing listens on (ray.init would retry for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"--address {address!r}: expected host:port (e.g. 10.0.0.5:6379) or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise SweepError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); check --address") from None


def connect_ray(address: str | None, cpus: int | None = None) -> bool:
    """Starts Ray here (`address` None) or joins the cluster at `address`; True when this call did so.

    A Ray already initialised in this process is used as it is.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    if address is not None and address != "auto":
        _check_reachable(address)
    try:
        ray.init(address=address, num_cpus=cpus if address is None else None, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"at {address}" if address else "on this machine"
        raise SweepError(f"cannot start or join Ray {where}: {first_line(exc)}") from None
    return True


def _reason(error: Exception, retries: int) -> str:
    ray = import_ray()
    if isinstance(error, ray.exceptions.RayTaskError):
        cause = getattr(error, "cause", None) or error
        return f"{type(cause).__name__}: {first_line(cause)}"
    if isinstance(error, (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError)):
        return f"its worker process died {retries + 1} times (killed, or out of memory)"
    return first_line(error)


def run_ray(jobs: Sequence[SweepJob], resources: RunResources, progress: SweepProgress,
            workers: int | None = None, address: str | None = None) -> list[RunOutcome]:
    """Runs `jobs` as Ray tasks.

    Args:
        jobs: the runs, in the order to submit them.
        resources: CPUs and GPUs per task, and how often a task whose worker died is retried.
        progress: counts and prints the runs' starts and ends.
        workers: the most runs in flight at once; default: the cluster's CPUs / CPUs per run.
        address: a Ray cluster ("auto", host:port); default: start Ray on this machine.

    Returns:
        Each run's outcome, in the order they ended.
    """
    ray = import_ray()
    cpus = max(1, math.ceil(workers * resources.cpus)) if workers and address is None else None
    started_here = connect_ray(address, cpus)
    try:
        task = ray.remote(train_sweep_run).options(
            num_cpus=resources.cpus, num_gpus=resources.gpus, max_retries=resources.retries, retry_exceptions=False)
        limit = workers or max(1, int(ray.cluster_resources().get("CPU", 1) // resources.cpus))
        queue, outcomes = list(jobs), []
        pending: dict[Any, SweepJob] = {}
        while queue or pending:
            while queue and len(pending) < limit:
                job = queue.pop(0)
                pending[task.remote(str(job.config), str(job.folder), os.getcwd())] = job
                progress.started(job.name)
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    outcome = RunOutcome(job.name, False, 0.0, _reason(exc, resources.retries))
                outcomes.append(outcome)
                progress.finished(outcome)
        return outcomes
    finally:
        if started_here:
            ray.shutdown()

"""Helpers shared by the benchmark scripts: memory, worker processes, tables, JSON, machine.

Nothing here imports TensorFlow at import time, so a script can set its environment
(e.g. TF_CPP_MIN_LOG_LEVEL) first; functions that need it take the module as an argument.

Example:
    >>> row = run_worker(__file__, ["--worker", "inet"])  # doctest: +SKIP
    >>> print(format_table([("model", "<"), ("it/s", ">")], [["inet", "11.7"]]))  # doctest: +SKIP
    >>> write_json("benchmarks/results", "models.json", [row])  # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

__all__ = [
    "peak_rss_mib", "current_rss_mib", "reset_peak_memory", "peak_memory_mib", "WorkerError", "run_worker",
    "format_table", "write_json", "machine_info", "fill_defaults",
]


class WorkerError(RuntimeError):
    """A measurement process failed; the message ends with its stderr."""


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def current_rss_mib() -> float | None:
    """Resident memory now in MiB (Linux /proc), None where it cannot be read."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_memory(tf: Any) -> None:
    """Starts a new peak for the first GPU's allocator (nothing to do on a CPU)."""
    if tf.config.list_physical_devices("GPU"):
        tf.config.experimental.reset_memory_stats("GPU:0")


def peak_memory_mib(tf: Any) -> tuple[float, str]:
    """(peak MiB, device): the first GPU's peak allocation since `reset_peak_memory`, else
    the process's peak resident set (which includes TensorFlow itself)."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
        return peak, tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return peak_rss_mib(), f"CPU ({os.cpu_count()} cores)"


def run_worker(script: str | Path, args: Sequence[str]) -> Any:
    """Runs `python script *args` in a fresh process; returns the JSON on its last stdout line.

    A fresh process per measurement keeps each peak memory figure its own.

    Raises:
        WorkerError: the worker failed.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise WorkerError(f"{Path(script).name} {' '.join(args)}: exit {done.returncode}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def format_table(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table whose columns are padded to line up in a terminal too.

    Args:
        columns: (title, alignment) pairs; alignment "<" (left) or ">" (right).
        rows: the cells, already formatted as strings.
    """
    widths = [max([len(title), 3] + [len(row[i]) for row in rows]) for i, (title, _) in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(format(c, f"{a}{w}") for c, (_, a), w in zip(cells, columns, widths)) + " |"

    dashes = ["-" * (w + 1) + ":" if a == ">" else "-" * (w + 2) for (_, a), w in zip(columns, widths)]
    rule = "|" + "|".join(dashes) + "|"
    return "\n".join([line([t for t, _ in columns]), rule] + [line(row) for row in rows])


def write_json(out: str | Path, name: str, payload: Any) -> Path:
    """Writes `payload` to `out` when it names a .json file, else to `out/name`; prints where."""
    path = Path(out)
    path = path if path.suffix == ".json" else path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """Where the figures come from: CPU model, cores, platform and library versions, load."""
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
        "load_average": round(os.getloadavg()[0], 2),
    }


def fill_defaults(args: argparse.Namespace, full: dict, quick: dict) -> argparse.Namespace:
    """Sets each option left as None to its `quick` value with `--quick`, else its `full` one."""
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args

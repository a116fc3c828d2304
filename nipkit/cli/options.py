"""Click options shared by several nipkit commands."""
from __future__ import annotations

import functools

import click

set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value, parsed as YAML (e.g. --set training.steps=200).",
)
out_option = click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Output folder (overrides `output:`)."
)
resume_option = click.option("--resume", is_flag=True, help="Continue from the last checkpoint in the output folder.")


def _locked_output(function):
    """Runs a training command while holding the lock of its output folder (see `RunLock`)."""

    @functools.wraps(function)
    def locked(**arguments):
        from nipkit.config import load_config
        from nipkit.training.multi_worker import is_chief, start_multi_worker, uses_multi_worker, worker_output
        from nipkit.training.nip import default_output
        from nipkit.training.run_lock import RunLock

        config = load_config(arguments["config"], arguments["overrides"])
        out = arguments["out"]
        folder = out if out is not None else default_output(config)
        if uses_multi_worker(config):
            start_multi_worker()  # before TensorFlow runs anything
            if not is_chief():  # the chief holds the folder; this worker writes a scratch copy
                with worker_output(folder) as scratch:
                    return function(**{**arguments, "out": str(scratch)})
        with RunLock(folder):
            return function(**arguments)

    return locked


def training_run_options(function):
    """CONFIG, --set, --out and --resume: the arguments of every command that trains.

    The command runs only while it holds the output folder's lock: a second process on the
    same folder is refused with one line naming the holder. In a multi-worker run only the
    chief takes the lock and writes the folder (see `nipkit.training.multi_worker`).
    """
    function = _locked_output(function)
    config = click.argument("config", type=click.Path(dir_okay=False))
    for decorate in (resume_option, out_option, set_option, config):
        function = decorate(function)
    return function

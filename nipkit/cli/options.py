"""Click options shared by several nipkit commands."""
from __future__ import annotations

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


def training_run_options(function):
    """CONFIG, --set, --out and --resume: the arguments of every command that trains."""
    config = click.argument("config", type=click.Path(dir_okay=False))
    for decorate in (resume_option, out_option, set_option, config):
        function = decorate(function)
    return function

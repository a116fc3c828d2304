"""`nipkit validate CONFIG`: check a config without building models or touching data."""
from __future__ import annotations

import click

from nipkit.cli.options import set_option
from nipkit.cli.sweep import sweep_option
from nipkit.config import load_config
from nipkit.schema import validate
from nipkit.sweep.spec import SWEEP_KEY, check_sweep


@click.command("validate")
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
@sweep_option
def command(config: str, overrides: tuple[str, ...], sweeps: tuple[str, ...]) -> None:
    """Check CONFIG (a NIP-training or experiment YAML); prints "ok" or one error line.

    With a `sweep:` section (or --sweep), every combination is checked.
    """
    loaded = load_config(config, overrides)
    if sweeps or SWEEP_KEY in loaded.data:
        validate(loaded)
        check_sweep(loaded, sweeps)
    else:
        validate(loaded)
    click.echo("ok")

"""`nipkit validate CONFIG`: check a config without building models or touching data."""
from __future__ import annotations

import click

from nipkit.cli.options import set_option
from nipkit.config import load_config
from nipkit.schema import validate


@click.command("validate")
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
def command(config: str, overrides: tuple[str, ...]) -> None:
    """Check CONFIG (a NIP-training or experiment YAML); prints "ok" or one error line."""
    validate(load_config(config, overrides))
    click.echo("ok")

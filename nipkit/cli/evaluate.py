"""`nipkit evaluate RUN_DIR... (--channel SPEC_OR_YAML ... | --battery NAME) --out DIR`."""
from __future__ import annotations

import click

from nipkit.errors import ConfigError


@click.command("evaluate")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--channel", "channels", multiple=True, metavar="SPEC_OR_YAML",
              help="A channel: step specs inline (e.g. '[{webp: {quality: 80}}]') or a battery YAML file.")
@click.option("--battery", default=None, metavar="NAME", help="A built-in battery (web) or a battery YAML file.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder for robustness.json/.md and the plots.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def command(run_dirs: tuple[str, ...], channels: tuple[str, ...], battery: str | None, out: str,
            no_progress: bool) -> None:
    """Re-score finished runs (their nip.keras and fan.keras) through other, real channels.

    Each RUN_DIR is a run folder or a folder searched for them. Each channel runs every
    step as its real counterpart (libjpeg, Pillow's resize, WebP, AVIF); one without its
    own resizing keeps the run's down-scaling step. Nothing is trained.
    """
    from nipkit.evaluation.battery import inline_channel, load_battery
    from nipkit.evaluation.robustness import write_robustness
    from nipkit.training.rescoring import rescore_runs

    if bool(channels) == bool(battery):
        raise ConfigError("give either --channel SPEC_OR_YAML (one or more) or --battery NAME")
    entries, notes = load_battery(battery) if battery else ([], [])
    for text in channels:
        more, skipped = inline_channel(text)
        entries, notes = entries + more, notes + skipped
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if not entries:
        raise ConfigError("no channel left to evaluate (every one was skipped)")
    results = rescore_runs(run_dirs, entries, echo=lambda line: click.echo(line, err=True), progress=not no_progress)
    table = write_robustness(results, out, notes)
    click.echo(f"robustness: {table}")

"""`nipkit sweep CONFIG --executor local|ray [--workers N] [--address ...]`: every combination of a sweep."""
from __future__ import annotations

import click

from nipkit.cli.options import set_option
from nipkit.config import load_config
from nipkit.sweep.driver import EXECUTORS, run_sweep
from nipkit.sweep.spec import DEFAULT_MAX_RUNS

sweep_option = click.option(
    "--sweep", "sweeps", multiple=True, metavar="KEY=V1,V2",
    help="Sweep a config key over values, parsed as YAML (e.g. --sweep training.seed=0,1,2); replaces the "
         "key's list in `sweep:`.")


@click.command("sweep")
@click.argument("config", type=click.Path(dir_okay=False))
@set_option
@sweep_option
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Output folder (overrides `output:`).")
@click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
              help="local: `nipkit run` processes on this machine; ray: one Ray task per run.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="The most runs at once (local default 1; Ray default: the cluster's CPUs / resources.cpus).")
@click.option("--address", default=None, metavar="HOST:PORT|auto",
              help="Join this Ray cluster (default: start Ray on this machine).")
@click.option("--max-runs", type=click.IntRange(min=1), default=DEFAULT_MAX_RUNS, show_default=True,
              help="The most runs a sweep may have without --yes.")
@click.option("--yes", is_flag=True, help="Start a sweep larger than --max-runs.")
def command(config: str, overrides: tuple[str, ...], sweeps: tuple[str, ...], out: str | None, executor: str,
            workers: int | None, address: str | None, max_runs: int, yes: bool) -> None:
    """Run every combination of the `sweep:` section of CONFIG (and of --sweep) as a run, then one report.

    Each combination is the config with one value of each swept key, run as `nipkit run`
    with --resume in OUTPUT/NAME (e.g. OUTPUT/fidelity_weight=0.1,seed=0): a run whose
    process died continues from its checkpoint, a finished one is kept. Every combination
    is checked before anything starts. `resources:` in CONFIG gives each run's cpus, gpus
    and retries. The sweep's record goes to OUTPUT/sweep.json, the report over all finished
    runs (with the fidelity-accuracy trade-off and its Pareto front) to OUTPUT/report/.
    """
    from nipkit.training.nip import default_output
    from nipkit.training.run_lock import RunLock

    loaded = load_config(config, overrides)
    root = out if out is not None else default_output(loaded)
    with RunLock(root):
        run_sweep(loaded, sweeps, root, executor, workers, address, max_runs, yes, echo=click.echo)

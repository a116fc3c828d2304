"""`nipkit run CONFIG [--set k=v ...] [--out DIR] [--resume]`: the joint experiment."""
from __future__ import annotations

import click

from nipkit.cli.options import training_run_options
from nipkit.config import load_config


def _headline(results) -> list[str]:
    lines = [f"{'run':<10} {'accuracy':>9} {'real':>8} {'image':>6} {'PSNR before → after':>22}"]
    for result in results:
        s = result.summary
        lines.append(
            f"{result.path.name:<10} {s.accuracy:>9.3f} {s.accuracy_real:>8.3f} {s.image_accuracy:>6.3f} "
            f"{s.nip.psnr_initial:>10.2f} → {s.nip.psnr:.2f} dB"
        )
    return lines


@click.command("run")
@training_run_options
@click.option("--overwrite", is_flag=True,
              help="Train again a finished run whose config differs (instead of refusing it).")
def command(config: str, overrides: tuple[str, ...], out: str | None, resume: bool, overwrite: bool) -> None:
    """Run the experiment in CONFIG: (pre-train the NIP,) train F and/or F+N, evaluate, report.

    CONFIG names `data`, `nip`, `manipulations`, `channel`, `fan` and `training` (see
    `examples/quickstart.yaml`). Each mode and repeat becomes a run folder under the
    output folder; the comparison goes to OUTPUT/report/report.md. A run killed half-way
    continues with `--resume` (learning rates and clip_norm may change); finished runs are
    kept when their config agrees, and refused otherwise unless `--overwrite` is given.
    The headline's "real" column is the accuracy through the real channel (each channel
    step run as its real counterpart, e.g. libjpeg).
    """
    from nipkit.training.runner import run_experiment

    results, report = run_experiment(load_config(config, overrides), out=out, resume=resume, echo=click.echo,
                                     overwrite=overwrite)
    for line in _headline(results):
        click.echo(line)
    click.echo(f"report: {report}")

"""`nipkit run CONFIG [--set k=v ...] [--out DIR] [--resume]`: the joint experiment."""
from __future__ import annotations

import click

from nipkit.cli.options import training_run_options
from nipkit.config import load_config
from nipkit.evaluation.verdict import verdict_lines


def _interval(interval: list[float] | None) -> str:
    low, high = interval or (float("nan"), float("nan"))
    return f"{low:.3f}–{high:.3f}"


def _headline(results) -> list[str]:
    """The table printed at the end: one row per run, then a verdict line per mode beside F."""
    lines = [f"{'run':<10} {'accuracy':>9} {'95% CI':>12} {'last 5':>7} {'real':>7} {'95% CI':>12} "
             f"{'image':>6} {'PSNR before → after':>22}"]
    for result in results:
        s = result.summary
        last = s.accuracy_last_mean if s.accuracy_last_mean is not None else float("nan")
        lines.append(
            f"{result.path.name:<10} {s.accuracy:>9.3f} {_interval(s.accuracy_interval):>12} {last:>7.3f} "
            f"{s.accuracy_real:>7.3f} {_interval(s.accuracy_real_interval):>12} {s.image_accuracy:>6.3f} "
            f"{s.nip.psnr_initial:>10.2f} → {s.nip.psnr:.2f} dB"
        )
    return lines + verdict_lines([result.summary for result in results])


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
    step run as its real counterpart, e.g. libjpeg); "95% CI" the Wilson interval of each
    accuracy, "last 5" the mean of the last 5 validations. The last lines are the verdicts:
    F+N − F (and F+C − F, F+N+C − F) in points of patch accuracy with its 95% interval
    (Newcombe), both channels.
    """
    from nipkit.training.runner import run_experiment

    results, report = run_experiment(load_config(config, overrides), out=out, resume=resume, echo=click.echo,
                                     overwrite=overwrite)
    for line in _headline(results):
        click.echo(line)
    click.echo(f"report: {report}")

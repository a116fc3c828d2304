"""`nipkit report RUN_DIR... [--out DIR]`: tables and figures that compare finished runs."""
from __future__ import annotations

import click

from nipkit.evaluation.report import write_report


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for report.md and the PNGs (default: the first RUN_DIR/report).")
def command(run_dirs: tuple[str, ...], out: str | None) -> None:
    """Summarise finished runs: report.md with F vs F+N (F+C, F+N+C) tables, confusion matrices and figures.

    Each RUN_DIR is a run folder (holding summary.json) or a folder searched for them.
    Runs are grouped only with runs whose configs agree; "real" is the accuracy through
    the real channel (every step that offers a real counterpart, e.g. libjpeg, run as it).
    """
    report, headline = write_report(run_dirs, out)
    click.echo(f"report: {report}")
    width = max(len(label) for label in headline)
    click.echo(f"  {'group':<{width}}  {'n':>3}  {'accuracy':>8}  {'real':>8}  {'PSNR':>6}  {'SSIM':>6}")
    for label, row in headline.items():
        click.echo(
            f"  {label:<{width}}  {row['n']:>3}  {row['accuracy']:>8.1%}  {row['accuracy_real']:>8.1%}"
            f"  {row['psnr']:>6.2f}  {row['ssim']:>6.4f}"
        )

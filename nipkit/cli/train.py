"""`nipkit train nip CONFIG [--set k=v ...] [--out DIR] [--resume]`: NIP pre-training."""
from __future__ import annotations

import click

from nipkit.cli.options import training_run_options
from nipkit.config import load_config


@click.group("train")
def command() -> None:
    """Train one part of the pipeline on its own."""


def _summary(result) -> list[str]:
    run = result.run
    lines = [
        f"run folder:  {run.path}",
        f"  best model:  {run.best} (step {result.best_step}, {result.best_psnr:.2f} dB)",
        f"  last model:  {run.last} (step {result.step})",
        f"  history:     {run.history_path}",
        f"  validation:  {run.validation_image(result.step)}",
        f"  tensorboard: tensorboard --logdir {run.tensorboard}",
        f"  config:      {run.config}",
    ]
    how = "stopped early (validation loss converged)" if result.stopped_early else "finished"
    lines.append(f"{how} at step {result.step}: validation PSNR {result.psnr:.2f} dB, SSIM {result.ssim:.4f}")
    return lines


@command.command("nip")
@training_run_options
def nip(config: str, overrides: tuple[str, ...], out: str | None, resume: bool) -> None:
    """Pre-train a NIP to reproduce the dataset's target developer.

    CONFIG names `data` (a prepared folder or `demo`), `nip` (a model spec, optionally
    with `weights: FILE.keras` to start from) and `training` options. The run folder gets
    config.yaml, history.jsonl, best.keras, last.keras, validation PNGs, TensorBoard logs
    and a checkpoint that `--resume` continues from.
    """
    from nipkit.training.nip import train_nip

    result = train_nip(load_config(config, overrides), out=out, resume=resume, echo=click.echo)
    for line in _summary(result):
        click.echo(line)


@command.command("codec")
@training_run_options
def codec(config: str, overrides: tuple[str, ...], out: str | None, resume: bool) -> None:
    """Pre-train a learned codec for rate–distortion (L + beta·R).

    CONFIG names `data` (a prepared folder or `demo`), `codec` (a codec spec, e.g.
    `learned_codec: {latent_channels: 32, beta: 0.001}`) and `training` options (those
    of `nipkit train nip`). The run folder is laid out as `nipkit train nip`'s; its
    history also records the rate measured from real bitstreams (`bpp`) and the model's
    estimate (`bpp_estimate`).
    """
    from nipkit.training.codec import train_codec

    result = train_codec(load_config(config, overrides), out=out, resume=resume, echo=click.echo)
    for line in _summary(result):
        click.echo(line)
    last = (result.run.history.records() or [{}])[-1]
    if "bpp" in last:
        click.echo(f"rate at step {last['step']}: {last['bpp']:.3f} bpp measured from the bitstream "
                   f"(model estimate {last['bpp_estimate']:.3f})")

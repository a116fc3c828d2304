"""`nipkit codec-check RUN_OR_MODEL... [--data demo] [--out DIR]`: learned codecs beside libjpeg.

Compresses the validation photos of a data set (the demo camera's by default), whole,
with each learned codec (its real bitstream) and with libjpeg (4:4:4 and 4:2:0, q 10–95),
and prints bits per pixel (from the bytes), PSNR and SSIM of each; each codec is also
compared with libjpeg 4:4:4 at its own rate (libjpeg's curve interpolated). Writes the
rate–distortion curves as a PNG and the table as JSON.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import click

from nipkit.evaluation.rate_distortion import QUALITIES, codec_point, jpeg_curve, psnr_at, validation_photos

SUBSAMPLINGS = ("4:4:4", "4:2:0")


def format_table(jpeg: dict[str, list[dict]], codecs: dict[str, dict]) -> str:
    """The rate–distortion table: one row per libjpeg setting and per codec."""
    width = max([len("libjpeg 4:4:4 q100")] + [len(name) for name in codecs])
    lines = [f"{'codec':<{width}} {'bpp':>7} {'PSNR':>7} {'SSIM':>7}  vs libjpeg 4:4:4 at this bpp"]
    for subsampling, rows in jpeg.items():
        for row in rows:
            label = f"libjpeg {subsampling} q{row['quality']}"
            lines.append(f"{label:<{width}} {row['bpp']:>7.3f} {row['psnr']:>7.2f} {row['ssim']:>7.4f}")
    for name, point in codecs.items():
        margin = point["psnr_margin"]
        versus = f"{margin:+.2f} dB" if math.isfinite(margin) else "outside libjpeg's rates"
        lines.append(f"{name:<{width}} {point['bpp']:>7.3f} {point['psnr']:>7.2f} {point['ssim']:>7.4f}  {versus}"
                     f" (rate estimate {point['bpp_estimate']:.3f} bpp)")
    return "\n".join(lines)


def plot(jpeg: dict[str, list[dict]], codecs: dict[str, dict], path: Path, title: str) -> None:
    """bpp vs PSNR (left) and bpp vs SSIM (right): libjpeg curves, one marker per codec."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    for ax, key, label in zip(axes, ("psnr", "ssim"), ("PSNR [dB]", "SSIM")):
        for subsampling, rows in jpeg.items():
            ax.plot([r["bpp"] for r in rows], [r[key] for r in rows], marker="o", ms=3, label=f"libjpeg {subsampling}")
        for name, point in codecs.items():
            ax.plot([point["bpp"]], [point[key]], marker="*", ms=12, ls="none", label=Path(name).name or name)
        ax.set(xlabel="bits per pixel (from the bytes)", ylabel=label, title=title if key == "psnr" else "")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


@click.command("codec-check")
@click.argument("codecs", nargs=-1, required=True, type=click.Path())
@click.option("--data", default="demo", show_default=True, help="Data set whose validation photos are compressed.")
@click.option("--crop", type=click.IntRange(8, None), default=None,
              help="Compress centre crops of this side instead of whole photos.")
@click.option("--qualities", default=",".join(map(str, QUALITIES)), show_default=True,
              help="libjpeg qualities, comma-separated.")
@click.option("--out", default="codec-check", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the plot (PNG) and the table (JSON).")
def command(codecs: tuple[str, ...], data: str, crop: int | None, qualities: str, out: str) -> None:
    """Rate–distortion of learned codecs beside libjpeg (bpp vs PSNR and SSIM).

    Each of CODECS is a codec's .keras file, a `nipkit train codec` run folder (its
    best.keras) or an experiment run folder with a codec in its channel.
    """
    from nipkit.codecs.files import load_codec

    try:
        levels = [int(q) for q in qualities.split(",")]
    except ValueError:
        levels = []
    if not levels or not all(1 <= q <= 100 for q in levels):
        raise click.BadParameter(f"must be integers from 1 to 100, comma-separated; got {qualities!r}",
                                 param_hint="--qualities")
    loaded = {name: load_codec(name) for name in codecs}
    names, photos = validation_photos(data, crop)
    jpeg = {s: jpeg_curve(photos, s, levels) for s in SUBSAMPLINGS}
    points = {}
    for name, codec in loaded.items():
        point = codec_point(codec, photos)
        point["psnr_margin"] = point["psnr"] - psnr_at(jpeg["4:4:4"], point["bpp"])
        points[name] = point
    pixels = sum(p.shape[0] * p.shape[1] for p in photos) / 1e6
    click.echo(f"rate–distortion on {len(photos)} validation photos of {data} ({', '.join(names)}; {pixels:.2f} MP)")
    click.echo(format_table(jpeg, points))
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    plot(jpeg, points, folder / "codec-check.png", f"learned codecs vs libjpeg ({data} validation photos)")
    (folder / "codec-check.json").write_text(json.dumps(_json_safe(
        {"data": data, "photos": names, "libjpeg": jpeg, "codecs": points}), indent=2))
    click.echo(f"plot: {folder / 'codec-check.png'}")

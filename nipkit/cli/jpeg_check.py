"""`nipkit jpeg-check [--size 256] [--subsampling 4:4:4] [--out DIR]`: DifferentiableJPEG vs libjpeg.

Compresses centre crops of the photos that ship with scikit-image and scikit-learn with
libjpeg (through Pillow) and with `DifferentiableJPEG` in every rounding mode, at
qualities 10, 20, ..., 90, and prints the paper's Fig. 3 as a table: PSNR of each against
the original, and the agreement of hard rounding with libjpeg.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import click
import numpy as np

QUALITIES = tuple(range(10, 100, 10))
MODES = ("round", "ste", "sin", "harmonic", "cubic", "ste_sin")
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "china", "flower")


def photo_crops(size: int) -> tuple[list[str], np.ndarray]:
    """Centre crops (size × size) of the bundled photos as float32 NHWC in [0, 1]."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = {name: getattr(data, name)() for name in PHOTOS[:4]}
    photos.update(zip(("china", "flower"), load_sample_images().images))
    smallest = min(min(p.shape[:2]) for p in photos.values())
    if not 16 <= size <= smallest:
        raise click.BadParameter(f"must be from 16 to {smallest} (the smallest bundled photo)", param_hint="--size")
    crops = []
    for photo in photos.values():
        top, left = (photo.shape[0] - size) // 2, (photo.shape[1] - size) // 2
        crops.append(photo[top : top + size, left : left + size, :3])
    return list(photos), np.stack(crops).astype(np.float32) / 255.0


def _mean_psnr(target: np.ndarray, output: np.ndarray) -> float:
    """Mean over images of the PSNR in dB (inf for identical images, as the mean then is)."""
    from keras import ops

    from nipkit.evaluation.metrics import psnr

    return float(np.mean(ops.convert_to_numpy(psnr(target, output))))


def fig3_rows(
    images: np.ndarray,
    subsampling: str = "4:4:4",
    qualities: Sequence[int] = QUALITIES,
    modes: Sequence[str] = MODES,
    progress: bool = True,
) -> list[dict]:
    """One row per quality: PSNR vs the original of libjpeg and of each rounding mode, and
    the agreement of "round" with libjpeg (mean PSNR and the fraction of differing values).
    """
    from tqdm.auto import tqdm

    from nipkit.evaluation.libjpeg import roundtrip
    from nipkit.layers.jpeg import DifferentiableJPEG

    rows = []
    bar = tqdm(total=len(qualities) * len(modes), desc="jpeg-check", unit="run", disable=not progress, leave=False)
    for quality in qualities:
        reference = roundtrip(images, quality, subsampling)
        row = {"quality": quality, "libjpeg": _mean_psnr(images, reference)}
        for mode in modes:
            out = np.asarray(DifferentiableJPEG(quality, mode, subsampling)(images))
            row[mode] = _mean_psnr(images, out)
            if mode == "round":
                row["agreement"] = _mean_psnr(reference, out)
                row["differing"] = float(np.mean(np.rint(out * 255) != np.rint(reference * 255)))
            bar.update()
        rows.append(row)
    bar.close()
    return rows


def format_rows(rows: list[dict], modes: Sequence[str] = MODES) -> str:
    """The Fig. 3 table as text; PSNR in dB, "inf" where images are identical."""
    header = ["q", "libjpeg", *modes, "round~libjpeg", "differing"]
    lines = ["  ".join(f"{h:>9}" for h in header)]
    for row in rows:
        cells = [f"{row['quality']:>9d}"] + [f"{row[key]:>9.2f}" for key in ("libjpeg", *modes)]
        cells += [f"{row['agreement']:>13.2f}", f"{row['differing']:>9.2%}"]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def plot_rows(rows: list[dict], path: Path, title: str, modes: Sequence[str] = MODES) -> None:
    """PSNR vs quality for libjpeg and each mode (left) and each mode minus libjpeg (right)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    q = [row["quality"] for row in rows]
    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    left.plot(q, [row["libjpeg"] for row in rows], "k--", lw=2.5, label="libjpeg")
    for mode in modes:
        left.plot(q, [row[mode] for row in rows], marker="o", ms=3, label=mode)
        right.plot(q, [row[mode] - row["libjpeg"] for row in rows], marker="o", ms=3, label=mode)
    right.axhline(0.0, color="k", lw=0.8, ls="--")
    left.set(xlabel="JPEG quality", ylabel="PSNR vs original [dB]", title=title)
    right.set(xlabel="JPEG quality", ylabel="PSNR difference vs libjpeg [dB]", title="bias of each rounding mode")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _json_safe(rows: list[dict]) -> list[dict]:
    return [{k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in row.items()} for row in rows]


@click.command("jpeg-check")
@click.option("--size", default=256, show_default=True, type=int, help="Side of the square photo crops.")
@click.option("--subsampling", default="4:4:4", show_default=True, type=click.Choice(["4:4:4", "4:2:0"]))
@click.option("--out", default="jpeg-check", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the plot (PNG) and the table (JSON).")
def command(size: int, subsampling: str, out: str) -> None:
    """Compare DifferentiableJPEG with libjpeg on the bundled photos (the paper's Fig. 3).

    For each quality 10..90: PSNR vs the original of libjpeg and of each rounding mode,
    and how closely hard rounding ("round") agrees with libjpeg (inf: identical).
    """
    names, images = photo_crops(size)
    rows = fig3_rows(images, subsampling)
    click.echo(f"DifferentiableJPEG vs libjpeg, {subsampling}, {len(names)} photos ({', '.join(names)}), {size}x{size}")
    click.echo("mean PSNR [dB] vs the original; round~libjpeg: mean PSNR of round vs libjpeg; differing: 8-bit values")
    click.echo(format_rows(rows))
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"jpeg-check-{subsampling.replace(':', '')}-{size}"
    plot_rows(rows, folder / f"{stem}.png", f"DifferentiableJPEG vs libjpeg ({subsampling}, {size}²)")
    (folder / f"{stem}.json").write_text(json.dumps({"size": size, "subsampling": subsampling, "photos": names,
                                                     "rows": _json_safe(rows)}, indent=2))
    click.echo(f"plot: {folder / f'{stem}.png'}")

"""`nipkit data`: prepare RAW photos into a dataset, or write the built-in demo cameras."""
from __future__ import annotations

from pathlib import Path

import click

from nipkit.data.raw_checks import DEFAULT_MAX_MEGAPIXELS
from nipkit.errors import ConfigError


@click.group("data")
def command() -> None:
    """RAW photos -> prepared datasets (Bayer stacks, targets, split)."""


@command.command("prepare")
@click.argument("raw_dir", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False), help="Dataset folder to write.")
@click.option("--camera", default=None, help="Camera to take from a folder that mixes cameras (or the name to record for files that name none).")
@click.option("--target", type=click.Choice(["libraw", "menon"]), default="libraw", show_default=True, help="Target developer.")
@click.option("--algorithm", default="AHD", show_default=True, help="libraw demosaicing algorithm (for --target libraw).")
@click.option("--bits", type=click.Choice(["8", "16"]), default="8", show_default=True, help="Bits per target sample.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Photos prepared in parallel.")
@click.option("--split", default="120:30", show_default=True, help="TRAIN:VALIDATION image counts (shared proportionally when there are fewer photos).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the split.")
@click.option(
    "--max-megapixels", type=float, default=DEFAULT_MAX_MEGAPIXELS, show_default=True,
    help="Refuse photos whose sensor is larger (read from the header, before decoding).",
)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def prepare(
    raw_dir: Path, out: Path, camera: str | None, target: str, algorithm: str, bits: str,
    jobs: int, split: str, seed: int, max_megapixels: float, no_progress: bool,
) -> None:
    """Prepares the RAW photos below RAW_DIR (searched recursively) into a dataset.

    Every Bayer RAW file libraw reads is taken (any extension of a format LibRaw reads,
    e.g. dng nef cr2 cr3 arw raf orf rw2 kdc 3fr iiq, any case). A bad file (damaged, cut
    short, image data missing, above --max-megapixels) is reported on one line and
    skipped; a re-run reuses every photo already prepared. One dataset holds one camera:
    a folder mixing cameras is refused unless --camera picks one.
    """
    from nipkit.data.develop import TargetSpec
    from nipkit.data.prepare import parse_split, prepare_folder

    try:
        spec = TargetSpec(target, algorithm.upper(), int(bits))
        counts = parse_split(split)
        if not max_megapixels > 0:
            raise ValueError(f"--max-megapixels must be above 0; got {max_megapixels:g}")
    except ValueError as exc:
        raise ConfigError(f"nipkit data prepare: {exc}") from None
    report = prepare_folder(
        raw_dir, out, camera=camera, target=spec, jobs=jobs, split=counts, seed=seed, progress=not no_progress,
        max_megapixels=max_megapixels,
    )
    click.echo(report.summary())


@command.command("demo")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None, help="Folder to write; the user cache folder when left out.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the scenes, gains and noise.")
@click.option("--scenes", default=None, metavar="N", help="Generated dead-leaves training scenes, 1 to 1000  [default: 64, what `data: demo` uses]")
@click.option("--camera", "cameras", multiple=True, help="Build only this demo camera (repeatable).")
@click.option("--limit", type=click.IntRange(min=2), default=None, hidden=True, help="Use only the first N photos.")
@click.option("--max-size", type=click.IntRange(min=32), default=None, hidden=True, help="Crop photos and scenes to N×N at most.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
def demo(
    out: Path | None, seed: int, scenes: str | None, cameras: tuple[str, ...], limit: int | None, max_size: int | None,
    no_progress: bool,
) -> None:
    """Writes the built-in demo cameras: DNGs synthesised from the photos that ship with
    scikit-image, scikit-learn and matplotlib and from generated dead-leaves scenes,
    prepared into one dataset per camera (validation: chelsea, coffee, flower,
    grace_hopper; training: the other photos and every scene)."""
    from nipkit.data.demo import DEFAULT_SCENES, MAX_SCENES, build_demo, check_scenes, demo_root

    try:
        count = check_scenes(DEFAULT_SCENES if scenes is None else int(scenes))
    except ValueError:  # ConfigError is one
        raise ConfigError(f"nipkit data demo: --scenes must be an integer from 1 to {MAX_SCENES}; got {scenes!r}") from None
    folder = out if out is not None else demo_root(seed, count)
    built = build_demo(
        folder, seed, scenes=count, cameras=cameras or None, limit=limit, max_size=max_size,
        progress=not no_progress, replace_stale=out is None,
    )
    for name, path in built.items():
        click.echo(f"{name}: {path}")

"""`nipkit develop MODEL.keras RAW_OR_DIR... --out DIR [--tile 512]`: RAW photos → PNG."""
from __future__ import annotations

import warnings
from pathlib import Path

import click

from nipkit.data.raw_checks import DEFAULT_MAX_MEGAPIXELS
from nipkit.errors import ConfigError, DataError, NipkitError


def _sources(inputs: tuple[str, ...]) -> list[tuple[Path, str]]:
    """(RAW file, output name) for every file given or found in a folder given."""
    from nipkit.data.prepare import find_raw_files, image_names

    found: list[tuple[Path, str]] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files, _ = find_raw_files(item)
            if not files:
                click.echo(f"error: {item}: no RAW files found in this folder", err=True)
                found.append((item, ""))
            found += [(f, name) for f, name in image_names(item, files).items()]
        else:
            found.append((item, item.stem))
    return found


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _load(model_path: str):
    """The NIP saved in `model_path`; a model registered in another role is refused."""
    import nipkit
    from nipkit.codecs.files import codec_class_in
    from nipkit.registry import describe_roles, roles_of

    path = Path(model_path)
    if not path.is_file():
        raise DataError(f"{path}: no such model file")
    try:
        model = nipkit.load_model(path)
    except NipkitError:
        raise
    except Exception as exc:  # Keras raises many kinds for a damaged or foreign file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not a loadable .keras model ({first})") from None
    codec = codec_class_in(path)
    if codec:
        raise DataError(f"{path}: holds {codec}, a codec, not a NIP; develop needs a NIP's .keras file "
                        "(e.g. a run's nip.keras); a codec compresses images, see `nipkit codec-check`")
    roles = roles_of(type(model))
    if roles and "nip" not in roles:
        raise DataError(
            f"{path}: holds {type(model).__name__}, {describe_roles(roles)}, not a NIP; "
            "develop needs a NIP's .keras file (e.g. a run's nip.keras)"
        )
    return model


@click.command("develop")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder for the PNG files.")
@click.option("--tile", type=int, default=512, show_default=True, help="Tile side in output pixels.")
@click.option("--overlap", type=int, default=64, show_default=True, help="Pixels shared by neighbouring tiles.")
@click.option("--max-megapixels", type=float, default=DEFAULT_MAX_MEGAPIXELS, show_default=True,
              help="Refuse photos whose sensor is larger (read from the header, before decoding).")
def command(model: str, inputs: tuple[str, ...], out: str, tile: int, overlap: int, max_megapixels: float) -> None:
    """Develop RAW photos into 8-bit PNG files with a trained NIP, at full resolution.

    INPUTS are RAW files or folders (searched recursively). Photos are developed in
    overlapping tiles, so any size fits in memory. A file that cannot be read is reported
    on one line and skipped; the exit code is 2 if any failed.
    """
    from nipkit.data.png import write_png
    from nipkit.data.raw import read_raw
    from nipkit.inference import check_tiling, develop_raw

    if not max_megapixels > 0:
        raise ConfigError(f"nipkit develop: --max-megapixels must be above 0; got {max_megapixels:g}")
    nip = _load(model)
    try:
        check_tiling(nip, tile, overlap)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tile/--overlap") from None
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    sources = _sources(inputs)
    failed = 0
    for source, name in sources:
        if not name:
            failed += 1
            continue
        try:
            raw = read_raw(source, max_megapixels)
            if getattr(nip, "cfa", raw.cfa) != raw.cfa:
                warnings.warn(f"{source}: CFA {raw.cfa}, but the model was built for {nip.cfa}")
            rgb = develop_raw(nip, raw, tile=tile, overlap=overlap)
        except DataError as exc:
            click.echo(f"error: {exc}", err=True)
            failed += 1
            continue
        target = folder / f"{_unique(name, taken)}.png"
        pixels = (rgb * 255.0 + 0.5).astype("uint8")
        write_png(target, pixels)
        click.echo(f"{source} -> {target} ({rgb.shape[1]}×{rgb.shape[0]})")
    if failed:
        raise DataError(f"{failed} of {len(sources)} inputs could not be developed (see above)")

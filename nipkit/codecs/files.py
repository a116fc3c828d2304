"""Finding a learned codec in a `.keras` file or a run folder, without guessing.

`nipkit train codec` saves the codec as a one-layer model (`best.keras`, `last.keras`),
the layout of an experiment run's `channel-N.keras`. `load_codec` accepts either file, or
a run folder of either kind, and returns the codec layer; `codec_class_in` tells, from the
file's config alone, whether a `.keras` file holds a codec (so a codec given where a NIP
belongs is refused by name).

Example:
    >>> codec = load_codec("runs/codec/codec32")  # best.keras of a codec run  # doctest: +SKIP
    >>> codec.compress(images)  # doctest: +SKIP
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

from nipkit.errors import DataError

__all__ = ["codec_class_in", "load_codec", "codec_files"]


def _classes(config: dict) -> list[tuple[str, str]]:
    """(module, class name) of a saved object and of the layers it holds, recursively."""
    found = [(str(config.get("module", "")), str(config.get("class_name", "")))]
    inner = config.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else None
    for layer in layers if isinstance(layers, list) else []:
        if isinstance(layer, dict):
            found += _classes(layer)
    return found


def codec_class_in(path: str | Path) -> str | None:
    """The class name of the codec a `.keras` file holds, or None (also for unreadable files)."""
    from nipkit import registry

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    codecs = {entry.target.replace(":", ".") for entry in registry.layers.entries() if "codec" in entry.roles}
    for module, name in _classes(config):
        if f"{module}.{name}" in codecs:
            return name
    return None


def codec_files(path: str | Path) -> list[Path]:
    """The `.keras` files holding a codec that `path` names: the file itself, or in a run
    folder its best.keras (codec pre-training) or its channel-N.keras (an experiment run)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"{path}: no such codec file or run folder")
    candidates = [path / "best.keras"] if (path / "best.keras").is_file() else sorted(path.glob("channel-*.keras"))
    return [file for file in candidates if codec_class_in(file)]


def load_codec(path: str | Path):
    """The codec layer of a `.keras` file or run folder (see `codec_files`).

    Raises:
        DataError: no codec there, or the file cannot be loaded.
    """
    import nipkit

    files = codec_files(path)
    if not files or not codec_class_in(files[0]):
        raise DataError(f"{path}: holds no learned codec (expected a codec's .keras file, a `nipkit train codec` "
                        "run folder, or an experiment run with a codec in its channel)")
    try:
        model = nipkit.load_model(files[0])
    except Exception as exc:  # Keras raises many kinds for a damaged file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{files[0]}: not a loadable .keras model ({first})") from None
    layers = getattr(model, "layers", [model])
    return next(layer for layer in layers if type(layer).__name__ == codec_class_in(files[0]))

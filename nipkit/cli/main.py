"""The `nipkit` command: a click group whose subcommands are imported on first use.

Each subcommand lives in its own module of `nipkit.cli` and exposes `command`; this keeps
`nipkit --version`, `nipkit data` and `nipkit report` free of TensorFlow's start-up time.
"""
from __future__ import annotations

import importlib
import os
import sys
import warnings

import click

from nipkit._version import __version__
from nipkit.errors import NipkitError
from nipkit.files import is_disk_full

# command name -> module under nipkit.cli that defines `command`
COMMANDS = {
    "list": "list_components",
    "validate": "validate",
    "data": "data",
    "train": "train",
    "develop": "develop",
    "report": "report",
    "run": "run",
    "jpeg-check": "jpeg_check",
    "codec-check": "codec_check",
    "evaluate": "evaluate",
    "sweep": "sweep",
}

# Commands that never need TensorFlow; they start without importing it.
NO_TENSORFLOW = {"data", "report"}


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with stderr silenced at the descriptor level.

    TensorFlow's C++ runtime writes start-up lines to stderr before its log level applies;
    silencing them keeps nipkit's own errors to one line.
    """
    if "tensorflow" in sys.modules:
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    sys.stderr.flush()
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        if name not in NO_TENSORFLOW and not ctx.resilient_parsing:
            import_tensorflow_quietly()
        return importlib.import_module(f"nipkit.cli.{COMMANDS[name]}").command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nipkit")
@click.option("--traceback", is_flag=True, help="Show the full traceback of errors.")
def cli(traceback: bool) -> None:
    """nipkit: neural imaging pipelines optimised for photo provenance."""
    # `main` reads --traceback itself: errors must be caught outside click.


def _one_line_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    return f"warning: {message}\n"


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file=None, line: str | None = None
) -> None:
    """Writes the warning on a line of its own, above any progress bar (not appended to it)."""
    from tqdm.auto import tqdm

    tqdm.write(_one_line_warning(message, category, filename, lineno).rstrip("\n"), file=file or sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Runs the CLI; a `NipkitError` becomes one line on stderr and exit code 2."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.formatwarning = _one_line_warning
    warnings.showwarning = _show_warning
    show_trace = "--traceback" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="nipkit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except NipkitError as exc:
        if show_trace:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:  # a full disk where nipkit does not check for one itself
        if show_trace or not is_disk_full(exc):
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        click.echo(f"error: {where}the disk is full; free some space, then continue with --resume", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()

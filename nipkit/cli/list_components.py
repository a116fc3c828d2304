"""`nipkit list [layers|models] [PATTERN]`: what the registries offer, and from where."""
from __future__ import annotations

import click

from nipkit import registry


@click.command("list")
@click.argument("kind", required=False, type=click.Choice(["layers", "models"]))
@click.argument("pattern", required=False)
def command(kind: str | None, pattern: str | None) -> None:
    """List registered components: key, class, distribution and version.

    PATTERN is a wildcard, e.g. `nipkit list layers 'j*'`. Plugins that fail to import are
    reported once as a warning and skipped.
    """
    registries = [getattr(registry, kind)] if kind else [registry.layers, registry.models]
    for reg in registries:
        loaded = reg.load_all()
        rows = [reg.entry(name) for name in reg.names(pattern) if name in loaded]
        click.echo(f"{reg.kind}:")
        width = max([len(e.name) for e in rows] + [4])
        cwidth = max([len(e.class_name) for e in rows] + [5])
        for e in rows:
            click.echo(f"  {e.name:<{width}}  {e.class_name:<{cwidth}}  {e.distribution} {e.version}".rstrip())
        if not rows:
            click.echo("  (none)")

"""`nipkit list [KIND] [PATTERN]`: what the registries offer, by role, and from where."""
from __future__ import annotations

import click

from nipkit import registry
from nipkit.registry import ROLES, Entry, Registry

# KIND on the command line: a registry, or one role by its entry-point group's last word.
ROLE_CHOICES = {role.group.rpartition(".")[2]: role.name for role in ROLES.values()}


def _sections(kind: str | None) -> list[tuple[Registry, str | None]]:
    """(registry, role) per section to print; role None: entries that declare no role."""
    registries = [registry.layers, registry.models]
    if kind in ROLE_CHOICES:
        role = ROLES[ROLE_CHOICES[kind]]
        return [(getattr(registry, role.kind), role.name)]
    chosen = [r for r in registries if kind in (None, r.kind)]
    return [(reg, role.name) for reg in chosen for role in ROLES.values() if role.kind == reg.kind] + [
        (reg, None) for reg in chosen
    ]


def _print_section(heading: str, rows: list[Entry], always: bool) -> None:
    if not rows and not always:
        return
    click.echo(f"{heading}:")
    width = max([len(e.name) for e in rows] + [4])
    cwidth = max([len(e.class_name) for e in rows] + [5])
    for e in rows:
        click.echo(f"  {e.name:<{width}}  {e.class_name:<{cwidth}}  {e.distribution} {e.version}".rstrip())
    if not rows:
        click.echo("  (none)")


@click.command("list")
@click.argument("kind", required=False, type=click.Choice(["layers", "models", *ROLE_CHOICES]))
@click.argument("pattern", required=False)
def command(kind: str | None, pattern: str | None) -> None:
    """List registered components by role: key, class, distribution and version.

    KIND is `layers`, `models` or one role: manipulations, channel, blocks, nips, fans,
    codecs. A component with two roles (e.g. `jpeg`) is listed under both. PATTERN is a
    wildcard, e.g. `nipkit list layers 'j*'`. Plugins that fail to import are reported
    once as a warning and skipped.
    """
    sections = _sections(kind)
    loaded = {reg.kind: reg.load_all() for reg in dict.fromkeys(reg for reg, _ in sections)}
    for reg, role in sections:
        names = set(reg.names(pattern)) & set(loaded[reg.kind])
        rows = [reg.entry(name) for name in sorted(names)]
        if role is None:
            # Entries in the older `nipkit.layers`/`nipkit.models` groups.
            _print_section(f"{reg.kind} (no role declared)", [e for e in rows if not e.roles], always=False)
        else:
            _print_section(ROLES[role].heading, [e for e in rows if role in e.roles], always=True)

"""``dsr plugins list``: every plugin, its version, hooks, and what it registered."""

from __future__ import annotations

import click
from rich.table import Table

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.cli.render import console


@click.group()
def plugins() -> None:
    """Installed plugins (built-in and from entry points)."""


@plugins.command("list")
@json_option
@pass_app
def list_plugins(app: AppContext, as_json: bool) -> None:
    """Show each plugin, its version, the hooks it implements and what it registered."""
    infos = app.plugin_manager.plugins()
    if as_json:
        emit_json([{"name": p.name, "version": p.version, "builtin": p.builtin,
                    "hooks": p.hooks, "registered": p.registered} for p in infos])
        return
    table = Table(title="Plugins")
    for column in ("plugin", "version", "built-in", "hooks", "registered"):
        table.add_column(column, overflow="fold")
    for p in infos:
        registered = "; ".join(f"{kind}: {', '.join(names)}"
                               for kind, names in p.registered.items())
        table.add_row(p.name, p.version, "yes" if p.builtin else "no", ", ".join(p.hooks),
                      registered)
    console.print(table)

"""``dsr plugins``: list every plugin (version, hooks, what it registered); scaffold new ones."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.cli.render import console
from agent.scaffold import new_connector_plugin


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


@plugins.group("new")
def new() -> None:
    """Write a ready-to-install plugin package to start from."""


@new.command("connector")
@click.argument("name")
@click.option("--dir", "parent", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True, metavar="D",
              help="Folder to write the plugin in: it goes to D/dsr-NAME (hyphens for _).")
@json_option
@pass_app
def new_connector(app: AppContext, name: str, parent: Path, as_json: bool) -> None:
    """Write a connector plugin package for a connector named NAME.

    NAME is what `connector = NAME` in a [[systems]] table will say: lower-case letters,
    digits and single underscores, starting with a letter (e.g. acme_crm).

    The package (pyproject.toml with the dsr_agent entry point, a working connector over a
    JSON file with every method explained, the conformance test, a README) passes its own
    tests once installed: `pip install -e D/dsr-NAME`, then `python -m pytest` there.
    An existing non-empty folder is never overwritten.
    """
    taken = {r.name: r.plugin for r in app.plugin_manager.registry.all("connectors")}
    written = new_connector_plugin(name, parent, taken=taken)
    if as_json:
        emit_json({"connector": name, "folder": str(written.root),
                   "files": [path.as_posix() for path in written.files]})
        return
    click.echo(f"wrote connector plugin {name!r} to {written.root}:")
    for path in written.files:
        click.echo(f"  {path.as_posix()}")
    click.echo(f"next: pip install -e {written.root} && cd {written.root} && "
               "python -m pytest   (then look for REPLACE THIS in the connector)")

"""``dsr systems list|check``: the configured systems and whether each is reachable."""

from __future__ import annotations

import click
from rich.table import Table

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.cli.render import console
from agent.errors import EXIT_OK, EXIT_PARTIAL


@click.group()
def systems() -> None:
    """The systems in the configuration."""


@systems.command("list")
@json_option
@pass_app
def list_systems(app: AppContext, as_json: bool) -> None:
    """Show each configured system (passwords masked)."""
    config = app.config()
    rows = [s.public() for s in config.systems]
    if as_json:
        emit_json(rows)
        return
    table = Table(title=f"Systems in {config.path}")
    for column in ("name", "connector", "url", "enabled"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["connector"], row["url"], str(row["enabled"]).lower())
    console.print(table)


@systems.command("check")
@click.option("--system", "names", multiple=True, metavar="S", help="Check only this system.")
@json_option
@pass_app
def check_systems(app: AppContext, names: tuple[str, ...], as_json: bool) -> int:
    """Reach each system; exit code 3 if any is unreachable."""
    results = app.engine().check(list(names) or None)
    rows = [{"name": s.name, "connector": s.connector, "url": s.display_url,
             "status": "ok" if r.ok else "error", "detail": r.detail,
             "seconds": round(r.seconds, 3)} for s, r in results]
    if as_json:
        emit_json(rows)
    else:
        table = Table(title="System checks")
        for column in ("name", "status", "seconds", "detail"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(row["name"], row["status"], f"{row['seconds']:.2f}", row["detail"],
                          style=None if row["status"] == "ok" else "red")
        console.print(table)
    return EXIT_OK if all(r.ok for _, r in results) else EXIT_PARTIAL

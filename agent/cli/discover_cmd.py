"""``dsr discover``: sweep the systems for personal data and print the data map."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.cli.context import AppContext, emit_json, json_option, pass_app, stderr_is_tty
from agent.cli.render import console
from agent.discovery.datamap import DataMap
from agent.discovery.sweep import sweep_for
from agent.engine import default_operator
from agent.errors import EXIT_OK, EXIT_PARTIAL

EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C; the sweep resumes next time


@contextmanager
def sweep_progress() -> Iterator[Callable[[str, dict[str, Any]], None] | None]:
    """A status line on stderr while a sweep runs, only when stderr is a terminal."""
    if not stderr_is_tty():
        yield None
        return
    err = Console(stderr=True)
    with err.status("sweeping…") as status:
        def update(event: str, data: dict[str, Any]) -> None:
            if event == "resumed":
                err.print(f"resuming sweep {data['sweep']} (started {data['started'][:19]})")
            elif event == "system":
                status.update(f"sweeping {data['system']}…")
            elif event == "unit":
                status.update(f"sweeping {data['system']}: {data['read']} read, "
                              f"{data['unchanged']} unchanged")

        yield update


@click.command()
@click.option("--system", "names", multiple=True, metavar="S",
              help="Sweep only this system (repeatable; default every enabled system).")
@click.option("--full", is_flag=True,
              help="Read everything again, not only what changed since the last sweep.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Also write the one-page HTML report to FILE.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Also write the data map as CSV to FILE.")
@json_option
@pass_app
def discover(app: AppContext, names: tuple[str, ...], full: bool, html_path: Path | None,
             csv_path: Path | None, as_json: bool) -> int:
    """Sweep systems for personal data: a data map by place, kind and data group.

    Samples every container (database columns, files, bucket objects, call records) and
    maps what the detectors find to the policy's data groups. Counts only, never values.
    Only what changed since the last sweep is read again (--full reads everything); an
    interrupted sweep resumes where it stopped when run again.

    \b
    Exit codes: 0 ok (systems whose connector cannot sample are listed as skipped),
                3 a system failed, 130 interrupted.
    """
    engine = app.engine()
    with sweep_progress() as progress:
        sweep = sweep_for(engine, list(names) or None, progress=progress)
        try:
            datamap = sweep.run(full=full, actor=default_operator())
        except KeyboardInterrupt:
            click.echo("interrupted: run the same command again to resume the sweep",
                       err=True)
            return EXIT_INTERRUPTED
    if csv_path:
        csv_path.write_text(datamap.csv(), encoding="utf-8")
    if html_path:
        from agent.discovery.report import render_html

        html_path.write_text(render_html(datamap), encoding="utf-8")
    if as_json:
        emit_json(datamap.public())
    else:
        print_datamap(datamap)
    failed = any(s.status == "failed" for s in datamap.systems)
    return EXIT_PARTIAL if failed else EXIT_OK


def print_datamap(datamap: DataMap) -> None:
    for system in datamap.systems:
        state = {"ok": "[green]ok[/green]", "skipped": "[yellow]skipped[/yellow]"}.get(
            system.status, "[red]failed[/red]")
        detail = f"  {escape(system.error)}" if system.error else ""
        console.print(f"{system.name:<16} {state}  {system.units} read, {system.unchanged} "
                      f"unchanged, {system.unreadable} unreadable{detail}")
    table = Table(title=f"Data map (sweep {datamap.sweep.get('id', '?')})")
    for column in ("system", "container", "categories", "detectors", "confidence",
                   "matched/sampled", "searched"):
        table.add_column(column, overflow="fold")
    for entry in datamap.sorted_entries():
        unit = "" if entry.sample_unit == "values" else " bytes"
        table.add_row(entry.system, escape(entry.container), ", ".join(entry.categories),
                      ", ".join(entry.detectors), entry.confidence,
                      f"{entry.matched}/{entry.sampled}{unit}",
                      "yes" if entry.searched else "[yellow]no[/yellow]")
    console.print(table)
    gaps = datamap.not_searched()
    if gaps:
        console.print(f"[yellow]{len(gaps)} place(s) hold personal data a request search "
                      "would not look at[/yellow] (see the coverage section of --json or "
                      "--html)")
    if datamap.unreadable:
        console.print(f"[yellow]{len(datamap.unreadable)} unit(s) could not be read[/yellow]")

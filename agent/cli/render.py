"""Human-readable output (rich tables) for commands run without ``--json``."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from agent.models import SearchResult

console = Console(soft_wrap=True)


def describe_step(step: dict[str, Any]) -> str:
    kind = step.get("step")
    if kind == "request":
        return f"{step['type']} from the request"
    if kind == "discovered":
        return f"{step['type']} found on {step['on']}"
    if kind == "matched":
        return f"matched {step['type']}"
    if kind == "linked":
        return f"linked by {step['link']}"
    return str(step)


def describe_chain(chain: list[dict[str, Any]]) -> str:
    return " → ".join(describe_step(s) for s in chain)


def print_result(result: SearchResult) -> None:
    subject = result.subject
    console.print(f"[bold]Subject[/bold] {subject.ref}: "
                  f"{len(result.findings)} finding(s) in {result.rounds} round(s)")
    idents = Table(title="Identifiers", show_lines=False)
    for column in ("id", "type", "value", "status", "origin"):
        idents.add_column(column)
    for ident in subject.identifiers:
        idents.add_row(ident.id, ident.type, ident.value, subject.status.get(ident.id, ""),
                       ident.origin)
    console.print(idents)
    table = Table(title="Findings")
    for column in ("finding", "strength", "categories", "matched", "why"):
        table.add_column(column, overflow="fold")
    for f in result.findings:
        style = None if f.strength == "strong" else "yellow"
        table.add_row(f.id, f.strength, ", ".join(f.categories), ", ".join(f.matched),
                      describe_chain(f.chain), style=style)
    console.print(table)
    if result.excluded_lookalikes:
        console.print(f"{result.excluded_lookalikes} look-alike record(s) excluded: they match "
                      "only weakly and carry someone else's identifiers.")
    systems = Table(title="Systems")
    for column in ("system", "status", "seconds", "error"):
        systems.add_column(column)
    for s in result.systems:
        systems.add_row(s.name, s.status, f"{s.seconds:.2f}", s.error or "",
                        style="red" if s.status != "ok" else None)
    console.print(systems)

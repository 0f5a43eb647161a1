"""Human-readable output for commands run without ``--json``.

Findings are a list, not a table: each with its strength and categories on one line and
the chain that explains it on the next, so it reads well in a narrow terminal too.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from agent.models import Finding, SearchResult

console = Console(soft_wrap=True, highlight=False)


def describe_step(step: dict[str, Any], final: str) -> str:
    kind = step.get("step")
    if kind == "request":
        return f"{step['type']} from the request"
    if kind == "discovered":
        return f"gave {step['type']} ({step['identifier']})"
    if kind == "matched":
        return "matched this record" if step["record"] == final else f"matched {step['record']}"
    if kind == "linked":
        target = "this record" if step["record"] == final else step["record"]
        return f"linked to {target} by {step['link']}"
    return str(step)


def describe_chain(finding: Finding) -> str:
    return " → ".join(describe_step(s, finding.id) for s in finding.chain)


def print_result(result: SearchResult) -> None:
    subject = result.subject
    strong = sum(1 for f in result.findings if f.strength == "strong")
    console.print(f"[bold]{escape(subject.ref)}[/bold]: {len(result.findings)} finding(s), "
                  f"{strong} strong, {len(result.findings) - strong} weak, "
                  f"in {result.rounds} round(s)  [dim]search {result.search_id}[/dim]")
    console.print("\n[bold]Identifiers[/bold]")
    for ident in subject.identifiers:
        origin = ("from the request" if ident.origin == "request"
                  else f"found on {ident.origin} (round {ident.round})")
        status = subject.status.get(ident.id, "")
        style = "" if status == "strong" else "[yellow]"
        console.print(f"  {ident.id:<16} {style}{escape(ident.value)}  {status}"
                      f"{'[/yellow]' if style else ''}  [dim]{escape(origin)}[/dim]")
    console.print("\n[bold]Findings[/bold]")
    if not result.findings:
        console.print("  none")
    for f in result.findings:
        mark = "[green]●[/green]" if f.strength == "strong" else "[yellow]○[/yellow]"
        matched = f"  matched {', '.join(f.matched)}" if f.matched else ""
        console.print(f"  {mark} {escape(f.id)}  {f.strength}  "
                      f"[cyan]{escape(', '.join(f.categories))}[/cyan]{matched}")
        console.print(f"      [dim]why: {escape(describe_chain(f))}[/dim]")
    if result.excluded_lookalikes:
        console.print(f"\n{result.excluded_lookalikes} look-alike record(s) excluded: they match "
                      "only weakly and carry someone else's identifiers.")
    console.print("\n[bold]Systems[/bold]")
    for s in result.systems:
        state = "[green]ok[/green]" if s.status == "ok" else f"[red]{s.status}[/red]"
        error = f"  {escape(s.error)}" if s.error else ""
        console.print(f"  {s.name:<16} {state}  {s.seconds:.2f} s{error}")

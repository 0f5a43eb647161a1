"""What the `dsr request` commands share: the actor option and the human renderings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import click
from rich.markup import escape

from agent.cli.render import console
from agent.plans import ACTIONS
from agent.request import WAITING_FOR_ID, Request

F = TypeVar("F", bound=Callable[..., Any])

ACTION_STYLE = {"delete": "red", "anonymise": "magenta", "retain": "cyan", "export": "green",
                "manual": "yellow", "notify": "yellow", "suppress": "blue",
                "restrict": "blue", "rectify": "green", "beyond_use": "cyan"}


def by_option(required: bool = False) -> Callable[[F], F]:
    """``--by NAME``: who acts. Approvals and sign-offs must name a person."""
    if required:
        return click.option("--by", "by", required=True, metavar="NAME",
                            help="Who does this (recorded; required).")
    return click.option("--by", "by", envvar="DSR_OPERATOR", metavar="NAME",
                        help="Who does this (recorded; default DSR_OPERATOR or login name).")


def request_id_argument(func: F) -> F:
    return click.argument("request_id", metavar="ID")(func)


def due_text(request: Request, today: date) -> str:
    due = request.due(today)
    return due.isoformat() if due else WAITING_FOR_ID


def clock_note(request: Request, today: date) -> str:
    """What is special about the clock: paused, extended, waiting for ID ("" if nothing)."""
    clock = request.clock
    if clock is None:
        return ""
    notes = []
    waited = clock.waiting_days(today)
    if waited is not None:
        assert clock.id_requested is not None
        notes.append(f"waiting for ID asked for on {clock.id_requested.isoformat()} "
                     f"({waited} days)")
    elif clock.awaiting_id:
        notes.append("waiting for ID")
    if clock.paused_since:
        notes.append(f"paused since {clock.paused_since.isoformat()}")
    if clock.paused_days:
        notes.append(f"{clock.paused_days} days paused")
    if clock.extension_months:
        told = clock.told.isoformat() if clock.told else "?"
        notes.append(f"extended {clock.extension_months} month(s), told {told}")
    return "; ".join(notes)


def chase_id(request: Request, today: date, chase_after: int | None) -> bool:
    """Waiting longer than ``chase_after`` days for the ID it asked for: chase or close."""
    waited = request.clock.waiting_days(today) if request.open and request.clock else None
    return chase_after is not None and waited is not None and waited > chase_after


def print_request(request: Request, today: date | None = None,
                  chase_after: int | None = None) -> None:
    """One request, its deadline as it stands today and what its clock is doing."""
    today = today or date.today()
    late = "  [red]OVERDUE[/red]" if request.overdue(today) else ""
    if chase_id(request, today, chase_after):
        late = "  [red]CHASE ID[/red]"
    identity = ("verified" if request.identity_verified
                else f"pending ({request.identity_required} documents needed)")
    console.print(f"[bold]{request.id}[/bold]  {request.type}  [bold]{request.status}[/bold]"
                  f"  due: {due_text(request, today)}{late}")
    console.print(f"  received {request.received_at:%Y-%m-%d %H:%M} UTC by "
                  f"{escape(request.created_by)}; identity {identity}"
                  + (f"; plan {request.plan_id}" if request.plan_id else ""))
    note = clock_note(request, today)
    if note:
        console.print(f"  clock: [yellow]{note}[/yellow]")
    if request.refusal:
        kind = "refused in part" if request.refusal.get("partial") else "refused"
        console.print(f"  {kind}: {escape(request.refusal['reason'])}")


def print_plan(view: dict[str, Any]) -> None:
    console.print(f"[bold]Plan {view['plan_id']}[/bold] for {view['request']} "
                  f"({view['state']}; expires {view['expires_at'][:10]})")
    for item in view["items"]:
        action = item["action"]
        style = ACTION_STYLE.get(action, "white")
        left_out = "" if item.get("included", True) else " [dim](left out: weak)[/dim]"
        console.print(f"  [{style}]{action:<10}[/{style}] {escape(item['id'])}{left_out}")
        detail = item["reason"]
        if item.get("until"):
            detail += f"  [until {item['until']}]"
        console.print(f"      [dim]{escape(detail)}[/dim]")
    counts = ", ".join(f"{n} {a}" for a, n in sorted(view["actions"].items()))
    console.print(f"\n  {counts or 'nothing to do'}"
                  + (f"; {view['left_out']} left out" if view["left_out"] else ""))
    failed = [s["name"] for s in view["systems"] if s.get("status") != "ok"]
    if failed:
        console.print(f"  [red]not searched (failed): {', '.join(failed)}[/red]")


def action_help() -> str:
    return "; ".join(f"{name}: {text}" for name, text in ACTIONS.items())

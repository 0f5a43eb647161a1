"""`dsr request clock | extend`: pause and resume the statutory clock, extend the deadline.

Also the clock-aware rendering of a request `create`, `list` and `show` use: a request
waiting for ID has no deadline yet, a paused one says so, an overdue one stands out.
"""

from __future__ import annotations

from datetime import date

import click
from rich.markup import escape

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.cli.render import console
from agent.cli.request.common import by_option, request_id_argument
from agent.engine import default_operator
from agent.request import WAITING_FOR_ID, Request


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter("expected a date, e.g. 2026-11-02", param_hint=option) from exc


def due_text(request: Request, today: date) -> str:
    due = request.due(today)
    return due.isoformat() if due else WAITING_FOR_ID


def clock_note(request: Request, today: date) -> str:
    """What is special about the clock: paused, extended, waiting for ID ("" if nothing)."""
    clock = request.clock
    if clock is None:
        return ""
    notes = []
    if clock.awaiting_id:
        notes.append("waiting for ID")
    if clock.paused_since:
        notes.append(f"paused since {clock.paused_since.isoformat()}")
    if clock.paused_days:
        notes.append(f"{clock.paused_days} days paused")
    if clock.extension_months:
        told = clock.told.isoformat() if clock.told else "?"
        notes.append(f"extended {clock.extension_months} month(s), told {told}")
    return "; ".join(notes)


def print_request(request: Request, today: date | None = None) -> None:
    """One request, its deadline as it stands today and what its clock is doing."""
    today = today or date.today()
    late = "  [red]OVERDUE[/red]" if request.overdue(today) else ""
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


def print_table(requests: list[Request], today: date) -> None:
    """One line each; a marker column makes overdue requests stand out."""
    for request in requests:
        mark = "[red]OVERDUE[/red]" if request.overdue(today) else "       "
        note = clock_note(request, today)
        console.print(f"{mark}  [bold]{request.id}[/bold]  {request.type:<11} "
                      f"{request.status:<19} due: {due_text(request, today)}"
                      + (f"  [yellow]({note})[/yellow]" if note else ""))


def listing(request: Request, today: date) -> dict[str, object]:
    """A request in --json listings: its deadline as it stands today and whether overdue."""
    due = request.due(today)
    return {**request.public(), "overdue": request.overdue(today),
            "due_on": due.isoformat() if due else None}


@click.command()
@request_id_argument
@click.option("--paused", "state", flag_value="paused",
              help="Stop the clock: waiting for the person's clarification.")
@click.option("--resumed", "state", flag_value="resumed",
              help="Start it again: the days paused are added to the deadline.")
@click.option("--awaiting-id", "state", flag_value="awaiting_id",
              help="Stop it until the identity check completes: ID was asked for.")
@click.option("--reason", required=True, help="Why (recorded).")
@click.option("--on", "on", metavar="DATE", help="The day it paused or resumed (default today).")
@by_option()
@json_option
@pass_app
def clock(app: AppContext, request_id: str, state: str | None, reason: str, on: str | None,
          by: str | None, as_json: bool) -> None:
    """Pause or resume a request's clock while waiting for clarification, or stop it until
    requested ID arrives."""
    if state is None:
        raise click.UsageError("give --paused, --resumed or --awaiting-id")
    workflow = app.workflow()
    actor = by or default_operator()
    day = _day(on, "--on")
    if state == "awaiting_id":
        if day is not None:
            raise click.UsageError("--on is for --paused and --resumed")
        request = workflow.await_id(request_id, by=actor, reason=reason)
    elif state == "paused":
        request = workflow.pause(request_id, by=actor, reason=reason, on=day)
    else:
        request = workflow.resume(request_id, by=actor, reason=reason, on=day)
    _show(request, as_json)


@click.command()
@request_id_argument
@click.option("--months", type=click.IntRange(1, 2), required=True,
              help="1 or 2 more months (two in all) for a complex or numerous request.")
@click.option("--reason", required=True, help="Why the request needs longer (recorded).")
@click.option("--told", metavar="DATE", required=True,
              help="When the person was told, with the reason: within the first month.")
@by_option()
@json_option
@pass_app
def extend(app: AppContext, request_id: str, months: int, reason: str, told: str,
           by: str | None, as_json: bool) -> None:
    """Extend a request's deadline; the new deadline is shown."""
    told_on = _day(told, "--told")
    assert told_on is not None
    request = app.workflow().extend(request_id, months, by=by or default_operator(), reason=reason,
                                    told=told_on)
    _show(request, as_json)


def _show(request: Request, as_json: bool) -> None:
    today = date.today()
    if as_json:
        emit_json(listing(request, today))
    else:
        print_request(request, today)

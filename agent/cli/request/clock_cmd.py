"""`dsr request clock | extend`: pause and resume the statutory clock, extend the deadline.

Also the clock-aware rendering of a request `create`, `list` and `show` use: a request
waiting for ID has no deadline yet, a paused one says so, an overdue one stands out.
"""

from __future__ import annotations

from datetime import date

import click

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.cli.render import console
from agent.cli.request.common import (
    by_option,
    chase_id,
    clock_note,
    due_text,
    print_request,
    request_id_argument,
)
from agent.engine import default_operator
from agent.request import Request


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter("expected a date, e.g. 2026-11-02", param_hint=option) from exc


def print_table(requests: list[Request], today: date, chase_after: int | None = None) -> None:
    """One line each; a marker column makes overdue requests (and, given ``chase_after``,
    those waiting too long for ID) stand out."""
    for request in requests:
        mark = "[red]OVERDUE[/red]" if request.overdue(today) else "       "
        if chase_id(request, today, chase_after):
            mark = "[red]CHASE ID[/red]"
        note = clock_note(request, today)
        console.print(f"{mark}  [bold]{request.id}[/bold]  {request.type:<11} "
                      f"{request.status:<19} due: {due_text(request, today)}"
                      + (f"  [yellow]({note})[/yellow]" if note else ""))


def listing(request: Request, today: date, chase_after: int | None = None
            ) -> dict[str, object]:
    """A request in --json listings: its deadline as it stands today, whether overdue and
    (while it waits for ID) for how long and whether to chase."""
    due = request.due(today)
    out = {**request.public(), "overdue": request.overdue(today),
           "due_on": due.isoformat() if due else None}
    waited = request.clock.waiting_days(today) if request.clock else None
    if waited is not None:
        out["id_waiting_days"] = waited
        out["chase_id"] = chase_id(request, today, chase_after)
    return out


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

"""`dsr request create | list | show`: record a request and look at requests."""

from __future__ import annotations

from datetime import UTC, date, datetime

import click

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.cli.identifier_options import identifier_options, identifier_pairs
from agent.cli.render import console
from agent.cli.request.common import by_option, print_plan, print_request, request_id_argument
from agent.policy import REQUEST_TYPES
from agent.request import OPEN_STATUSES, STATUSES, TYPE_DESCRIPTIONS


def _received(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter("expected a date or date-time, e.g. 2026-11-02 or "
                                 "2026-11-02T09:30", param_hint="--received") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _changes(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in values:
        field, sep, value = text.partition("=")
        if not sep or not field.strip():
            raise click.BadParameter("expected FIELD=VALUE, e.g. email=new@example.com",
                                     param_hint="--set")
        out[field.strip()] = value
    return out


_CREATE_HELP = ("Record a request of TYPE for the person the identifiers describe.\n\n\b\n"
                + "\n".join(f"{t}: {d}" for t, d in TYPE_DESCRIPTIONS.items()))


@click.command(help=_CREATE_HELP)
@click.argument("request_type", metavar="TYPE", type=click.Choice(REQUEST_TYPES))
@identifier_options
@click.option("--received", metavar="DATE", help="When the request arrived (default now); "
                                                 "the deadline counts from it.")
@click.option("--set", "changes", multiple=True, metavar="FIELD=VALUE",
              help="rectify: a correction, e.g. --set email=new@example.com (repeatable).")
@by_option()
@json_option
@pass_app
def create(app: AppContext, request_type: str, email: tuple[str, ...], phone: tuple[str, ...],
           name: str | None, postcode: str | None, dob: str | None, ids: tuple[str, ...],
           received: str | None, changes: tuple[str, ...], by: str | None,
           as_json: bool) -> None:
    pairs = identifier_pairs(email, phone, name, postcode, dob, ids)
    request = app.workflow().create(request_type, pairs, received=_received(received),
                                    changes=_changes(changes), actor=by)
    if as_json:
        emit_json(request.public())
    else:
        print_request(request)
        console.print(f"\nNext: dsr request verify {request.id} --doc TYPE --doc TYPE --by NAME"
                      f"; dsr request plan {request.id}")


@click.command(name="list")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES),
              help="Only requests in this status (repeatable).")
@click.option("--open", "open_only", is_flag=True, help="Only open requests.")
@click.option("--type", "type_", type=click.Choice(REQUEST_TYPES), help="Only this type.")
@json_option
@pass_app
def list_(app: AppContext, statuses: tuple[str, ...], open_only: bool, type_: str | None,
          as_json: bool) -> None:
    """Requests by deadline, soonest first; overdue ones stand out."""
    wanted = list(statuses) or (list(OPEN_STATUSES) if open_only else [])
    requests = app.workflow().requests.list(status=wanted, type_=type_)
    today = date.today()
    if as_json:
        emit_json([{**r.public(), "overdue": r.overdue(today)} for r in requests])
        return
    if not requests:
        console.print("no requests")
    for request in requests:
        print_request(request, today)


@click.command()
@request_id_argument
@json_option
@pass_app
def show(app: AppContext, request_id: str, as_json: bool) -> None:
    """One request: status, deadline, identity check, holds, plan and history."""
    workflow = app.workflow()
    request = workflow.get(request_id)
    store = workflow.requests
    data = {**request.public(), "overdue": request.overdue(date.today()),
            "identity_documents": store.documents(request_id),
            "holds": [{k: (v.isoformat() if hasattr(v, "isoformat") else v)
                       for k, v in h.items() if k != "request_id"}
                      for h in store.holds(request_id, active=False)],
            "events": store.events(request_id)}
    plan = workflow.view(request_id).public() if request.plan_id else None
    if as_json:
        emit_json({**data, "plan": plan})
        return
    print_request(request)
    for doc in data["identity_documents"]:
        console.print(f"  ID seen: {doc['document']} by {doc['seen_by']} {doc['seen_at'][:10]}")
    for hold in data["holds"]:
        state = "released" if hold.get("released_at") else "active"
        console.print(f"  hold ({state}) on {hold['item']}: {hold['reason']}")
    if plan:
        console.print()
        print_plan(plan)
    console.print("\n[bold]History[/bold]")
    for event in data["events"]:
        change = f"{event['old'] or '-'} → {event['new']}" if event["new"] else event["event"]
        reason = f": {event['reason']}" if event["reason"] else ""
        console.print(f"  {event['at'][:19]}  {event['actor']}  {change}{reason}")

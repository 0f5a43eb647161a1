"""`dsr request create | list | show`: record a request and look at requests."""

from __future__ import annotations

import csv
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.cli.identifier_options import identifier_options, identifier_pairs
from agent.cli.render import console
from agent.cli.request.clock_cmd import listing, print_request, print_table
from agent.cli.request.common import by_option, print_plan, request_id_argument
from agent.deadlines import parse_within
from agent.policy import REQUEST_TYPES
from agent.request import OPEN_STATUSES, STATUSES, TYPE_DESCRIPTIONS, RequestError
from agent.workflow import BatchRow, sort_by_urgency

# CSV column -> identifier type, for `create --from`
BATCH_IDENTIFIERS = {"email": "email", "phone": "phone", "name": "name",
                     "postcode": "postcode", "account": "account"}
BATCH_COLUMNS = ("type", *BATCH_IDENTIFIERS, "received")


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


def read_batch(path: Path) -> list[BatchRow]:
    """The rows of a batch CSV; errors name the row (the header is row 1) and column."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return _batch_rows(csv.DictReader(handle))
    except OSError as exc:
        raise RequestError(f"--from: cannot read the file ({exc.strerror or 'error'})"
                           ) from exc
    except UnicodeDecodeError as exc:
        raise RequestError("--from: the file is not UTF-8 text") from exc
    except csv.Error as exc:
        raise RequestError(f"--from: not a readable CSV file ({exc})") from exc


def _column_name(header: str, number: int) -> str:
    """A header cell as an error may show it: a plain name, else its position (a file
    without a header row would otherwise echo a person's data)."""
    return header if re.fullmatch(r"[a-z][a-z0-9_]{0,39}", header) else f"#{number}"


def _batch_rows(reader: csv.DictReader[str]) -> list[BatchRow]:
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if "type" not in header:
        raise RequestError(f"--from: row 1 must name the columns ({', '.join(BATCH_COLUMNS)})"
                           "; no type column")
    unknown = [_column_name(h, n) for n, h in enumerate(header, 1) if h not in BATCH_COLUMNS]
    if unknown:
        raise RequestError(f"--from: row 1, unknown column(s) {', '.join(unknown)}; expected "
                           f"{', '.join(BATCH_COLUMNS)}")
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise RequestError(f"--from: row 1, column(s) {', '.join(twice)} given twice")
    reader.fieldnames = header
    rows = []
    for raw in reader:
        number = reader.line_num
        if None in raw:
            raise RequestError(f"--from: row {number} has more cells than the header")
        cells = {k: (v or "").strip() for k, v in raw.items()}
        if not any(cells.values()):
            continue  # a blank line
        received = None
        if cells.get("received"):
            try:
                received = _received(cells["received"])
            except click.BadParameter as exc:
                raise RequestError(f"row {number}, column received: expected a date, e.g. "
                                   "2026-11-02") from exc
        pairs: list[tuple[str, object]] = [(kind, cells[col]) for col, kind
                                           in BATCH_IDENTIFIERS.items() if cells.get(col)]
        rows.append(BatchRow(number, cells.get("type", "").lower(), pairs, received,
                             {kind: col for col, kind in BATCH_IDENTIFIERS.items()}))
    if not rows:
        raise RequestError("--from: the file has no rows")
    return rows


_CREATE_HELP = ("Record a request of TYPE for the person the identifiers describe.\n\n\b\n"
                + "\n".join(f"{t}: {d}" for t, d in TYPE_DESCRIPTIONS.items()))


@click.command(help=_CREATE_HELP)
@click.argument("request_type", metavar="TYPE", type=click.Choice(REQUEST_TYPES),
                required=False)
@identifier_options
@click.option("--received", metavar="DATE", help="When the request arrived (default now); "
                                                 "the deadline counts from it.")
@click.option("--awaiting-id/--id-not-asked", default=None,
              help="Whether ID was asked for (the month then counts from the day the check "
                   "completes); default: policy.toml identity_check.ask_on_receipt.")
@click.option("--from", "batch", type=click.Path(path_type=Path), metavar="FILE.csv",
              help="A batch: one request per row (columns " + ", ".join(BATCH_COLUMNS)
              + "); every row is checked first, all or nothing.")
@click.option("--set", "changes", multiple=True, metavar="FIELD=VALUE",
              help="rectify: a correction, e.g. --set email=new@example.com (repeatable).")
@by_option()
@json_option
@pass_app
def create(app: AppContext, request_type: str | None, email: tuple[str, ...],
           phone: tuple[str, ...], name: str | None, postcode: str | None, dob: str | None,
           ids: tuple[str, ...], received: str | None, awaiting_id: bool | None,
           batch: Path | None,
           changes: tuple[str, ...], by: str | None, as_json: bool) -> None:
    pairs = identifier_pairs(email, phone, name, postcode, dob, ids)
    if batch is not None:
        if request_type or pairs or received or changes or awaiting_id is not None:
            raise click.UsageError("--from takes everything from the file: no TYPE, "
                                   "identifiers, --received, --awaiting-id or --set with it")
        _create_batch(app, batch, by, as_json)
        return
    if request_type is None:
        raise click.UsageError("give the request TYPE (or --from FILE.csv)")
    request = app.workflow().create(request_type, pairs, received=_received(received),
                                    changes=_changes(changes), actor=by,
                                    awaiting_id=awaiting_id)
    if as_json:
        emit_json(request.public())
    else:
        print_request(request)
        console.print(f"\nNext: dsr request verify {request.id} --doc TYPE --doc TYPE --by NAME"
                      f"; dsr request plan {request.id}")


def _create_batch(app: AppContext, path: Path, by: str | None, as_json: bool) -> None:
    created = app.workflow().create_batch(read_batch(path), actor=by)
    if as_json:
        emit_json({"created": [r.id for r in created], "count": len(created)})
        return
    for request in created:
        print_request(request)
    console.print(f"\n{len(created)} requests recorded")


def _within(text: str | None) -> timedelta | None:
    if text is None:
        return None
    try:
        return parse_within(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--due-within") from exc


@click.command(name="list")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES),
              help="Only requests in this status (repeatable).")
@click.option("--open", "open_only", is_flag=True, help="Only open requests.")
@click.option("--type", "type_", type=click.Choice(REQUEST_TYPES), help="Only this type.")
@click.option("--due-within", "due_within", metavar="SPAN",
              help="Only open requests due within SPAN (24h, 7d, 2w) or overdue.")
@json_option
@pass_app
def list_(app: AppContext, statuses: tuple[str, ...], open_only: bool, type_: str | None,
          due_within: str | None, as_json: bool) -> None:
    """Requests by deadline, overdue first, then soonest; overdue ones stand out."""
    within = _within(due_within)
    workflow = app.workflow()
    today = date.today()
    chase = workflow.identity.chase_after_days
    if within is not None:
        requests = workflow.due_within(within)
        requests = [r for r in requests if (not statuses or r.status in statuses)
                    and (not type_ or r.type == type_)]
    else:
        wanted = list(statuses) or (list(OPEN_STATUSES) if open_only else [])
        requests = sort_by_urgency(workflow.requests.list(status=wanted, type_=type_), today)
    if as_json:
        emit_json([listing(r, today, chase) for r in requests])
        return
    if not requests:
        console.print("no requests")
    print_table(requests, today, chase)


@click.command()
@request_id_argument
@json_option
@pass_app
def show(app: AppContext, request_id: str, as_json: bool) -> None:
    """One request: status, deadline, identity check, holds, plan and history."""
    workflow = app.workflow()
    request = workflow.get(request_id)
    store = workflow.requests
    data = {**listing(request, date.today(), workflow.identity.chase_after_days),
            "identity_documents": store.documents(request_id),
            "holds": [{k: (v.isoformat() if hasattr(v, "isoformat") else v)
                       for k, v in h.items() if k != "request_id"}
                      for h in store.holds(request_id, active=False)],
            "events": store.events(request_id)}
    plan = workflow.view(request_id).public() if request.plan_id else None
    if as_json:
        emit_json({**data, "plan": plan})
        return
    print_request(request, chase_after=workflow.identity.chase_after_days)
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

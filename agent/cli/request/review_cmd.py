"""`dsr request review | decide`: the disclosure-review list of an access or portability
request that has run, and a person's decision on each item (withhold or disclose).

Lists ids, systems, tables and reasons, never the values.
"""

from __future__ import annotations

import click
from rich.markup import escape

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.cli.render import console
from agent.cli.request.common import request_id_argument


@click.command()
@request_id_argument
@json_option
@pass_app
def review(app: AppContext, request_id: str, as_json: bool) -> None:
    """List what the package would withhold or redact for review, with decisions so far."""
    items = app.workflow().review(request_id)
    if as_json:
        emit_json({"request": request_id, "items": items})
        return
    if not items:
        console.print(f"{request_id}: nothing awaits review")
        return
    for item in items:
        decision = item["decision"]
        style = {"withhold": "red", "disclose": "green"}.get(decision, "yellow")
        console.print(f"[{style}]{decision:<8}[/{style}] {escape(item['item'])}  "
                      f"[dim]({escape(str(item['system']))} / {escape(str(item['table'] or '-'))})"
                      "[/dim]")
        console.print(f"      [dim]{escape(item['why'])}[/dim]")
        note = item.get("reason") or item.get("consent")
        if note:
            console.print(f"      by {escape(item['decided_by'])}: {escape(note)}")


@click.command()
@request_id_argument
@click.argument("item")
@click.option("--withhold", "choice", flag_value="withhold",
              help="Leave the item out of the package (give --reason).")
@click.option("--disclose", "choice", flag_value="disclose",
              help="Include the item unredacted (give --consent).")
@click.option("--reason", help="Why it is withheld (recorded, listed in review.json).")
@click.option("--consent", help="How the other person consented (recorded, listed).")
@click.option("--by", "by", required=True, metavar="NAME",
              help="Who decides (recorded; required).")
@json_option
@pass_app
def decide(app: AppContext, request_id: str, item: str, choice: str | None,
           reason: str | None, consent: str | None, by: str, as_json: bool) -> None:
    """Record a decision on ITEM: --withhold --reason TEXT, or --disclose --consent TEXT."""
    note = _note(choice, reason, consent)
    made = app.workflow().decide(request_id, item, disclose=choice == "disclose", note=note,
                                 by=by)
    if as_json:
        emit_json({"request": request_id, **made.public()})
    else:
        click.echo(f"{request_id}: {made.decision} recorded by {made.by}", err=True)


def _note(choice: str | None, reason: str | None, consent: str | None) -> str:
    if choice is None:
        raise click.UsageError("give --withhold --reason TEXT or --disclose --consent TEXT")
    if choice == "withhold" and (not reason or consent):
        raise click.UsageError("--withhold takes --reason TEXT (and no --consent)")
    if choice == "disclose" and (not consent or reason):
        raise click.UsageError("--disclose takes --consent TEXT (and no --reason)")
    return str(reason if choice == "withhold" else consent)

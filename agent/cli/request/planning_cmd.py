"""`dsr request verify | plan | approve | hold`: check identity, plan, approve, hold."""

from __future__ import annotations

from datetime import UTC, date, datetime

import click

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.cli.progress import search_progress
from agent.cli.render import console
from agent.cli.request.common import (
    action_help,
    by_option,
    print_plan,
    print_request,
    request_id_argument,
)
from agent.policy import DEFAULT_DOCUMENTS, HOLD_CONDITIONS


@click.command()
@request_id_argument
@click.option("--doc", "documents", multiple=True, metavar="TYPE[:DATE]",
              help="An identity document seen (repeatable): "
                   + ", ".join(DEFAULT_DOCUMENTS) + " (the policy's list). Never a copy. "
                   "Documents that must be recent take the date on them: "
                   "utility_bill:2026-11-02.")
@click.option("--seen-on", metavar="DATE", help="When the documents were seen (default now).")
@click.option("--lesser-check", metavar="REASON",
              help="Accept fewer documents than required, with the reason (recorded).")
@by_option(required=True)
@json_option
@pass_app
def verify(app: AppContext, request_id: str, documents: tuple[str, ...], seen_on: str | None,
           lesser_check: str | None, by: str, as_json: bool) -> None:
    """Record the identity check: which documents were seen, by whom, when."""
    if not documents and not lesser_check:
        raise click.UsageError("give --doc TYPE (repeatable) or --lesser-check REASON")
    seen = None
    if seen_on:
        try:
            seen = datetime.fromisoformat(seen_on)
        except ValueError as exc:
            raise click.BadParameter("expected a date, e.g. 2026-11-02",
                                     param_hint="--seen-on") from exc
        seen = seen if seen.tzinfo else seen.replace(tzinfo=UTC)
    names, issued = _documents(documents)
    workflow = app.workflow()
    request = workflow.verify(request_id, names, by=by, seen_at=seen,
                              lesser_reason=lesser_check, issued=issued)
    if as_json:
        emit_json({**request.public(),
                   "identity_documents": workflow.requests.documents(request_id)})
    else:
        print_request(request)


def _documents(given: tuple[str, ...]) -> tuple[list[str], dict[str, date]]:
    names: list[str] = []
    issued: dict[str, date] = {}
    for text in given:
        name, _, when = text.partition(":")
        names.append(name.strip())
        if when:
            try:
                issued[name.strip()] = date.fromisoformat(when.strip())
            except ValueError as exc:
                raise click.BadParameter(f"expected TYPE or TYPE:YYYY-MM-DD, got {text!r}",
                                         param_hint="--doc") from exc
    return names, issued


@click.command(help="Search every system for the person and list each finding with its "
                    "action and why. Actions: " + action_help())
@request_id_argument
@by_option()
@json_option
@pass_app
def plan(app: AppContext, request_id: str, by: str | None, as_json: bool) -> None:
    with search_progress() as progress:
        view = app.workflow(progress).plan(request_id, actor=by)
    if as_json:
        emit_json(view.public())
    else:
        print_plan(view.public())
        console.print(f"\nNext: dsr request approve {request_id} --by NAME")


@click.command()
@request_id_argument
@by_option(required=True)
@click.option("--include", multiple=True, metavar="FINDING_ID",
              help="Include a weak finding that was left out (repeatable).")
@click.option("--include-weak", is_flag=True, help="Include every weak finding.")
@json_option
@pass_app
def approve(app: AppContext, request_id: str, by: str, include: tuple[str, ...],
            include_weak: bool, as_json: bool) -> None:
    """Approve the current plan (weak findings stay out unless included; each inclusion is
    recorded with the approver)."""
    view = app.workflow().approve(request_id, by=by, include=include,
                                  include_weak=include_weak)
    if as_json:
        emit_json(view.public())
    else:
        print_plan(view.public())
        console.print(f"\napproved by {by}. Next: dsr request run {request_id}")


@click.command()
@request_id_argument
@click.argument("items", nargs=-1, metavar="[ITEM]...")
@click.option("--all", "all_items", is_flag=True, help="Hold every item of the request.")
@click.option("--condition", type=click.Choice(HOLD_CONDITIONS),
              help="What the hold is for; with --all it keeps only items whose retention "
                   "rule lists the condition in hold_on.")
@click.option("--reason", required=True, help="Why (recorded).")
@click.option("--release", is_flag=True, help="Release the hold(s) instead.")
@by_option()
@json_option
@pass_app
def hold(app: AppContext, request_id: str, items: tuple[str, ...], all_items: bool,
         condition: str | None, reason: str, release: bool, by: str | None,
         as_json: bool) -> None:
    """Hold items (an open complaint, a dispute): held items are retained until released."""
    if bool(items) == all_items:
        raise click.UsageError("give ITEM... or --all")
    from agent.engine import default_operator

    workflow = app.workflow()
    request = workflow.hold(request_id, list(items), by=by or default_operator(),
                            reason=reason, condition=condition, release=release)
    holds = workflow.requests.holds(request_id)
    if as_json:
        emit_json({**request.public(), "active_holds": len(holds)})
    else:
        print_request(request)
        console.print(f"  {len(holds)} active hold(s)"
                      + ("; plan again to act on released items" if release else ""))

"""`dsr request run | signoff | reapply | refuse | cancel`: act, sign off, close."""

from __future__ import annotations

from pathlib import Path

import click

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.cli.identifier_options import identifier_options, identifier_pairs
from agent.cli.progress import search_progress
from agent.cli.render import console
from agent.cli.request.common import by_option, print_request, request_id_argument
from agent.engine import default_operator
from agent.workflow import RunResult


def _report(result: RunResult, as_json: bool) -> int:
    if as_json:
        emit_json({**result.request.public(), "run": result.summary,
                   "exit_code": result.exit_code})
        return result.exit_code
    print_request(result.request)
    summary = result.summary
    for system in summary["systems"]:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(system["outcomes"].items()))
        state = "[green]ok[/green]" if system["status"] == "ok" else "[red]failed[/red]"
        error = f"  {system['error']}" if system.get("error") else ""
        console.print(f"  {system['name']:<16} {state}  {counts or 'nothing to do'}{error}")
    verification = summary["verification"]
    if verification["method"] == "search":
        residual = sum(verification["residual"].values())
        console.print(f"  verified by a fresh search: {residual} residual match(es)"
                      + (f"; not verified: {', '.join(verification['failed_systems'])}"
                         if verification["failed_systems"] else ""))
    if summary.get("suppression_entries_added"):
        console.print(f"  suppression list: {summary['suppression_entries_added']} entry(ies) "
                      "added (keyed digests)")
    if summary.get("export"):
        console.print(f"  export written to {summary['export']}")
    for item in summary.get("signoffs_pending", []):
        console.print(f"  [yellow]waiting for sign-off:[/yellow] {item}")
    return result.exit_code


@click.command()
@request_id_argument
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="access/portability: where to write the JSON export "
                   "(default: [agent] exports folder / ID.json).")
@by_option()
@json_option
@pass_app
def run(app: AppContext, request_id: str, out: Path | None, by: str | None,
        as_json: bool) -> int:
    """Carry out the approved plan through the journal, then verify by searching again.

    Searches first: if anything new appeared, a new plan is made and nothing runs. Exit 3
    if a system failed, 4 if verification found residual data or could not run.
    """
    with search_progress() as progress:
        result = app.workflow(progress).run(request_id, actor=by or default_operator(),
                                            out=out)
    return _report(result, as_json)


@click.command()
@request_id_argument
@click.argument("item", metavar="ITEM")
@by_option(required=True)
@click.option("--note", help="What was done, or with --failed why it could not be (recorded).")
@click.option("--failed", is_flag=True,
              help="The item could not be done: the request becomes partially_completed.")
@json_option
@pass_app
def signoff(app: AppContext, request_id: str, item: str, by: str, note: str | None,
            failed: bool, as_json: bool) -> None:
    """Sign off a manual or notify item once a person has done it, or could not (--failed).

    Signing off an item again replaces the earlier sign-off: a failed item done later
    completes the request when nothing else is outstanding."""
    request = app.workflow().signoff(request_id, item, by=by, note=note, failed=failed)
    if as_json:
        emit_json(request.public())
    else:
        print_request(request)


@click.command()
@request_id_argument
@identifier_options
@by_option()
@json_option
@pass_app
def reapply(app: AppContext, request_id: str, email: tuple[str, ...], phone: tuple[str, ...],
            name: str | None, postcode: str | None, dob: str | None, ids: tuple[str, ...],
            by: str | None, as_json: bool) -> int:
    """Re-run a completed erasure after a backup restore. Give the identifiers again: they
    are checked against the request's stored digests."""
    pairs = identifier_pairs(email, phone, name, postcode, dob, ids)
    with search_progress() as progress:
        result = app.workflow(progress).reapply(request_id, pairs,
                                                actor=by or default_operator())
    return _report(result, as_json)


@click.command()
@request_id_argument
@click.option("--reason", required=True, help="Why (recorded, shown in the receipt).")
@click.option("--partial", is_flag=True, help="Refuse part of the request; the rest goes on.")
@by_option()
@json_option
@pass_app
def refuse(app: AppContext, request_id: str, reason: str, partial: bool, by: str | None,
           as_json: bool) -> None:
    """Refuse the request (or part of it) with the reason and the right to complain."""
    request = app.workflow().refuse(request_id, by=by or default_operator(), reason=reason,
                                    partial=partial)
    if as_json:
        emit_json(request.public())
    else:
        print_request(request)
        console.print(f"  {request.refusal['right_to_complain'] if request.refusal else ''}")


@click.command()
@request_id_argument
@click.option("--reason", required=True, help="Why (recorded).")
@by_option()
@json_option
@pass_app
def cancel(app: AppContext, request_id: str, reason: str, by: str | None,
           as_json: bool) -> None:
    """Cancel the request (withdrawn by the person, a duplicate)."""
    request = app.workflow().cancel(request_id, by=by or default_operator(), reason=reason)
    if as_json:
        emit_json(request.public())
    else:
        print_request(request)

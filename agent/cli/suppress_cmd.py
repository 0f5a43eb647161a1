"""``dsr suppress add|check|export|screen``: the do-not-contact list by hand and in bulk.

Values typed here are normalised and digested like a request's identifiers, so they match
the entries erasure and objection requests add; no command prints a value back.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.errors import EXIT_OK
from agent.screening import AtomicText, ColumnSpec, ScreenReport, screen_csv
from agent.suppression import NAME_POSTCODE, StoreSuppressionList

F = TypeVar("F", bound=Callable[..., Any])

# A label, not free text: it is exported, so it must not be able to carry an address.
_REASON = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,39}$")

_VALUE_OPTIONS = (
    click.option("--email", multiple=True, metavar="E", help="E-mail address (repeatable)."),
    click.option("--phone", multiple=True, metavar="P",
                 help="Phone number, any UK writing (repeatable)."),
    click.option("--name", metavar="N", help="Name; with --postcode, one name+postcode entry."),
    click.option("--postcode", metavar="PC", help="UK postcode; goes with --name."),
)


def _value_options(func: F) -> F:
    for option in reversed(_VALUE_OPTIONS):
        func = option(func)
    return func


def _pairs(email: tuple[str, ...], phone: tuple[str, ...], name: str | None,
           postcode: str | None) -> list[tuple[str, str]]:
    if (name is None) != (postcode is None):
        raise click.UsageError("--name and --postcode go together")
    pairs = [("email", e) for e in email] + [("phone", p) for p in phone]
    if name is not None and postcode is not None:
        pairs.append((NAME_POSTCODE, f"{name}|{postcode}"))
    if not pairs:
        raise click.UsageError("give at least one of --email, --phone, --name with --postcode")
    return pairs


def _suppression(app: AppContext) -> StoreSuppressionList:
    return StoreSuppressionList(app.engine().store)


@click.group()
def suppress() -> None:
    """The do-not-contact list: keyed digests of e-mails, phones and names+postcodes."""


@suppress.command("add")
@_value_options
@click.option("--reason", default="manual", show_default=True,
              help="Short label recorded with the entries (letters, digits, _ . : -).")
@click.option("--request", "request_id", metavar="ID", help="Request the entries belong to.")
@json_option
@pass_app
def add(app: AppContext, email: tuple[str, ...], phone: tuple[str, ...], name: str | None,
        postcode: str | None, reason: str, request_id: str | None, as_json: bool) -> int:
    """Add a person's contact details to the list (only their digests are stored)."""
    pairs = _pairs(email, phone, name, postcode)
    if not _REASON.match(reason):
        raise click.BadParameter("1-40 letters, digits and _ . : - (a label, not a note)",
                                 param_hint="--reason")
    added = _suppression(app).add_values(pairs, reason=reason, request_id=request_id)
    summary = {"added": added, "already_listed": len(pairs) - added,
               "types": sorted({t for t, _ in pairs})}
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"added {added} entry(ies); {summary['already_listed']} already listed")
    return EXIT_OK


@suppress.command("check")
@_value_options
@json_option
@pass_app
def check(app: AppContext, email: tuple[str, ...], phone: tuple[str, ...], name: str | None,
          postcode: str | None, as_json: bool) -> int:
    """Is this person on the list? Prints listed true/false per value; exit 0 either way
    (a bad value is exit 1)."""
    pairs = _pairs(email, phone, name, postcode)
    suppression = _suppression(app)
    checked = []
    for number, pair in enumerate(pairs, start=1):
        found = suppression.check([pair])
        entry = found[0].public() if found else None
        checked.append({"n": number, "type": pair[0], "listed": entry is not None,
                        "entry": entry})
    listed = any(c["listed"] for c in checked)
    if as_json:
        emit_json({"listed": listed, "checked": checked})
        return EXIT_OK
    for item in checked:
        entry = item["entry"]
        state = (f"listed ({entry['reason']}, {(entry['added_at'] or '')[:10]})" if entry
                 else "not listed")
        click.echo(f"{item['type']} #{item['n']}: {state}")
    click.echo(f"listed: {'true' if listed else 'false'}")
    return EXIT_OK


@suppress.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here (atomically) instead of stdout.")
@json_option
@pass_app
def export(app: AppContext, out: Path | None, as_json: bool) -> int:
    """Every entry as JSON lines: digest, type, reason, date, key id — never a value."""
    entries = _suppression(app).export()
    if out is None:
        for entry in entries:
            sys.stdout.write(json.dumps(entry) + "\n")
        return EXIT_OK
    target = AtomicText(out, "utf-8", 0o600)
    count = 0
    try:
        for entry in entries:
            target.handle.write(json.dumps(entry) + "\n")
            count += 1
        target.commit()
    except BaseException:
        target.discard()
        raise
    if as_json:
        emit_json({"written": str(out), "entries": count})
    else:
        click.echo(f"wrote {count} entry(ies) to {out}", err=True)
    return EXIT_OK


@suppress.command("screen")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The clean CSV (written atomically, same format as the input).")
@click.option("--removed", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the dropped rows here (mode 0600).")
@click.option("--email-col", multiple=True, metavar="C",
              help="E-mail column, by header or 1-based number (repeatable).")
@click.option("--phone-col", multiple=True, metavar="C", help="Phone column (repeatable).")
@click.option("--name-col", metavar="C", help="Full-name column.")
@click.option("--first-name-col", metavar="C", help="First-name column.")
@click.option("--last-name-col", metavar="C", help="Last-name column.")
@click.option("--postcode-col", metavar="C", help="Postcode column.")
@click.option("--encoding", type=click.Choice(["utf-8", "utf-8-sig", "cp1252", "latin-1"],
                                             case_sensitive=False),
              help="The input's encoding (default: detected; the output keeps it).")
@json_option
@pass_app
def screen(app: AppContext, source: Path, out: Path, removed: Path | None,
           email_col: tuple[str, ...], phone_col: tuple[str, ...], name_col: str | None,
           first_name_col: str | None, last_name_col: str | None, postcode_col: str | None,
           encoding: str | None, as_json: bool) -> int:
    """Drop the rows of a bought-in CSV list whose people are on the list.

    A row goes when any of its e-mails or phones is listed, or its name+postcode is listed
    and it has no e-mail or phone of its own. Columns are guessed from the headers unless
    given; counts go to stderr (stdout with --json).
    """
    if name_col and (first_name_col or last_name_col):
        raise click.UsageError("--name-col or --first-name-col/--last-name-col, not both")
    spec = ColumnSpec(email=email_col, phone=phone_col, name=name_col,
                      first_name=first_name_col, last_name=last_name_col,
                      postcode=postcode_col)
    report = screen_csv(source, out, _suppression(app), spec=spec, removed=removed,
                        encoding=encoding)
    if as_json:
        emit_json({**report.public(), "out": str(out),
                   "removed": str(removed) if removed else None})
    else:
        _print_report(report, out)
    return EXIT_OK


def _print_report(report: ScreenReport, out: Path) -> None:
    by = ", ".join(f"{k.replace('_', '+')} {v}" for k, v in report.dropped_by.items() if v)
    click.echo(f"screened {report.rows} row(s): kept {report.kept}, dropped {report.dropped}"
               + (f" ({by})" if by else "") + f" -> {out}", err=True)
    bad = ", ".join(f"{k.replace('_', '+')} {v}" for k, v in report.unparseable.items() if v)
    if bad:
        click.echo(f"unparseable values (rows kept unless another value matched): {bad}",
                   err=True)
    if report.without_contact:
        click.echo(f"{report.without_contact} row(s) had no usable contact detail (kept)",
                   err=True)
    used = "; ".join(f"{k}: {', '.join(v)}" for k, v in report.columns.items() if v)
    click.echo(f"columns used: {used}", err=True)


"""``dsr search``: one subject from options, or many from a JSON-lines file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.cli.identifier_options import identifier_options, identifier_pairs
from agent.cli.progress import search_progress
from agent.cli.render import print_result
from agent.errors import EXIT_OK, EXIT_PARTIAL, DsrError, IdentifierError
from agent.models import Subject
from agent.subjects import subject_from_mapping, subject_from_pairs

BATCH_SIZE = 1000  # subjects searched together in one pass per system


@click.command()
@identifier_options
@click.option("--ref", default="subject", show_default=True,
              help="Reference for a single subject (e.g. the ticket number).")
@click.option("--subjects", "subjects_file", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON lines: one subject per line, e.g. "
                   '{"ref": "S1", "email": ["a@example.com"], "name": "A B"}.')
@click.option("--system", "systems", multiple=True, metavar="S",
              help="Search only this system (repeatable).")
@click.option("--reason", help="Why this search is run (recorded in the audit trail).")
@click.option("--operator", envvar="DSR_OPERATOR", help="Who runs it (default: login name).")
@json_option
@pass_app
def search(app: AppContext, email: tuple[str, ...], phone: tuple[str, ...], name: str | None,
           postcode: str | None, dob: str | None, ids: tuple[str, ...], ref: str,
           subjects_file: Path | None, systems: tuple[str, ...], reason: str | None,
           operator: str | None, as_json: bool) -> int:
    """Find every record of one person (or many) in every configured system.

    Prints findings with the chain that led to each; exit code 3 if any system failed.
    """
    given = email or phone or name or postcode or dob or ids
    if subjects_file and given:
        raise click.UsageError("give identifiers as options or --subjects FILE, not both")
    if subjects_file:
        subjects = read_subjects_file(subjects_file)
    else:
        pairs = identifier_pairs(email, phone, name, postcode, dob, ids)
        subjects = [subject_from_pairs(ref, pairs)]

    config = app.config()
    for name_ in systems:
        config.system(name_)  # unknown names fail before anything is searched
    partial = False
    with search_progress() as progress:
        engine = app.engine(progress=progress)
        for start in range(0, len(subjects), BATCH_SIZE):
            chunk = subjects[start:start + BATCH_SIZE]
            results = engine.search(chunk, operator=operator, reason=reason,
                                    systems=list(systems) or None)
            for result in results:
                partial = partial or result.failed
                if as_json:
                    payload = result.public()
                    if subjects_file:
                        payload = {"ref": result.subject.ref, **payload}
                    emit_json(payload)
                else:
                    print_result(result)
    return EXIT_PARTIAL if partial else EXIT_OK


def read_subjects_file(path: Path) -> list[Subject]:
    """Validate the whole file before searching anything: a bad line names itself."""
    subjects: list[Subject] = []
    refs: set[str] = set()
    errors: list[str] = []
    for number, line in _lines(path):
        try:
            data = json.loads(line)
            subject = subject_from_mapping(data, default_ref=f"line-{number}")
        except json.JSONDecodeError as exc:
            errors.append(f"line {number}: not valid JSON ({exc.msg})")
            continue
        except IdentifierError as exc:
            errors.append(f"line {number}: {exc}")
            continue
        if subject.ref in refs:
            errors.append(f"line {number}: duplicate ref {subject.ref!r}")
            continue
        refs.add(subject.ref)
        subjects.append(subject)
    if errors:
        shown = "; ".join(errors[:10]) + (f"; and {len(errors) - 10} more" if len(errors) > 10
                                          else "")
        raise DsrError(f"{path}: {len(errors)} invalid subject line(s), nothing searched: {shown}")
    if not subjects:
        raise DsrError(f"{path}: no subjects in the file")
    return subjects


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line
    except FileNotFoundError as exc:
        raise DsrError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise DsrError(f"{path}: not UTF-8 text") from exc
    except OSError as exc:
        raise DsrError(f"{path}: cannot read ({exc.strerror})") from exc

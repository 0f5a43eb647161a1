"""Findings from one file's hits: one per subject, the file as the locator.

The engine attributes findings with the core's rules; a file holds many records, though,
so the rows are sorted out here first, the same way the core sorts out records:

- rows matched by a strong identifier (e-mail, phone, ids) are the subject's;
- without one, rows matched only by weak ones (a name) stay, weak, unless they contradict
  the subject (a different e-mail, a differently named holder): a same-name row of
  someone else is a look-alike and its row is not reported;
- a file whose every matching row is a look-alike is still reported to the engine with that
  row's evidence, so the engine drops it and counts it as a look-alike.

Prose (letters, e-mails, PDFs) gives only the identifiers it mentions: free text never
supplies identity values, so it never expands a search, and a name alone stays weak.
"""

from __future__ import annotations

from agent import attribution
from agent.identifiers import TYPES
from agent.models import Finding, Subject
from connectors.files.scan import FileHits, RowHit


def container_of(path: str) -> str:
    """A file's top-level folder ("" for a file at the root): what policy mappings name."""
    return path.split("/", 1)[0] if "/" in path else ""


def file_findings(system: str, hits: FileHits, subjects: dict[str, Subject]) -> list[Finding]:
    out = []
    for ref in sorted(set(hits.prose) | set(hits.rows)):
        subject = subjects.get(ref)
        if subject is None:
            continue
        finding = _finding(system, hits, subject)
        if finding is not None:
            out.append(finding)
    return out


def _finding(system: str, hits: FileHits, subject: Subject) -> Finding | None:
    rows = hits.rows.get(subject.ref, [])
    prose = hits.prose.get(subject.ref, set())
    strong = [r for r in rows if _strong(subject, r.ids)]
    chosen = strong or [r for r in rows if not contradicts(subject, r)]
    evidence = chosen
    if not chosen and not prose:
        evidence = rows[:1]  # only look-alikes: let the engine drop and count it
    finding = Finding(system=system, kind="file", locator=hits.path, subject=subject.ref,
                      container=container_of(hits.path),
                      categories=sorted(hits.categories.get(subject.ref, set())))
    finding.internal_matched_ids = set(prose)
    for row in evidence:
        finding.internal_matched_ids |= row.ids
        for kind, values in row.values.items():
            finding.internal_values.setdefault(kind, set()).update(values)
        finding.internal_holder = finding.internal_holder or row.holder
    if hits.tabular:
        finding.rows = sorted({r.number for r in evidence})
    return finding if finding.internal_matched_ids else None


def _strong(subject: Subject, ids: set[str]) -> bool:
    for ident_id in ids:
        ident = subject.get(ident_id)
        if ident is not None and TYPES[ident.type].strong:
            return True
    return False


def contradicts(subject: Subject, row: RowHit) -> bool:
    """The row carries a strong identifier of a type the subject has, but not theirs, or
    names someone the subject's name cannot be (the core's rule, on one row)."""
    return attribution.contradicts(subject, row.values, row.holder)

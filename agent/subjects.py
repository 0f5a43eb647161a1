"""Build a Subject from what an operator or a request workflow gives us."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from agent.errors import IdentifierError
from agent.identifiers import normalise, resolve_type
from agent.models import Identifier, Subject

# Keys of a --subjects JSONL line that are not identifier types.
_META_KEYS = {"ref"}
# ``TYPE@SYSTEM.TABLE``: a record id that only means something in one table.
_SCOPE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}\.[A-Za-z0-9_][A-Za-z0-9_.$-]{0,127}$")


def split_scope(kind: str) -> tuple[str, str | None]:
    """``account@crm.customers`` -> ("account", "crm.customers"); no scope -> (kind, None)."""
    name, at, scope = kind.partition("@")
    if not at:
        return kind, None
    scope = scope.strip()
    if not _SCOPE.match(scope):
        raise IdentifierError(name.strip() or "identifier",
                              "a scope is SYSTEM.TABLE, e.g. account@crm.customers=CAN-001234")
    return name, scope


def add_identifier(subject: Subject, kind: str, raw: object, *, origin: str = "request",
                   round_: int = 0, scope: str | None = None) -> Identifier | None:
    """Normalise and add; returns the new Identifier, or None if the subject already has it.

    ``kind`` may carry a scope (``account@crm.customers``) instead of the ``scope`` argument.
    """
    if scope is None:
        kind, scope = split_scope(kind)
    itype = resolve_type(kind)
    value = normalise(itype.name, raw)
    for existing in subject.identifiers:
        if existing.type == itype.name and existing.value == value and existing.scope == scope:
            return None
    count = sum(1 for i in subject.identifiers if i.type == itype.name) + 1
    ident = Identifier(id=f"{itype.name}#{count}", type=itype.name, value=value, origin=origin,
                       round=round_, scope=scope)
    subject.identifiers.append(ident)
    return ident


def subject_from_pairs(ref: str, pairs: Iterable[tuple[str, object]]) -> Subject:
    subject = Subject(ref=ref)
    for kind, raw in pairs:
        add_identifier(subject, kind, raw)
    if not subject.identifiers:
        raise IdentifierError("subject", "give at least one identifier (--email, --phone, ...)")
    return subject


def parse_id_option(text: str) -> tuple[str, str]:
    """``TYPE=VALUE`` from ``--id``; the scope form is ``TYPE@SYSTEM.TABLE=VALUE``.

    Returns the canonical type name (aliases resolved, ``@scope`` kept) and the raw value;
    an unknown type fails here, listing the known ones.
    """
    if "=" not in text:
        raise IdentifierError("--id", "expected TYPE=VALUE, e.g. account=CAN-001234")
    kind, _, value = text.partition("=")
    name, scope = split_scope(kind.strip())
    canonical = resolve_type(name).name
    return (f"{canonical}@{scope}" if scope else canonical), value


def subject_from_mapping(data: Mapping[str, Any], *, default_ref: str) -> Subject:
    """One line of a --subjects file: ``{"ref": "S1", "email": [...], "name": "..."}``."""
    if not isinstance(data, Mapping):
        raise IdentifierError("subject", "each line must be a JSON object")
    ref = str(data.get("ref") or default_ref)
    pairs: list[tuple[str, object]] = []
    for key, value in data.items():
        if key in _META_KEYS:
            continue
        if key == "id" and isinstance(value, Mapping):
            pairs += [(k, v) for k, vs in value.items()
                      for v in (vs if isinstance(vs, list) else [vs]) if v is not None]
            continue
        values = value if isinstance(value, list) else [value]
        # null means "not known" in the exports request workflows send: skip it
        pairs += [(key, v) for v in values if v is not None]
    return subject_from_pairs(ref, pairs)

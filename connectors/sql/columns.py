"""Which columns hold identifiers: from their names and a sample of their values.

The detectors (``register_detectors`` plugins) judge names and values; this module adds
what only a database knows: the column's type, its keys, and that a number column can
hold a phone (447700900123) or an account number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa

from agent.detectors import Detector
from connectors.sql.options import BANK_ROLES, NAME_ROLES
from connectors.sql.values import as_text

ColumnKind = Literal["str", "text", "int", "date", "other"]

_STR_KINDS = frozenset({"str", "text"})
_ID_KINDS = _STR_KINDS | {"int"}
# The column kinds each identity role may be stored in.
ROLE_KINDS: dict[str, frozenset[str]] = {
    "email": _STR_KINDS, "postcode": _STR_KINDS, "ni_number": _STR_KINDS,
    "bank_account": _STR_KINDS, "first_name": _STR_KINDS, "last_name": _STR_KINDS,
    "full_name": _STR_KINDS, "name": _STR_KINDS,
    "phone": _ID_KINDS, "account": _ID_KINDS, "customer_id": _ID_KINDS,
    "contact_id": _ID_KINDS, "cookie_id": _ID_KINDS, "device_id": _ID_KINDS,
    "company_number": _ID_KINDS, "sort_code": _ID_KINDS, "bank_account_number": _ID_KINDS,
    "dob": _STR_KINDS | {"date"},
}

# Shares of sampled values that must look right: a name-matched column only has to not be
# plainly something else; a column judged on its values alone has to be convincing.
NAMED_SHARE = 0.3
VALUES_SHARE = 0.8
_MIN_VALUES = 2

_FREE_TEXT_NAME = re.compile(
    r"(^|_)(notes?|comments?|remarks?|body|description|desc|details|message|messages|"
    r"narrative|memo|text|summary|content|transcript|free_?text|correspondence|"
    r"observations?|feedback)(_|\d|$)")
_PROSE_LENGTH = 30


def column_kind(column: sa.Column[Any]) -> ColumnKind:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return "other"
    if isinstance(kind, sa.Integer):
        return "int"
    if isinstance(kind, sa.Numeric):
        scale = getattr(kind, "scale", None)
        return "int" if scale == 0 else "other"
    if isinstance(kind, sa.Date | sa.DateTime):
        return "date"
    if isinstance(kind, sa.Text | sa.UnicodeText):
        return "text"
    if isinstance(kind, sa.String | sa.Enum):
        length = getattr(kind, "length", None)
        return "text" if length is None or length > 1000 else "str"
    if isinstance(kind, sa.types.NullType):
        return "str"  # SQLite columns declared without a type
    return "other"


def key_from_text(column: sa.Column[Any], text: str) -> Any:
    """A key value read back from a locator, typed for its column (None: it cannot be)."""
    kind = column_kind(column)
    try:
        if kind == "int":
            return int(text)
        if kind == "date":
            if isinstance(column.type, sa.DateTime):
                return datetime.fromisoformat(text)
            return date.fromisoformat(text)
    except ValueError:
        return None
    return text


def detector_role(detector: Detector) -> str | None:
    """The identity role of a column a detector recognises."""
    if detector.name in NAME_ROLES or detector.name in BANK_ROLES:
        return detector.name
    if detector.identifier_type == "name":
        return "full_name"
    return detector.identifier_type


def _accepts(detector: Detector, text: str, column: str | None) -> bool:
    """The detector's verdict on one value; with the column's name when the name matched
    (some shapes count only in a column named for them: bare digits in ``account_no``)."""
    try:
        if column is None:
            return bool(detector.matches(text))
        try:
            return bool(detector.matches(text, column))  # type: ignore[call-arg]
        except TypeError:  # a plugin detector written against the one-argument form
            return bool(detector.matches(text))
    except Exception:  # a plugin's bug must not stop the search: no match
        return False


def share_accepted(detector: Detector, values: Sequence[str], *, column: str | None,
                   needed: float) -> float:
    """Share of ``values`` the detector accepts; stops early once ``needed`` is out of reach."""
    total = len(values)
    if not total:
        return 0.0
    hits = misses = 0
    allowed_misses = total - needed * total
    for text in values:
        if _accepts(detector, text, column):
            hits += 1
        else:
            misses += 1
            if misses > allowed_misses:
                return hits / total
    return hits / total


def infer_roles(table: sa.Table, samples: dict[str, list[Any]], detectors: Sequence[Detector],
                *, skip: set[str]) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """column -> (role, "name" | "values", the detector's data groups) for columns that
    hold identity data."""
    out: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for column in table.columns:
        if column.name in skip:
            continue
        kind = column_kind(column)
        if kind == "other":
            continue
        texts = [t for t in (as_text(v) for v in samples.get(column.name, [])) if t]
        best: tuple[int, float, int, str, str, tuple[str, ...]] | None = None
        for order, detector in enumerate(detectors):
            role = detector_role(detector)
            if role is None or kind not in ROLE_KINDS.get(role, frozenset()):
                continue
            if detector.matches_column_name(column.name):
                share = share_accepted(detector, texts, column=column.name,
                                       needed=NAMED_SHARE)
                if texts and share < NAMED_SHARE:
                    continue  # named like a phone, holds something else ("phone_type")
                candidate = (1, share, -order, role, "name", tuple(detector.categories))
            elif (getattr(detector, "by_value", True) and len(texts) >= _MIN_VALUES
                  and kind != "date" and (kind != "int" or role == "phone")):
                share = share_accepted(detector, texts, column=None, needed=VALUES_SHARE)
                if share < VALUES_SHARE:
                    continue
                candidate = (0, share, -order, role, "values", tuple(detector.categories))
            else:
                continue
            if best is None or candidate[:3] > best[:3]:
                best = candidate
        if best:
            out[column.name] = (best[3], best[4], best[5])
    return out


def is_free_text(column: sa.Column[Any], samples: list[Any]) -> bool:
    """Notes, comments, bodies: prose a person's identifiers may be written into."""
    kind = column_kind(column)
    if kind not in _STR_KINDS:
        return False
    if _FREE_TEXT_NAME.search(column.name.lower()):
        return True
    if kind != "text":
        return False
    texts = [v for v in samples if isinstance(v, str) and v.strip()]
    if not texts:
        return False
    long_enough = sum(len(t) for t in texts) / len(texts) >= _PROSE_LENGTH
    spaced = sum(1 for t in texts if " " in t.strip()) >= len(texts) / 2
    return long_enough and spaced

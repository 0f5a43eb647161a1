"""Database values as identifiers, locators and JSON: one place for the conversions."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from agent.identifiers import try_normalise
from agent.textscan import ID_TYPES, id_key

_BUSINESS_NAME = re.compile(
    r"&|\b(ltd|limited|plc|llp|llc|inc|corp|company|group|holdings|services|solutions|"
    r"trading|enterprises|associates|partners|consulting|consultants|sons|t/a)\b", re.I)


def as_text(value: Any) -> str | None:
    """A stored value as the text an identifier is read from (None: cannot be one)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return None


def normalise_value(kind: str, value: Any) -> str | None:
    """The normalised identifier of type ``kind`` a stored value holds, or None."""
    text = as_text(value)
    if text is None:
        return None
    return _normalised(kind, text)


@lru_cache(maxsize=65_536)
def _normalised(kind: str, text: str) -> str | None:
    # Rows repeat values (a company's switchboard on every contact): parse each once.
    return try_normalise(kind, text)


def match_key(kind: str, normalised: str) -> str:
    """How two normalised values of ``kind`` are compared: record ids loosely (separators,
    case and an integer column's lost leading zeros do not matter), the rest exactly."""
    return id_key(normalised) if kind in ID_TYPES else normalised


def person_name(*parts: Any) -> str | None:
    """A person's normalised name from name columns; None for empty or a business name."""
    texts = tuple(t for t in (as_text(p) for p in parts) if t)
    return _person_name(texts) if texts else None


@lru_cache(maxsize=65_536)
def _person_name(texts: tuple[str, ...]) -> str | None:
    joined = " ".join(texts)
    if _BUSINESS_NAME.search(joined):
        return None
    return try_normalise("name", joined)


def key_text(value: Any) -> str:
    """One key value as it appears in a locator."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    return str(value)


def key_lookup(value: Any) -> str | None:
    """A key value for matching a foreign key to the key it references in Python: the same
    value read from columns of different types (1 and '1') compares equal."""
    if value is None:
        return None
    return key_text(value).strip().casefold()


def json_safe(value: Any) -> Any:
    """A value ``json.dumps`` accepts without losing what it was."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) \
            else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    return str(value)


def row_hash(row: dict[str, Any]) -> str:
    """sha256 of the whole row: the locator of a row in a table without any key."""
    canonical = json.dumps({k: json_safe(v) for k, v in sorted(row.items())},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

"""Checks shared by connectors' option parsers: numbers in a range, lists of text, and the
extraction limits of connectors that read documents. Errors come from the parser's own
``error(message, *key_parts)`` so they name the system and the key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from agent.errors import ConfigError
from agent.extractors import ExtractLimits

# extraction = { ... } keys and their allowed ranges
EXTRACTION_LIMITS = {
    "max_depth": (0, 32),
    "max_members": (1, 10_000_000),
    "max_expanded_bytes": (1, 1 << 50),
    "max_ratio": (1, 100_000),
    "max_text_chars": (1, 1 << 40),
}
EXTRACTION_HELP = ("limits on archives and text: { max_depth, max_members, "
                   "max_expanded_bytes, max_ratio, max_text_chars }")


class Errors(Protocol):
    def error(self, message: str, *parts: str) -> ConfigError: ...


def number(opts: Errors, value: Any, low: float, high: float, *path: str,
           whole: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and whole:
        ok = float(value).is_integer()
    if not ok or not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        raise opts.error(f"must be {kind} from {low:g} to {high:g}", *path)
    return float(value)


def text_list(opts: Errors, value: Any, *path: str,
              what: str = "a glob pattern or a list of them") -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise opts.error(f"must be {what}", *path)
    return [v.strip() for v in value]


def extraction_limits(opts: Errors, value: Any, max_seconds: float) -> ExtractLimits:
    """The ``extraction`` table (every key optional); ``max_seconds`` is the per-file
    timeout the connector already has."""
    if not isinstance(value, Mapping):
        raise opts.error("must be a table: extraction = { max_depth = 4, ... }", "extraction")
    unknown = sorted(set(value) - set(EXTRACTION_LIMITS))
    if unknown:
        raise opts.error(f"unknown limit(s) {unknown}; known: {sorted(EXTRACTION_LIMITS)}",
                         "extraction", unknown[0])
    limits: dict[str, Any] = {"max_seconds": max_seconds}
    for name, (low, high) in EXTRACTION_LIMITS.items():
        if name in value:
            limits[name] = int(number(opts, value[name], low, high, "extraction", name,
                                      whole=True))
    return ExtractLimits(**limits)

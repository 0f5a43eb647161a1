"""The Detector base class: recognise a kind of personal data in a value or a column name.

Detectors are registered as instances (``register(EmailDetector())``). The SQL connector
uses them to infer identity columns; discovery sweeps use them to build the data map.

A subclass is declarative: it sets class attributes and inherits the logic here.

- Column names are compared in lower snake_case (``EmailAddress`` and ``email address``
  become ``email_address``), so one pattern covers the spellings SQL Server, PostgreSQL and
  spreadsheets use.
- Values are judged as text: integers (a phone or IMEI in a numeric column), integral
  floats and decimals, and dates are turned into text first.
- Pass the column name when judging values from a known column: some shapes count only in
  a column named for them (bare digits are an account number only in ``account_no``).
- ``checks`` go beyond the shape: a checksum (Luhn, mod-97), a plausible birth date. Each
  is a plain function of the value's text, so a subclass stays a list of declarations.
- ``text_pattern`` finds candidates inside running text for discovery sweeps
  (``agent.sweep_text``); ``text_context`` / ``text_context_exclude`` judge the words just
  before a candidate ("DOB: 01/02/1980" vs "order 07700 900123").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar

from agent.identifiers import try_normalise

_CAMEL_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")

# Columns *about* a piece of data rather than holding it (email_opt_in, phone_type,
# name_verified); every detector skips them unless it clears ``common_exclude``.
COMMON_EXCLUDE: tuple[str, ...] = (
    r"(^|_)(opt_?in|opt_?out|opted_?in|opted_?out|optin|optout|consent|consented|verified|"
    r"verification|validated|valid|confirmed|bounced?|status|flag|count|type|hash|hashed|"
    r"sha\d*|md5|encrypted|format|pref|prefs|preference|preferences|permission|allowed|"
    r"template|unsubscribed?|subscribed)(_|\d|$)",
    r"^(is|has|can|allow|send|no)_",
    r"_(at|sent)$",
)


Check = Callable[[str], bool]

# Confidence levels of column_confidence and the score each needs.
CONFIDENCE_LEVELS: tuple[tuple[str, float], ...] = (("high", 0.85), ("medium", 0.6),
                                                     ("low", 0.3))
NAME_WEIGHT = 0.3  # the rest of the score is the share of sampled values that match
_CONTRADICTED_SHARE = 0.1  # a matching name with values plainly something else
_MIN_SAMPLES = 3


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of payment cards, IMEIs and SIM ICCIDs; digits only."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def column_key(column: str) -> str:
    """``EmailAddress`` / ``email-address`` / ``EMAIL ADDRESS`` -> ``email_address``."""
    text = _CAMEL.sub(r"\1_\2", _CAMEL_ACRONYM.sub(r"\1_\2", column))
    return _NON_WORD.sub("_", text.lower()).strip("_")


def value_text(value: object) -> str | None:
    """A stored value as stripped text, or None when it cannot hold an identifier."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        text = value.date().isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float | Decimal):
        # numbers read back from numeric columns or spreadsheets: 7700900123.0
        finite = math.isfinite(value) if isinstance(value, float) else value.is_finite()
        if not finite or value != int(value):
            return None
        text = str(int(value))
    elif isinstance(value, str):
        text = value
    else:
        return None
    text = text.strip()
    return text or None


class Detector:
    name: ClassVar[str] = ""
    # identifier type a matching column holds (None: personal data that is not searched)
    identifier_type: ClassVar[str | None] = None
    # the policy's data groups this kind of data belongs to
    categories: ClassVar[tuple[str, ...]] = ()
    # regular expressions (re.search) over the lower snake_case column name
    column_patterns: ClassVar[tuple[str, ...]] = ()
    # column names that look like a match but are not (``email_opt_in``)
    column_exclude: ClassVar[tuple[str, ...]] = ()
    # exclusions shared by every detector; a subclass may narrow them
    common_exclude: ClassVar[tuple[str, ...]] = COMMON_EXCLUDE
    # the shape (re.fullmatch over the value's text) a value must have; None: any shape
    value_pattern: ClassVar[str | None] = None
    # another shape accepted only in a column whose name matches this detector
    named_value_pattern: ClassVar[str | None] = None
    # values rejected even when they fit (re.search, case-insensitive): "Acme Ltd" as a name
    value_exclude: ClassVar[str | None] = None
    # whether values alone reveal the kind of data (an e-mail does; a date may be anything)
    by_value: ClassVar[bool] = True
    # column names under which values alone never count ("1.2.3.4" in ``version``)
    value_column_exclude: ClassVar[tuple[str, ...]] = ()
    # checks beyond the shape, each a function of the value's text (a checksum)
    checks: ClassVar[tuple[Check, ...]] = ()
    # the regex finding candidates in running text; None: not looked for in text
    text_pattern: ClassVar[str | None] = None
    # a string every text candidate contains when candidates may start with any letter
    # (e-mail: "@"); the sweep then searches only around it. Without one, a candidate must
    # start with a digit, an upper-case letter, "+" or "(" and pass the sweep's cheap
    # guards (agent.sweep_text: START_CHARS, _GUARDS).
    text_literal: ClassVar[str | None] = None
    # must match (re.search) the ~40 characters before a text candidate ("date of birth:")
    text_context: ClassVar[str | None] = None
    # words (lower case) one of which text_context needs: the sweep then looks for the
    # words first and for candidates just after them (dates are common, "DOB:" is rare)
    text_context_words: ClassVar[tuple[str, ...]] = ()
    # must not match them ("order no. 07700 900123", "version 1.2.3.4")
    text_context_exclude: ClassVar[str | None] = None

    def __init__(self) -> None:
        self._name_res = [re.compile(p) for p in self.column_patterns]
        self._exclude_res = [re.compile(p) for p in (*self.column_exclude, *self.common_exclude)]
        self._value_re = re.compile(self.value_pattern) if self.value_pattern else None
        self._named_value_re = (re.compile(self.named_value_pattern)
                                if self.named_value_pattern else None)
        self._value_exclude_re = (re.compile(self.value_exclude, re.IGNORECASE)
                                  if self.value_exclude else None)
        self._value_column_exclude_res = [re.compile(p) for p in self.value_column_exclude]
        self._context_re = (re.compile(self.text_context, re.IGNORECASE)
                            if self.text_context else None)
        self._context_exclude_re = (re.compile(self.text_context_exclude, re.IGNORECASE)
                                    if self.text_context_exclude else None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # ------------------------------------------------------------------ column names
    def matches_column_name(self, column: str) -> bool:
        key = column_key(column)
        if any(r.search(key) for r in self._exclude_res):
            return False
        return any(r.search(key) for r in self._name_res)

    def excludes_values_of(self, column: str) -> bool:
        """Whether values alone must not count in ``column`` (``version`` holds 1.2.3.4)."""
        key = column_key(column)
        return any(r.search(key) for r in self._value_column_exclude_res)

    # ------------------------------------------------------------------ values
    def _fits(self, text: str, column: str | None) -> bool:
        if self._value_re is None or self._value_re.fullmatch(text):
            fits = True
        else:
            fits = bool(self._named_value_re and column is not None
                        and self._named_value_re.fullmatch(text)
                        and self.matches_column_name(column))
        if not fits or (self._value_exclude_re and self._value_exclude_re.search(text)):
            return False
        return self.validate(text)

    def validate(self, text: str) -> bool:
        """Whether ``text`` passes every check beyond the shape (a checksum)."""
        return all(check(text) for check in self.checks)

    def confirm_text(self, candidate: str, before: str = "") -> bool:
        """Whether a ``text_pattern`` candidate found in running text counts; ``before`` is
        the text just before it, judged by ``text_context`` / ``text_context_exclude``."""
        if self._context_re is not None and not self._context_re.search(before):
            return False
        if self._context_exclude_re is not None and self._context_exclude_re.search(before):
            return False
        if self.checks:  # the detector's own checks are its verdict on text
            return self.validate(candidate)
        return self.identifier_type is None or try_normalise(self.identifier_type,
                                                             candidate) is not None

    def normalise(self, value: object, column: str | None = None) -> str | None:
        """The normalised identifier in ``value``, or None (always None without a type)."""
        text = value_text(value)
        if text is None or self.identifier_type is None or not self._fits(text, column):
            return None
        return try_normalise(self.identifier_type, text)

    def matches(self, value: object, column: str | None = None) -> bool:
        """Whether ``value`` looks like this kind of data (a type-less detector: by shape)."""
        text = value_text(value)
        if text is None or not self._fits(text, column):
            return False
        if self.identifier_type is None:
            return self._value_re is not None or self._named_value_re is not None
        return try_normalise(self.identifier_type, text) is not None

    def share_matching(self, values: Sequence[object], column: str | None = None) -> float:
        present = [v for v in values if value_text(v) is not None]
        if not present:
            return 0.0
        return sum(1 for v in present if self.matches(v, column)) / len(present)

    # ------------------------------------------------------------------ columns
    def identifies_column(self, column: str, samples: Sequence[object] = (), *,
                          named_share: float = 0.5, value_share: float = 0.9,
                          min_samples: int = 3) -> bool:
        """Whether ``column`` holds this kind of data, judged by its name and sampled values.

        A matching name suffices for an empty column and otherwise needs ``named_share`` of
        the non-empty samples to fit (legacy columns hold some junk). Without a matching
        name only a ``by_value`` detector decides, on text samples nearly all fitting:
        numbers in a numeric column say nothing until the column's name does.
        """
        present = [v for v in samples if value_text(v) is not None]
        if self.matches_column_name(column):
            return not present or self.share_matching(present, column) >= named_share
        if not self.by_value or len(present) < min_samples or self.excludes_values_of(column):
            return False
        if not all(isinstance(v, str) for v in present):
            return False
        return self.share_matching(present) >= value_share


def classify_column(detectors: Iterable[Detector], column: str,
                    samples: Sequence[object] = ()) -> Detector | None:
    """The detector that best explains ``column``: a name match first, then the value share."""
    best: tuple[int, float] | None = None
    chosen: Detector | None = None
    for detector in detectors:
        if not detector.identifies_column(column, samples):
            continue
        rank = (int(detector.matches_column_name(column)),
                detector.share_matching(samples, column))
        if best is None or rank > best:
            best, chosen = rank, detector
    return chosen


@dataclass(frozen=True)
class ColumnVerdict:
    level: str  # high | medium | low
    score: float
    matched: int  # the sampled values the share was counted from


def column_confidence(detector: Detector, column: str,
                      samples: Sequence[object] = ()) -> tuple[str, float] | None:
    """``(level, score)`` of :func:`judge_column`, or None."""
    verdict = judge_column(detector, column, samples)
    return None if verdict is None else (verdict.level, verdict.score)


def judge_column(detector: Detector, column: str,
                 samples: Sequence[object] = ()) -> ColumnVerdict | None:
    """How sure we are that ``column`` holds ``detector``'s kind of data: the level
    ``"high"``, ``"medium"`` or ``"low"``, the score, and how many sampled values matched;
    None when it does not.

    The rule (discovery sweeps report it per column):

    - ``share``: of the sampled values that are not empty, the share the detector accepts
      (shape, checks such as Luhn, and the shapes it accepts only in a column named for it).
      Values stored as numbers (ints, integral Decimals and floats) and dates are inspected
      as their text: a phone in a BIGINT column, a card number in a NUMERIC column.
    - ``score = 0.3 * name_matches + 0.7 * share``; high from 0.85, medium from 0.6, low
      from 0.3, below that None.
    - With a matching name: an empty column (no samples) is low; a column with at least
      3 samples of which under 10% match is None (``mobile`` holding yes/no is a flag).
      So a named column is high from ~79% matching, medium from ~43%, else low.
    - Without a matching name only values decide, and only for a ``by_value`` detector
      (a date or a bare number alone may be anything), with at least 3 samples, in a column
      not named against it (``value_column_exclude``: ``1.2.3.4`` in ``version``): medium
      from ~86% matching, low from ~43%, never high. There numbers count only for a
      detector with a checksum: bare digits in an unnamed column are more likely an order
      number than a phone, but 16 digits passing Luhn with a card prefix are a card.
    """
    present = [v for v in samples if value_text(v) is not None]
    named = detector.matches_column_name(column)
    if named:
        hits = sum(1 for v in present if detector.matches(v, column))
        share = hits / len(present) if present else 0.0
        if len(present) >= _MIN_SAMPLES and share < _CONTRADICTED_SHARE:
            return None
    else:
        if (not detector.by_value or len(present) < _MIN_SAMPLES
                or detector.excludes_values_of(column)):
            return None
        if not detector.checks:
            present_text = [v for v in present if isinstance(v, str)]
            hits = sum(1 for v in present_text if detector.matches(v))
        else:
            hits = sum(1 for v in present if detector.matches(v))
        share = hits / len(present)
    score = round(NAME_WEIGHT * named + (1 - NAME_WEIGHT) * share, 4)
    for level, floor in CONFIDENCE_LEVELS:
        if score >= floor:
            return ColumnVerdict(level, score, hits)
    return None

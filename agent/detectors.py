"""The Detector base class: recognise a kind of personal data in a value or a column name.

Detectors are registered as instances (``register(EmailDetector())``). The SQL connector
uses them to infer identity columns; discovery sweeps use them to build the data map.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from agent.identifiers import try_normalise


class Detector:
    name: ClassVar[str] = ""
    # identifier type a matching column holds (None: personal data that is not searched)
    identifier_type: ClassVar[str | None] = None
    # the policy's data groups this kind of data belongs to
    categories: ClassVar[tuple[str, ...]] = ()
    # regular expressions over lower-cased column names that suggest this kind of data
    column_patterns: ClassVar[tuple[str, ...]] = ()
    # column names that look like a match but are not (``email_opt_in``)
    column_exclude: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self._name_res = [re.compile(p) for p in self.column_patterns]
        self._exclude_res = [re.compile(p) for p in self.column_exclude]

    def matches_column_name(self, column: str) -> bool:
        lowered = column.lower()
        if any(r.search(lowered) for r in self._exclude_res):
            return False
        return any(r.search(lowered) for r in self._name_res)

    def normalise(self, value: object) -> str | None:
        """The normalised identifier in ``value``, or None. Default: the identifier rules."""
        if self.identifier_type is None or value is None:
            return None
        return try_normalise(self.identifier_type, value if isinstance(value, str) else str(value))

    def matches(self, value: object) -> bool:
        return self.normalise(value) is not None

    def share_matching(self, values: Sequence[object]) -> float:
        present = [v for v in values if v is not None and str(v).strip()]
        if not present:
            return 0.0
        return sum(1 for v in present if self.matches(v)) / len(present)

"""What the demo estate holds about its named people, so tests and the demo can assert on it.

Locators are the SQL connector's (``table:pk``; ``marketing_preferences:12,email`` for the
composite key). For each cast member:

- ``attributed``: their own records; a search with ``search`` finds each one, strong.
- ``via_expansion``: the part of ``attributed`` reachable only through an identifier found
  on their own records (a second e-mail in a ticket's notes), not through ``search`` itself.
- ``mentions``: other people's records whose free text contains one of their identifiers;
  a text scan finds them, but the record's own identifiers are someone else's.
- ``weak``: someone else's records that share an identifier in ``search`` with the person
  (a household landline): a search may report them, only ever as weak, or leave them out
  as look-alikes.
- ``not_attributed``: records that must never be attributed to them as strong (look-alikes,
  a colleague, the limited company's own account, contracts and payments).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CastMember:
    key: str
    name: str
    role: str
    identifiers: dict[str, tuple[str, ...]]
    search: tuple[tuple[str, str], ...]
    attributed: tuple[str, ...]
    via_expansion: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    weak: tuple[str, ...] = ()
    not_attributed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out["search"] = [list(p) for p in self.search]
        out["identifiers"] = {k: list(v) for k, v in self.identifiers.items()}
        return out


@dataclass
class Manifest:
    """The estate as built: where, how big, and the cast."""

    url: str
    seed: int
    customers: int  # generated customers, besides the cast's
    indexes: bool
    counts: dict[str, int]
    cast: dict[str, CastMember]
    reserved_numbers: tuple[str, ...]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def member(self, key: str) -> CastMember:
        if key not in self.cast:
            raise KeyError(f"no cast member {key!r} (known: {', '.join(sorted(self.cast))})")
        return self.cast[key]

    def public(self) -> dict[str, Any]:
        return {
            "url": self.url, "seed": self.seed, "customers": self.customers,
            "indexes": self.indexes, "counts": dict(self.counts), "rows": self.rows,
            "cast": {k: m.public() for k, m in self.cast.items()},
            "reserved_numbers": list(self.reserved_numbers),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }

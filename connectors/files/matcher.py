"""Find every subject of a batch in a piece of text, with one automaton pass per piece.

Two stages, so the cost of a piece that mentions nobody does not grow with the subjects:

1. **Prefilter** — one Aho-Corasick automaton (``ahocorasick_rs``) over the lower-cased
   text, built from the writings each identifier is commonly stored in (the core's
   ``variants()``, the UK phone groupings, ids compact and separated, e-mail lower-cased,
   the longer word of a name). A hit must sit on word boundaries. A piece without a hit
   is done.
2. **Confirmation** — only windows around the hits go through the core's
   :class:`agent.textscan.TextIndex` (phones through ``phonenumbers``, ids by their
   comparison key, names as word pairs), which decides what matched.

What the prefilter does not know as a writing is not found: the writings are listed in
``docs/files.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import ahocorasick_rs
import phonenumbers

from agent.identifiers import name_parts, variants
from agent.models import Subject
from agent.textscan import ID_TYPES, TextIndex, id_key

Payload = tuple[str, str]  # (subject ref, identifier id)

# Text around a prefilter hit that the confirmation sees: enough for the identifier the
# hit belongs to (a name written "Doe, Jane", a phone split in groups) and no more.
WINDOW = 160
# Long pieces are lower-cased and searched in slices of this size (bounded extra memory);
# slices overlap by OVERLAP so a writing across a slice edge is still seen whole.
SLICE = 1 << 20
OVERLAP = 256
# Record ids shorter than this (compact) would match any small number in a document.
MIN_ID_CHARS = 4
_SEPARATORS = ("", "-", " ", "_", ".", "/")
_ID_SPLIT = re.compile(r"[\s\-_./:]+")
_ALNUM_GROUPS = re.compile(r"[a-z]+|\d+")


@dataclass
class Matcher:
    """Every searched identifier of every subject: the automaton and the confirming index."""

    index: TextIndex[Payload] = field(default_factory=TextIndex)
    patterns: list[str] = field(default_factory=list)
    # identifiers left out of the text search (scoped database keys, too-short ids)
    left_out: int = 0
    _automaton: ahocorasick_rs.AhoCorasick | None = None
    # the same patterns over bytes: twice as fast, used for ASCII text (same offsets)
    _bytes_automaton: ahocorasick_rs.BytesAhoCorasick | None = None

    @classmethod
    def build(cls, subjects: Sequence[Subject]) -> Matcher:
        matcher = cls()
        seen: set[str] = set()
        for subject in subjects:
            for ident in subject.to_search():
                if not searchable(ident.type, ident.value, ident.scope):
                    matcher.left_out += 1
                    continue
                if not matcher.index.add(ident.type, ident.value, (subject.ref, ident.id)):
                    continue  # postcode, DOB, company number: never searched in prose
                for pattern in patterns_for(ident.type, ident.value):
                    if pattern not in seen:
                        seen.add(pattern)
                        matcher.patterns.append(pattern)
        if matcher.patterns:
            matcher._automaton = ahocorasick_rs.AhoCorasick(
                matcher.patterns, matchkind=ahocorasick_rs.MATCHKIND_STANDARD)
            matcher._bytes_automaton = ahocorasick_rs.BytesAhoCorasick(
                [p.encode("utf-8") for p in matcher.patterns],
                matchkind=ahocorasick_rs.MATCHKIND_STANDARD)
        return matcher

    def __bool__(self) -> bool:
        return self._automaton is not None

    # ------------------------------------------------------------------ scanning
    def scan(self, text: str) -> dict[str, set[str]]:
        """subject ref -> identifier ids found in ``text``."""
        return self.search(text)[0]

    def search(self, text: str) -> tuple[dict[str, set[str]], bool]:
        """What ``scan`` gives, and whether the prefilter passed anything to confirmation."""
        found: dict[str, set[str]] = {}
        if self._automaton is None or not text:
            return found, False
        candidate = False
        for window in self.windows(text):
            candidate = True
            for hit in self.index.scan(window):
                ref, ident_id = hit.payload
                found.setdefault(ref, set()).add(ident_id)
        return found, candidate

    def windows(self, text: str) -> Iterable[str]:
        """The lower-cased stretches of ``text`` around prefilter hits (none: no match)."""
        for start in range(0, len(text), SLICE):
            end = min(len(text), start + SLICE + OVERLAP)
            part = text[start:end].lower()
            yield from _merged_windows(part, self._hits(part))
            if end == len(text):
                break

    def hit_spans(self, text: str) -> list[tuple[int, int]] | None:
        """Boundary-checked prefilter hits in ``text`` as offsets into it; None when
        lower-casing changes the text's length (rare letters), so offsets would not map."""
        if self._automaton is None or not text:
            return []
        lowered = text.lower()
        if len(lowered) != len(text):
            return None
        return self._hits(lowered)

    def prefilter_hits(self, text: str) -> int:
        """How many boundary-checked prefilter hits ``text`` has (for measurements)."""
        return len(self._hits(text.lower()))

    def _hits(self, lowered: str) -> list[tuple[int, int]]:
        assert self._automaton is not None and self._bytes_automaton is not None
        if lowered.isascii():
            matches = self._bytes_automaton.find_matches_as_indexes(
                lowered.encode("ascii"), overlapping=True)
        else:
            matches = self._automaton.find_matches_as_indexes(lowered, overlapping=True)
        out = []
        for _, start, end in matches:
            if _on_boundaries(lowered, start, end):
                out.append((start, end))
        return out


def searchable(kind: str, value: str, scope: str | None) -> bool:
    """Whether a document search looks for this identifier at all."""
    if scope:
        return False  # another database's row key (contact 42): meaningless in a document
    if kind in ID_TYPES:
        return len(id_key(value)) >= MIN_ID_CHARS
    return True


def _on_boundaries(text: str, start: int, end: int) -> bool:
    """A hit is a whole writing: no letter or digit glued to either end."""
    if start > 0 and text[start].isalnum() and text[start - 1].isalnum():
        return False
    return not (end < len(text) and text[end - 1].isalnum() and text[end].isalnum())


def _merged_windows(text: str, hits: list[tuple[int, int]]) -> Iterable[str]:
    if not hits:
        return
    hits.sort()
    spans: list[list[int]] = []
    for start, end in hits:
        lo, hi = _widen(text, start - WINDOW, end + WINDOW)
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], hi)
        else:
            spans.append([lo, hi])
    for lo, hi in spans:
        yield text[lo:hi]


def _widen(text: str, lo: int, hi: int) -> tuple[int, int]:
    """Move window edges off the middle of a word or number so no token is cut."""
    lo, hi = max(0, lo), min(len(text), hi)
    while lo > 0 and not text[lo - 1].isspace():
        lo -= 1
        if hi - lo > 4 * WINDOW:
            break
    while hi < len(text) and not text[hi].isspace():
        hi += 1
        if hi - lo > 8 * WINDOW:
            break
    return lo, hi


# --------------------------------------------------------------------------- patterns

def patterns_for(kind: str, value: str) -> list[str]:
    """Lower-case writings of one normalised identifier for the prefilter."""
    if kind == "email":
        out = [value.lower()]
    elif kind == "phone":
        out = phone_patterns(value)
    elif kind == "name":
        # The longer word alone: first and last may be split by a line break, a middle name
        # or "Doe, Jane"; the confirmation checks the pair.
        out = [max(name_parts(value), key=len)]
    elif kind in ID_TYPES:
        out = id_patterns(value)
    else:
        out = [v.lower() for v in variants(kind, value)]
    return [p for p in dict.fromkeys(p.strip() for p in out) if p]


def phone_patterns(value: str) -> list[str]:
    """07700 900123 / 07700900123 / +44 7700 900123 / +447700900123 / 07700-900-123 /
    (07700) 900123 and the core's stored writings; the bare national number covers every
    compact form (+44..., 0044..., 44...)."""
    out = [v.lower() for v in variants("phone", value)]
    number = phonenumbers.parse(value, None)
    nsn = str(number.national_number)
    out.append(nsn)
    if number.country_code == 44:
        trunk = "0" + nsn
        if len(trunk) == 11:
            a, b, c = trunk[:5], trunk[5:8], trunk[8:]
            out += [f"{a} {b}{c}", f"{a}{b}{c}", f"{a}-{b}-{c}", f"{a}-{b}{c}",
                    f"({a}) {b}{c}", f"({a}) {b} {c}", f"{a} {b} {c}", f"{a}.{b}.{c}"]
            n = nsn
            out += [f"+44 {n[:4]} {n[4:]}", f"+44{n}", f"+44 {n[:4]} {n[4:7]} {n[7:]}",
                    f"+44 ({trunk[:1]}){n[:4]} {n[4:]}", f"+44-{n[:4]}-{n[4:]}",
                    f"0044 {n[:4]} {n[4:]}"]
    return out


def id_patterns(value: str) -> list[str]:
    """An id as written (any case), compact, and with its parts joined by each usual
    separator (CAN-001234, CAN001234, CAN 001234, can/001234)."""
    lowered = value.lower()
    out = [v.lower() for v in variants("account", value)]
    parts = [p for p in _ID_SPLIT.split(lowered) if p]
    compact = "".join(parts)
    if len(parts) == 1:
        # letters then digits written together may be written apart: "can001234"
        parts = _ALNUM_GROUPS.findall(compact) if compact.isalnum() else parts
    if 1 < len(parts) <= 4:
        out += [sep.join(parts) for sep in _SEPARATORS]
    if compact.isdigit():
        out.append(compact.lstrip("0") or "0")
    return out

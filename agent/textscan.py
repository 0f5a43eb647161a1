"""Find many subjects' identifiers in free text with one pass over each text.

Build a :class:`TextIndex` once from every identifier being searched (any number of
subjects), then :meth:`TextIndex.scan` each text: it is tokenised once (e-mail addresses,
phone-like digit runs, record-id tokens, NI numbers, bank details, name word pairs), each
token normalised with :mod:`agent.identifiers` and looked up in one dict. The cost per text
does not grow with the number of subjects. Connectors for databases (notes columns) and
files (documents) share it.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from agent.identifiers import (
    name_parts,
    phone_e164,
    split_bank_account,
    try_normalise,
)

P = TypeVar("P", bound=Hashable)

# Record-id types compare on one compact, upper-cased key ("CAN-001234" ~ "can001234").
ID_TYPES = frozenset({"account", "customer_id", "contact_id", "cookie_id", "device_id"})
# Types looked for in text. Postcode, DOB and company number narrow a match elsewhere but
# are not searched for in prose: alone they never identify a person.
TEXT_TYPES = ID_TYPES | {"email", "phone", "ni_number", "bank_account", "name"}

_EMAIL = re.compile(r"[A-Za-z0-9._%+'\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# A run of digit groups with the separators people write phones with.
_PHONE_RUN = re.compile(r"(?:\+|\b)\d[\d\s().\-/]{5,}\d")
_DIGIT_GROUP = re.compile(r"\+?\d+")
_ID_TOKEN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_./:\-]*[A-Za-z0-9])?")
_NI = re.compile(r"\b[A-Za-z]{2}(?:\s?\d{2}){3}\s?[A-Da-d]\b")
_BANK = re.compile(r"\b(\d{2})[-\s]?(\d{2})[-\s]?(\d{2})[\s,/:;\-]+(\d{7,8})\b")
_WORD = re.compile(r"[^\W\d_][\w'\u2019\-]*")
_HAS_DIGIT = re.compile(r"\d")
_ID_SEPARATORS = re.compile(r"[\s\-_./:]")

# Phone candidates are first checked against the last digits of the wanted numbers, so
# phonenumbers only parses runs that can possibly match.
_PHONE_TAIL = 9


def id_key(value: str) -> str:
    """The comparison key of a record id: separators dropped, upper case, no leading zeros
    on an all-digit id (an integer column stores 001234 as 1234)."""
    compact = _ID_SEPARATORS.sub("", value.strip()).upper()
    if compact.isdigit():
        return compact.lstrip("0") or "0"
    return compact


def name_key(value: str) -> str | None:
    """``first last`` of a normalised name, or None for a single word (too common alone)."""
    first, last = name_parts(value)
    return f"{first} {last}" if first else None


@dataclass(frozen=True)
class TextHit(Generic[P]):
    type: str
    payload: P


class TextIndex(Generic[P]):
    """Normalised identifiers mapped to caller payloads (e.g. ``(subject ref, identifier id)``)."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], list[P]] = {}
        self._phone_tails: set[str] = set()
        self._types: set[str] = set()
        self._needles: set[str] = set()

    def add(self, kind: str, value: str, payload: P) -> bool:
        """Index one normalised identifier; False for a type text is not scanned for."""
        key = self._key(kind, value)
        if key is None:
            return False
        bucket = self._keys.setdefault(key, [])
        if payload not in bucket:
            bucket.append(payload)
        self._types.add(key[0])
        if kind == "phone":
            self._phone_tails.add(re.sub(r"\D", "", value)[-_PHONE_TAIL:])
        self._needles.update(_needles(kind, value, key[1]))
        return True

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    @staticmethod
    def _key(kind: str, value: str) -> tuple[str, str] | None:
        if kind in ID_TYPES:
            return ("id", id_key(value))
        if kind == "name":
            key = name_key(value)
            return ("name", key) if key else None
        if kind in {"email", "phone", "ni_number", "bank_account"}:
            return (kind, value)
        return None

    # ------------------------------------------------------------------ scanning
    def scan(self, text: str) -> list[TextHit[P]]:
        """Every indexed identifier found in ``text`` (each payload once)."""
        if not text or not self._keys:
            return []
        found: dict[tuple[str, P], TextHit[P]] = {}
        for key in self._candidate_keys(text):
            for payload in self._keys.get(key, ()):
                found.setdefault((key[0], payload), TextHit(key[0], payload))
        return list(found.values())

    def _candidate_keys(self, text: str) -> Iterator[tuple[str, str]]:
        types = self._types
        if "@" in text:
            if "email" in types:
                for m in _EMAIL.finditer(text):
                    yield ("email", m.group(0).strip(".'-").lower())
            # the rest of the scan must not read "jane.doe@..." as a name or an id
            text = _EMAIL.sub(" ", text)
        if "phone" in types:
            yield from self._phones(text)
        if "id" in types:
            tokens = [m.group(0) for m in _ID_TOKEN.finditer(text)]
            digits = [_HAS_DIGIT.search(t) is not None for t in tokens]
            for i, token in enumerate(tokens):
                if digits[i]:
                    yield ("id", id_key(token))
                # "CAN 001234" written with a space: the pair is one id
                if i + 1 < len(tokens) and digits[i + 1]:
                    yield ("id", id_key(token + tokens[i + 1]))
        if "ni_number" in types:
            for m in _NI.finditer(text):
                value = try_normalise("ni_number", m.group(0))
                if value:
                    yield ("ni_number", value)
        if "bank_account" in types:
            for m in _BANK.finditer(text):
                account = m.group(4).zfill(8)
                yield ("bank_account", f"{m.group(1)}{m.group(2)}{m.group(3)}:{account}")
        if "name" in types:
            words = [w.casefold().replace("\u2019", "'").strip("'-")
                     for w in _WORD.findall(text)]
            for i in range(len(words) - 1):
                yield ("name", f"{words[i]} {words[i + 1]}")
                if i + 2 < len(words):  # a middle name between first and last
                    yield ("name", f"{words[i]} {words[i + 2]}")

    def _phones(self, text: str) -> Iterator[tuple[str, str]]:
        tails = self._phone_tails
        for run in _PHONE_RUN.finditer(text.replace("(0)", " ")):
            groups = _DIGIT_GROUP.findall(run.group(0))
            # Two numbers written side by side form one run: try each window of groups.
            for start in range(len(groups)):
                digits = ""
                for end in range(start, len(groups)):
                    digits += groups[end].lstrip("+")
                    if len(digits) > 15:
                        break
                    if len(digits) < 9 or digits[-_PHONE_TAIL:] not in tails:
                        continue
                    candidate = ("+" if groups[start].startswith("+") else "") + digits
                    e164 = phone_e164(candidate)
                    if e164 is not None:
                        yield ("phone", e164)

    # ------------------------------------------------------------------ pre-filtering
    def needles(self) -> list[str]:
        """Lower-case substrings, one of which every text with a hit contains (in the
        usual writings: an id split inside its longest digit run escapes them).

        Lets a database narrow the rows it streams (``LIKE '%needle%'``) when few
        identifiers are searched; :meth:`scan` still confirms every row.
        """
        return sorted(self._needles)


def _needles(kind: str, value: str, key: str) -> set[str]:
    if kind == "email":
        return {value}
    if kind == "name":
        # one of the two words, the longer (rarer inside other words): the pair itself may
        # be split by a line break or a middle name
        return {max(name_parts(value), key=len)}
    if kind in ID_TYPES:
        # the longest digit run survives the usual writings (CAN-001234, can001234,
        # CAN 001234); without one, the longest part between separators (ck-7f3a9b2c)
        runs = re.findall(r"\d+", key)
        longest = max(runs, key=len) if runs else ""
        if len(longest) >= 4:
            return {longest}
        return {max(_ID_SEPARATORS.split(value), key=len).lower()}
    if kind == "ni_number":
        return {f"{value[6:8]}{value[8]}".lower(), f"{value[6:8]} {value[8]}".lower()}
    if kind == "bank_account":
        return {split_bank_account(value)[1][-7:]}
    if kind == "phone":
        # the last three digits: never split, however the number is grouped when written
        return {re.sub(r"\D", "", value)[-3:]}
    return set()


def build_index(entries: Iterable[tuple[str, str, P]]) -> TextIndex[P]:
    index: TextIndex[P] = TextIndex()
    for kind, value, payload in entries:
        index.add(kind, value, payload)
    return index

"""Which calls are a subject's, on which side of the call they are, and who the other
party is — the same rules for every layout.

A call has two sides. The subject is matched on one (their number as caller or callee,
their account on the record, their name as the caller's name); only that side's values are
evidence about them (``internal_values``): the other party's number is someone else's and
must never feed the next search round. The other party is our staff (an extension, one of
``our_numbers``, the Connect system endpoint) or an outside person: then the recording also
holds a third person's voice and an export of it goes to disclosure review.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from agent.identifiers import phone_e164, phone_variants, try_normalise
from agent.models import Finding, Subject
from connectors.recordings.model import Call, Leg
from connectors.recordings.options import RecordingsOptions

# Asterisk's two sides: who called (src, cnum, the number in clid) and who was called.
CALLER_ROLES = frozenset({"src", "cnum", "clid", "customer", "from", "caller"})
CALLEE_ROLES = frozenset({"dst", "to", "callee"})
ACCOUNT_TYPES = ("account", "customer_id")
# Caller names that name nobody (what carriers and PBXs put when the name is unknown).
NO_NAME = frozenset({"unknown", "anonymous", "withheld", "private", "unavailable",
                     "cell phone", "wireless caller", "restricted", "not available",
                     "out of area", "international", "payphone", "blocked"})
_ORGANISATION = re.compile(r"\b(ltd|limited|plc|llp|llc|inc|gmbh|group|council|"
                           r"services|solutions|reception|switchboard)\b", re.I)
THIRD_PARTY_REVIEW = ("the other party of the call is an outside number, not our staff: "
                      "the recording holds a third person's voice; review before disclosing")


@dataclass
class Wanted:
    """One subject's identifiers in the forms calls are compared in."""

    subject: Subject
    phones: dict[str, str] = field(default_factory=dict)  # E.164 -> identifier id
    accounts: dict[str, str] = field(default_factory=dict)  # normalised -> identifier id
    names: dict[str, str] = field(default_factory=dict)  # normalised name -> identifier id

    @property
    def empty(self) -> bool:
        return not (self.phones or self.accounts or self.names)


def wanted(subjects: Sequence[Subject]) -> list[Wanted]:
    out = []
    for subject in subjects:
        w = Wanted(subject)
        for ident in subject.to_search():
            if ident.type == "phone":
                w.phones[ident.value] = ident.id
            elif ident.type in ACCOUNT_TYPES:
                w.accounts[ident.value] = ident.id
            elif ident.type == "name":
                w.names[ident.value] = ident.id
        if not w.empty:
            out.append(w)
    return out


def number_forms(wants: Iterable[Wanted]) -> tuple[frozenset[str], frozenset[str]]:
    """(every stored writing, the E.164 forms) of the wanted numbers, for pre-filters."""
    e164 = {p for w in wants for p in w.phones}
    forms = {form for number in e164 for form in phone_variants(number)}
    return frozenset(forms), frozenset(e164)


@dataclass
class LegKeys:
    """One leg's values as they are compared: numbers as E.164 by role, account values
    normalised per identifier type, caller names as normalised person names."""

    numbers: dict[str, str | None]
    accounts: dict[str, set[str]]
    names: set[str]

    @classmethod
    def of(cls, leg: Leg) -> LegKeys:
        accounts: dict[str, set[str]] = {}
        for value in leg.accounts.values():
            for kind in ACCOUNT_TYPES:
                norm = try_normalise(kind, value)
                if norm:
                    accounts.setdefault(kind, set()).add(norm)
        names = {n for n in (person_name(v) for v in leg.names.values()) if n}
        return cls({role: phone_e164(value) if value else None
                    for role, value in leg.numbers.items()}, accounts, names)


class WantIndex:
    """The subjects of a batch by each value they are searched by, so a leg finds the few
    subjects it may be about without comparing it with every one."""

    def __init__(self, wants: Sequence[Wanted]) -> None:
        self.by_phone: dict[str, list[Wanted]] = {}
        self.by_account: dict[str, list[Wanted]] = {}
        self.by_name: dict[str, list[Wanted]] = {}
        for want in wants:
            for value in want.phones:
                self.by_phone.setdefault(value, []).append(want)
            for value in want.accounts:
                self.by_account.setdefault(value, []).append(want)
            for value in want.names:
                self.by_name.setdefault(value, []).append(want)

    def touched(self, keys: LegKeys) -> Iterator[Wanted]:
        for e164 in keys.numbers.values():
            if e164:
                yield from self.by_phone.get(e164, ())
        for values in keys.accounts.values():
            for value in values:
                yield from self.by_account.get(value, ())
        for name in keys.names:
            yield from self.by_name.get(name, ())


@dataclass
class Match:
    ids: set[str] = field(default_factory=set)
    weak_ids: set[str] = field(default_factory=set)
    side: set[str] = field(default_factory=set)  # roles the subject is on
    values: dict[str, set[str]] = field(default_factory=dict)
    holder: str | None = None
    third_party: bool = False


class CallMatcher:
    """Matches calls against subjects under one system's options."""

    def __init__(self, options: RecordingsOptions) -> None:
        self.options = options
        self._keys: dict[int, LegKeys] = {}

    def staff(self, value: str) -> bool:
        """Our side: an internal extension or one of our numbers."""
        digits = re.sub(r"\D", "", value)
        if digits and len(digits) <= self.options.extension_digits and not value.startswith("+"):
            return True
        return phone_e164(value) in self.options.our_numbers

    def keys(self, leg: Leg) -> LegKeys:
        """The leg's values normalised, once per search (``forget`` clears them)."""
        found = self._keys.get(id(leg))
        if found is None:
            found = LegKeys.of(leg)
            self._keys[id(leg)] = found
        return found

    def forget(self) -> None:
        self._keys.clear()

    def wanting(self, legs: Iterable[Leg], index: WantIndex) -> list[Wanted]:
        """The subjects any of these legs may be about (one dict lookup per value)."""
        hit: dict[str, Wanted] = {}
        for leg in legs:
            for want in index.touched(self.keys(leg)):
                hit.setdefault(want.subject.ref, want)
        return list(hit.values())

    def match(self, call: Call, want: Wanted) -> Match | None:
        found = Match()
        for leg in call.legs:
            keys = self.keys(leg)
            self._numbers(leg, keys, want, found)
            for kind, values in keys.accounts.items():
                for norm in values:
                    ident = want.accounts.get(norm)
                    if ident is not None:
                        found.ids.add(ident)
                        found.values.setdefault(kind, set()).add(norm)
            for norm in keys.names:
                ident = want.names.get(norm)
                if ident is not None:
                    found.ids.add(ident)
                    found.side |= CALLER_ROLES  # a caller's name: the caller's side
        if not found.ids:
            return None
        if not found.side & (CALLER_ROLES | CALLEE_ROLES):
            found.side |= {"src", "customer", "from"}  # an account or name: the customer's
        self._evidence(call, found)
        found.third_party = self._third_party(call, found)
        return found

    def _numbers(self, leg: Leg, keys: LegKeys, want: Wanted, found: Match) -> None:
        for role, e164 in keys.numbers.items():
            ident = want.phones.get(e164 or "")
            if ident is None or role in leg.ours:
                continue
            found.ids.add(ident)
            found.side.add(role)
            if e164 in self.options.shared_numbers:
                found.weak_ids.add(ident)

    def _evidence(self, call: Call, found: Match) -> None:
        """The subject's side's numbers and the caller's name, if the subject called."""
        caller_side = bool(found.side & CALLER_ROLES)
        for leg in call.legs:
            for role, value in leg.numbers.items():
                if role in found.side and role not in leg.ours and not self.staff(value):
                    e164 = phone_e164(value)
                    if e164:
                        found.values.setdefault("phone", set()).add(e164)
            if not caller_side:
                continue
            for value in leg.names.values():
                if _ORGANISATION.search(value or ""):
                    # a company's line: the number is not one person's
                    found.weak_ids |= found.ids
                    continue
                name = person_name(value)
                if name and found.holder is None:
                    found.holder = name

    def _third_party(self, call: Call, found: Match) -> bool:
        mine = found.values.get("phone", set())
        for leg in call.legs:
            for role, value in leg.numbers.items():
                if role in leg.ours or role in found.side or role == "did" or not value:
                    continue
                if self.staff(value):
                    continue
                e164 = phone_e164(value)
                if e164 and e164 not in mine and e164 not in self.options.our_numbers:
                    return True
        return False

    def finding(self, system: str, call: Call, subject: Subject, found: Match) -> Finding:
        return Finding(
            system=system, kind="recording", locator=call.id, subject=subject.ref,
            categories=["Communications"], container="calls",
            review=THIRD_PARTY_REVIEW if found.third_party else None,
            internal_matched_ids=set(found.ids), internal_weak_ids=set(found.weak_ids),
            internal_values={k: set(v) for k, v in found.values.items()},
            internal_holder=found.holder)


def person_name(value: str | None) -> str | None:
    """A caller name as a normalised person's name, or None (a number, "UNKNOWN", a
    company)."""
    if not value or not value.strip():
        return None
    text = value.strip().strip('"').strip()
    if not text or text.lower() in NO_NAME or any(c.isdigit() for c in text):
        return None
    if _ORGANISATION.search(text):
        return None
    return try_normalise("name", text)

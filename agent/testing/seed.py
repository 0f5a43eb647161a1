"""What a connector author's ``dsr_seed`` fixture returns: one system, freshly seeded."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agent.errors import IdentifierError
from agent.identifiers import normalise, resolve_type, variants
from agent.models import Subject
from agent.subjects import subject_from_mapping

DEFAULT_SYSTEM_NAME = "conformance"
# Shorter values (an initial, a two-digit fragment) would match harmless log text.
MIN_PROTECTED = 5


@dataclass
class Seed:
    """A system holding a subject and a look-alike, seeded afresh for one test.

    ``system`` is the ``[[systems]]`` entry as a dict (``name``, ``url``, ``connector`` and
    the connector's options). ``subject`` and ``lookalike`` are identifier mappings in the
    shape ``dsr search --subjects`` lines take (``{"email": [...], "name": "..."}``). The
    look-alike is a different person who shares something with the subject (the name, say)
    and must be found by its own identifiers, never touched by the subject's actions.
    ``rectify`` maps an identifier type to a new value (needed when the connector declares
    ``rectify``); ``erase_action`` is what erasure asks for: ``delete`` or ``anonymise``.
    """

    system: dict[str, Any]
    subject: Mapping[str, Any]
    lookalike: Mapping[str, Any]
    rectify: dict[str, str] | None = None
    erase_action: Literal["delete", "anonymise"] = "delete"

    def __post_init__(self) -> None:
        if self.erase_action not in ("delete", "anonymise"):
            raise ValueError("Seed.erase_action must be 'delete' or 'anonymise'")

    def system_entry(self) -> dict[str, Any]:
        return {"name": DEFAULT_SYSTEM_NAME, **self.system}

    def person(self, who: str) -> Subject:
        """The subject or the look-alike as a normalised Subject (ref = ``who``)."""
        data = self.subject if who == "subject" else self.lookalike
        try:
            return subject_from_mapping(dict(data), default_ref=who)
        except IdentifierError as exc:  # names the type, never the value
            raise ValueError(f"Seed.{who} is not a valid identifier mapping: {exc}") from None

    def rectified(self) -> Subject:
        """A subject made of the new values only: searching for it finds rectified records."""
        try:
            return subject_from_mapping(dict(self.rectify or {}), default_ref="rectified")
        except IdentifierError as exc:
            raise ValueError(f"Seed.rectify is not a valid identifier mapping: {exc}") from None

    def protected_values(self) -> Iterator[tuple[str, str, str]]:
        """(whose, identifier type, value) for every form of every value that must never
        reach a log: as given, normalised, and the variants stored forms take."""
        people = {"subject": self.subject, "look-alike": self.lookalike,
                  "rectified subject": self.rectify or {}}
        for whose, mapping in people.items():
            for kind, value in _pairs(mapping):
                for form in value_forms(kind, value):
                    if len(form) >= MIN_PROTECTED:
                        yield whose, kind, form


def _pairs(mapping: Mapping[str, Any]) -> Iterator[tuple[str, object]]:
    """(type, value) pairs of an identifier mapping, ``{"id": {TYPE: ...}}`` included."""
    for kind, raw in mapping.items():
        if kind == "ref":
            continue
        if kind == "id" and isinstance(raw, Mapping):
            yield from _pairs(raw)
            continue
        for value in raw if isinstance(raw, list) else [raw]:
            yield kind, value


def value_forms(kind: str, raw: object) -> list[str]:
    """A value as given, normalised, and in the forms a store may hold it."""
    if raw is None:
        return []
    out = [str(raw).strip()]
    try:
        name = resolve_type(kind.partition("@")[0]).name
        value = normalise(name, raw)
        out += [value, *variants(name, value)]
    except IdentifierError:
        pass  # the seed check reports an invalid value; here it is protected as given
    return list(dict.fromkeys(out))

"""Disclosure review for a SAR package: other people's identifiers out, the rest listed.

The export holds only the rows the search matched to the person, so every other row of a
table is already dropped. Within those rows an e-mail address or phone number that fills a
whole field is the person's own (it is how the row was found or what it records about
them); one that sits inside free text (a note, a letter) and is not among the person's is a
third party's and becomes ``[redacted]``. So do people's names found in free text
(:mod:`agent.names`) unless every word of the name is one of the person's own names, which
come from the whole-field name columns of their rows (first_name, last_name, full_name...).
What cannot be redacted here (recordings or
documents flagged as holding another person's data, binary files naming someone else) is
withheld and listed for a person's decision.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.names import find_person_names, name_key

REDACTED = "[redacted]"
# a connector may list a flagged document without copying it into the export
NOT_COPIED = "listed only: the export holds no copy, so send the document by hand"

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
                    r"(?![\w-])")
# UK numbers as people write them: 0... or +44 (0)..., with spaces, dashes or brackets
_PHONE = re.compile(r"(?<![\w+])(?:\+44\s?(?:\(0\)\s?)?|\(?0)\d(?:[\s\-)]?\d){8,9}(?!\d)")
# columns that hold a person's name as a whole field (keys compared lower case, "_" for
# spaces and dashes); company_name and the like are not people
NAME_COLUMNS = frozenset({
    "name", "first_name", "firstname", "forename", "forenames", "given_name", "given_names",
    "givenname", "middle_name", "middle_names", "middlename", "last_name", "lastname",
    "surname", "family_name", "familyname", "full_name", "fullname", "contact_name",
    "person_name", "display_name", "preferred_name", "known_as", "maiden_name",
    "previous_surname"})
_NAME_WORD = re.compile(r"[^\W\d_](?:[\w'\u2019]*[^\W\d_])?")
_KEY_SEP = re.compile(r"[\s\-]+")


def normalise_phone(text: str) -> str:
    """Digits in national form: ``+44 (0)7700 900031`` -> ``07700900031``."""
    digits = re.sub(r"\D", "", text)
    if digits.startswith("440"):
        digits = digits[2:]
    elif digits.startswith("44"):
        digits = "0" + digits[2:]
    return digits


@dataclass(frozen=True)
class SubjectIds:
    """The person's own e-mail addresses (lower case), phone numbers (national digits) and
    name words (lower case, as :func:`agent.names.name_key` gives them: "maya", "okafor")."""

    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()

    def __repr__(self) -> str:  # personal data: counts only
        names = f", names={len(self.names)}" if self.names else ""
        return f"SubjectIds(emails={len(self.emails)}, phones={len(self.phones)}{names})"

    def owns_name(self, name: str) -> bool:
        """Every word of ``name`` (a title left out) is one of the person's names, and every
        initial is the first letter of one: "Maya", "Mrs Okafor", "M. Okafor"."""
        words = [name_key(w) for w in _NAME_WORD.findall(name)]
        words = [w for part in words for w in part.split("-") if w]
        if not words or not self.names:
            return False
        initials = {n[0] for n in self.names}
        return all(w in self.names if len(w) > 1 else w in initials for w in words)


def subject_ids(rows: Iterable[Mapping[str, Any]]) -> SubjectIds:
    """E-mails and phones that fill a whole field of the person's rows, and the words of
    the names in their name columns."""
    emails: set[str] = set()
    phones: set[str] = set()
    names: set[str] = set()
    for record in rows:
        for key, value in _flatten(record).items():
            if not isinstance(value, str):
                continue
            text = value.strip()
            if _EMAIL.fullmatch(text):
                emails.add(text.lower())
            elif _PHONE.fullmatch(text):
                phones.add(normalise_phone(text))
            elif _KEY_SEP.sub("_", str(key).strip().lower()) in NAME_COLUMNS:
                names.update(_name_words(text))
    return SubjectIds(frozenset(emails), frozenset(phones), frozenset(names))


def _name_words(text: str) -> set[str]:
    """The words of a name field ("Maya Okafor-Reid" -> maya, okafor, reid); initials and
    fields that are not plausibly a name (digits, long text) give nothing."""
    if len(text) > 100 or any(c.isdigit() or c == "@" for c in text):
        return set()
    keys = (name_key(w) for w in _NAME_WORD.findall(text))
    return {p for k in keys for p in k.split("-") if len(p) > 1}


def redact_text(text: str, subject: SubjectIds) -> tuple[str, int]:
    """``text`` with third parties' e-mails, phones and names replaced; and how many were."""
    count = 0

    def email(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0).lower() in subject.emails:
            return match.group(0)
        count += 1
        return REDACTED

    def phone(match: re.Match[str]) -> str:
        nonlocal count
        if normalise_phone(match.group(0)) in subject.phones:
            return match.group(0)
        count += 1
        return REDACTED

    named, count = _redact_names(text, subject)
    out = _PHONE.sub(phone, _EMAIL.sub(email, named))
    return out, count


def _redact_names(text: str, subject: SubjectIds) -> tuple[str, int]:
    """Other people's names in free text out (first, so "Jane Smith <jane@...>" is still
    seen as a display name; a name never overlaps an address or a number). A name that is
    the whole field is what the row records, not free text, and stays."""
    whole = text.strip()
    spans = [s for s in find_person_names(text)
             if text[s.start:s.end] != whole and not subject.owns_name(text[s.start:s.end])]
    if not spans:
        return text, 0
    pieces, at = [], 0
    for span in spans:
        pieces += [text[at:span.start], REDACTED]
        at = span.end
    pieces.append(text[at:])
    return "".join(pieces), len(spans)


@dataclass
class Reviewed:
    """A table's rows after review, the files to include and what was held back."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (source path, bytes)
    redactions: list[dict[str, Any]] = field(default_factory=list)
    withheld: list[dict[str, Any]] = field(default_factory=list)
    disclosed: list[dict[str, Any]] = field(default_factory=list)


def item_id(row: Mapping[str, Any], system: str, table: str, index: int) -> str:
    """What a review decision names: the finding id, else the row's place in the export."""
    finding = row.get("finding")
    return finding if isinstance(finding, str) and finding else f"{system}/{table}#{index}"


def review_table(system: str, table: str, rows: Iterable[Mapping[str, Any]],
                 subject: SubjectIds, disclosed: frozenset[str] = frozenset()) -> Reviewed:
    """Redact each row's text; lift out file content; withhold what needs a person.
    Items in ``disclosed`` (a person decided: disclose with consent) go in as they are."""
    out = Reviewed()
    for index, record in enumerate(rows):
        row = _flatten(record)
        item = item_id(row, system, table, index)
        where = {"system": system, "table": table, "row": index, "item": item}
        if item in disclosed:
            out.rows.append(_as_is(row, where, out))
            copied = isinstance(row.get("content_base64"), str) or "audio" in row
            out.disclosed.append({**where, "content": "included" if copied else NOT_COPIED})
            continue
        if row.get("disclosure_review"):
            out.withheld.append({**where, "path": row.get("path"),
                                 "reason": _reason(row),
                                 "decision": "pending review: withhold with a reason, or "
                                             "disclose with the other person's consent"})
            continue
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if key == "content_base64":
                continue
            if key == "audio" and isinstance(value, list):
                clean[key] = [_audio_file(a, out) for a in value]
                continue
            clean[key], count = _redact_value(value, subject)
            if count:
                out.redactions.append({**where, "field": key, "redacted": count})
        if isinstance(row.get("content_base64"), str):
            clean["file"] = _document(row, clean, subject, where, out)
        out.rows.append(clean)
    return out


def _flatten(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """A connector's whole record (``finding``, ``row`` and beside it audio, review flags)
    as one row; the export usually keeps only ``row``, which passes through unchanged."""
    inner = record.get("row")
    if "finding" not in record or not isinstance(inner, Mapping):
        return record
    beside = {k: v for k, v in record.items() if k not in ("finding", "table", "row")}
    return {**inner, **beside}


def _redact_value(value: Any, subject: SubjectIds) -> tuple[Any, int]:
    """Strings redacted, nested lists and objects (call legs, transcripts) walked."""
    if isinstance(value, str):
        return redact_text(value, subject)
    if isinstance(value, list):
        pairs = [_redact_value(v, subject) for v in value]
        return [v for v, _ in pairs], sum(c for _, c in pairs)
    if isinstance(value, Mapping):
        done = {k: _redact_value(v, subject) for k, v in value.items()}
        return {k: v for k, (v, _) in done.items()}, sum(c for _, c in done.values())
    return value, 0


def _as_is(row: Mapping[str, Any], where: Mapping[str, Any], out: Reviewed) -> dict[str, Any]:
    """A disclosed item unredacted: its content (when the export holds it) as a file."""
    clean: dict[str, Any] = {}
    for key, value in row.items():
        if key == "audio" and isinstance(value, list):
            clean[key] = [_audio_file(a, out) for a in value]
        elif key not in ("content_base64", "finding", "disclosure_review"):
            clean[key] = value
    if isinstance(row.get("content_base64"), str):
        path = str(row.get("path") or where["table"])
        out.files.append((path, base64.b64decode(row["content_base64"])))
        clean["file"] = path
    return clean


def _reason(row: Mapping[str, Any]) -> str:
    reason = row.get("reason")
    if isinstance(reason, str) and reason:
        return reason
    return "it also holds another person's data"


def _audio_file(audio: Any, out: Reviewed) -> Any:
    """A recording's bytes go to files/; its row keeps what it is and where."""
    if not isinstance(audio, Mapping) or not isinstance(audio.get("content_base64"), str):
        return audio
    path = str(audio.get("path") or f"recording-{len(out.files)}")
    out.files.append((path, base64.b64decode(audio["content_base64"])))
    return {k: v for k, v in audio.items() if k != "content_base64"} | {"file": path}


def _document(row: Mapping[str, Any], clean: dict[str, Any], subject: SubjectIds,
              where: dict[str, Any], out: Reviewed) -> str | None:
    """A whole document: included as is, redacted when it is text, else withheld."""
    path = str(row.get("path") or where["table"])
    data = base64.b64decode(row["content_base64"])
    if not any(r["row"] == where["row"] and r["table"] == where["table"]
               for r in out.redactions):
        out.files.append((path, data))
        return path
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        out.withheld.append({**where, "path": path,
                             "reason": "names another person and is not plain text, so it "
                                       "cannot be redacted here",
                             "decision": "pending review: redact by hand, withhold or disclose "
                                         "with consent"})
        return None
    redacted, _ = redact_text(text, subject)
    out.files.append((path, redacted.encode("utf-8")))
    return path

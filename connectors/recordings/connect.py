"""Amazon Connect contact trace records (CTRs): parse them into legs, rewrite them for erasure.

Kinesis Firehose delivers CTRs concatenated with no separator (``{...}{...}``), one per line
(JSON Lines), as a JSON array, or one object per file; optionally gzip-compressed. All are
read, and a rewrite keeps the framing (and compression) it found: untouched records keep
their exact bytes, only changed records are serialised again.

Pure: bytes in, legs or bytes out; the connector does the I/O. Errors name the position and
the reason, never content (a CTR is personal data).

``anonymise`` blanks what identifies the caller (``ANONYMISE_PATHS``):
``CustomerEndpoint.Address``, ``TransferredToEndpoint.Address``, every ``Attributes`` value,
every leaf of ``ContactDetails``, ``Name``, ``Description``, every ``References[].Value``,
``CustomerId`` (a Customer Profiles id), ``VoiceIdResult.GeneratedSpeakerId`` and every
``Tags`` value except AWS-managed ``aws:*`` tags; each recording (``Recording`` and
``Recordings[]``) gets ``Location`` "" with ``Status`` "DELETED" and ``DeletionReason``
"erasure request" (the connector deletes the audio). Kept: ids, timestamps, channel, queue,
agent, the system endpoint (our number) and the rest of the operational metadata.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent.identifiers import phone_e164
from connectors.recordings.model import Leg

CONTACT_ID = re.compile(
    r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}(?![0-9A-Za-z])")

# Attribute keys (compared by ``fold_key``); "a+b" joins two attributes with a space.
DEFAULT_NAME_KEYS: tuple[str, ...] = (
    "customerName", "callerName", "name", "fullName", "customerFullName", "contactName",
    "firstName+lastName", "customerFirstName+customerLastName", "givenName+familyName")
DEFAULT_ACCOUNT_KEYS: tuple[str, ...] = (
    "customerId", "customerNumber", "accountNumber", "accountId", "account", "accountCode",
    "customerReference", "customerRef")

VOICE = "VOICE"
ENDPOINT_ROLES = (("customer", "CustomerEndpoint"), ("system", "SystemEndpoint"),
                  ("transfer", "TransferredToEndpoint"))
DELETION_REASON = "erasure request"
ACTIONS = ("delete", "anonymise")

# Dotted paths blanked by "anonymise"; "*" is every key of a mapping or item of a list,
# and a path ending at a mapping or list blanks every leaf under it.
ANONYMISE_PATHS: tuple[str, ...] = (
    "CustomerEndpoint.Address", "TransferredToEndpoint.Address", "Attributes.*",
    "ContactDetails", "Name", "Description", "References.*.Value", "CustomerId",
    "VoiceIdResult.GeneratedSpeakerId", "Tags.*")
RECORDING_PATHS = ("Recording", "Recordings.*")

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = "\ufeff"
_WS = " \t\r\n"


class RecordError(ValueError):
    """Contact records that cannot be read: the position and reason, never content."""


# --------------------------------------------------------------------------- shared helpers

def fold_key(key: str) -> str:
    """Keys compared loosely: ``customerName``, ``customer_name``, ``Customer-Name`` agree."""
    return key.lower().replace("_", "").replace("-", "").replace(" ", "")


def parse_timestamp(value: Any) -> datetime | None:
    """ISO 8601 (``Z`` allowed) or epoch seconds/milliseconds; None when not a time."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value  # milliseconds since the epoch
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def looks_like_phone(value: Any) -> bool:
    """Written like a phone (starts with + or 0, 10+ digits) and a possible phone number:
    both, so ids and amounts that happen to parse as numbers stay out."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    if text[:1] not in ("+", "0") or sum(c.isdigit() for c in text) < 10 or len(text) > 32:
        return False
    return phone_e164(text) is not None


def byte_offset(text: str, index: int) -> int:
    """The byte position in the UTF-8 data of character ``index`` of its decoded text."""
    return len(text[:index].encode("utf-8"))


def decode_json_text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RecordError(f"{what}: not UTF-8 at byte {err.start}") from None


# --------------------------------------------------------------------------- framing

@dataclass
class _Item:
    start: int  # character span of the value in the text
    end: int
    value: Any
    after: str = ""  # the whitespace (stream) or separator (array) that follows it


@dataclass
class _Document:
    framing: str  # "array" | "stream" (one object, concatenated, or JSON Lines)
    head: str  # BOM, leading whitespace and, for an array, the opening bracket
    items: list[_Item]
    tail: str  # for an array, the closing bracket and what follows
    text: str
    gzipped: bool


def _not_json(text: str, index: int, reason: str) -> RecordError:
    return RecordError(f"contact records: not JSON at byte {byte_offset(text, index)} "
                       f"({reason})")


def _skip_ws(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WS:
        index += 1
    return index


def _decode_at(decoder: json.JSONDecoder, text: str, index: int) -> tuple[Any, int]:
    try:
        return decoder.raw_decode(text, index)
    except json.JSONDecodeError as err:
        # err.doc holds the whole text: never chain it
        raise _not_json(text, err.pos, err.msg) from None


def _parse_stream(text: str, start: int) -> list[_Item]:
    decoder = json.JSONDecoder()
    items: list[_Item] = []
    index = start
    while index < len(text):
        value, end = _decode_at(decoder, text, index)
        after_end = _skip_ws(text, end)
        items.append(_Item(index, end, value, text[end:after_end]))
        index = after_end
    return items


def _parse_array(text: str, open_at: int) -> tuple[list[_Item], int]:
    """Items of a top-level array and the index of its closing bracket."""
    decoder = json.JSONDecoder()
    items: list[_Item] = []
    index = _skip_ws(text, open_at + 1)
    if index < len(text) and text[index] == "]":
        return items, index
    while True:
        value, end = _decode_at(decoder, text, index)
        sep_at = _skip_ws(text, end)
        if sep_at >= len(text):
            raise _not_json(text, sep_at, "unterminated array")
        if text[sep_at] == "]":
            items.append(_Item(index, end, value, text[end:sep_at]))
            return items, sep_at
        if text[sep_at] != ",":
            raise _not_json(text, sep_at, "expected ',' or ']'")
        next_at = _skip_ws(text, sep_at + 1)
        items.append(_Item(index, end, value, text[end:next_at]))
        index = next_at


def _unzip(data: bytes) -> tuple[bytes, bool]:
    if not data.startswith(_GZIP_MAGIC):
        return data, False
    try:
        return gzip.decompress(data), True
    except (OSError, EOFError, zlib.error):
        raise RecordError("contact records: corrupt gzip data") from None


def _parse(data: bytes) -> _Document:
    raw, gzipped = _unzip(data)
    text = decode_json_text(raw, "contact records")
    start = _skip_ws(text, 1 if text.startswith(_BOM) else 0)
    if start < len(text) and text[start] == "[":
        items, close_at = _parse_array(text, start)
        tail_end = _skip_ws(text, close_at + 1)
        if tail_end != len(text):
            raise _not_json(text, tail_end, "data after the array")
        head = text[:items[0].start] if items else text[:start + 1]  # "[" and what follows
        return _Document("array", head, items, text[close_at:], text, gzipped)
    return _Document("stream", text[:start], _parse_stream(text, start), "", text, gzipped)


def _records(doc: _Document) -> Iterator[Mapping[str, Any]]:
    for item in doc.items:
        if isinstance(item.value, Mapping):
            yield item.value


# --------------------------------------------------------------------------- legs

def ids_in_name(name: str) -> list[str]:
    """Contact ids in an object or file name, as written, without repeats."""
    return list(dict.fromkeys(CONTACT_ID.findall(name)))


def parse_records(data: bytes, source: str) -> Iterator[Leg]:
    """The voice legs of every CTR in ``data`` (any framing); other channels are skipped."""
    for record in _records(_parse(data)):
        leg = leg_from_record(record, source)
        if leg is not None:
            yield leg


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        return text or None
    return None


def _attribute_values(attributes: Mapping[str, Any], keys: Sequence[str]) -> dict[str, str]:
    """role -> value, the role being the attribute key as stored; a spec "a+b" joins the
    parts present (role "firstName+lastName")."""
    folded = {fold_key(str(key)): (str(key), value) for key, value in attributes.items()}
    found: dict[str, str] = {}
    for spec in keys:
        hits = [folded.get(fold_key(part)) for part in spec.split("+")]
        present = [(key, text) for key, text in
                   ((hit[0], _text(hit[1])) for hit in hits if hit) if text]
        if present:
            found["+".join(key for key, _ in present)] = " ".join(text for _, text in present)
    return found


def _endpoint_number(endpoint: Any) -> str | None:
    if not isinstance(endpoint, Mapping):
        return None
    kind = endpoint.get("Type")
    if kind not in (None, "TELEPHONE_NUMBER"):
        return None
    return _text(endpoint.get("Address"))


def _audio_key(recording: Any) -> str | None:
    """The object key of an S3 recording ("bucket/key" with the bucket dropped)."""
    if not isinstance(recording, Mapping):
        return None
    if recording.get("StorageType") not in (None, "S3"):
        return None  # Kinesis video streams: nothing stored as an object
    location = recording.get("Location")
    if not isinstance(location, str) or location.startswith("arn:"):
        return None
    _bucket, _, key = location.strip().lstrip("/").partition("/")
    return key or None


def _audio(record: Mapping[str, Any]) -> list[str]:
    recordings = record.get("Recordings")
    candidates = [record.get("Recording")]
    if isinstance(recordings, list):
        candidates += recordings
    keys = [_audio_key(candidate) for candidate in candidates]
    return list(dict.fromkeys(key for key in keys if key))


def leg_from_record(record: Mapping[str, Any], source: str,
                    account_keys: Sequence[str] = DEFAULT_ACCOUNT_KEYS,
                    name_keys: Sequence[str] = DEFAULT_NAME_KEYS) -> Leg | None:
    """One CTR as a leg; None for a non-voice contact or a record without a ContactId.

    Numbers: "customer", "system" (ours), "transfer" endpoints, plus any ``Attributes``
    value written like a phone (role ``Attributes.<key>``: a callback number a flow stored).
    """
    contact_id = _text(record.get("ContactId"))
    channel = record.get("Channel")
    if contact_id is None or (isinstance(channel, str) and channel.upper() != VOICE):
        return None
    numbers: dict[str, str] = {}
    for role, key in ENDPOINT_ROLES:
        number = _endpoint_number(record.get(key))
        if number:
            numbers[role] = number
    attributes = record.get("Attributes")
    attributes = attributes if isinstance(attributes, Mapping) else {}
    for key, value in attributes.items():  # a callback number a contact flow stored
        if looks_like_phone(value):
            numbers.setdefault(f"Attributes.{key}", value)
    return Leg(
        id=contact_id, fields=dict(record),
        started=parse_timestamp(record.get("InitiationTimestamp")),
        numbers=numbers,
        names=_attribute_values(attributes, name_keys),
        accounts=_attribute_values(attributes, account_keys),
        audio=_audio(record),
        ours={"system"} & numbers.keys(),
        source=source)


# --------------------------------------------------------------------------- rewrite

def _kept(path: str, keep: Collection[str]) -> bool:
    """A path is kept when it, or a mapping above it, is listed (case-insensitive)."""
    folded = fold_key(path)
    return any(folded == k or folded.startswith(k + ".") for k in map(fold_key, keep))


def _blank_all(value: Any, path: str, keep: Collection[str]) -> Any:
    """Every leaf under ``value`` blanked to "" (None and booleans stay), except kept paths."""
    if _kept(path, keep):
        return value
    if isinstance(value, Mapping):
        return {k: _blank_all(v, f"{path}.{k}", keep) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank_all(v, path, keep) for v in value]  # list items share their path
    if value is None or isinstance(value, bool):
        return value
    return ""


def _blank_path(value: Any, parts: list[str], path: str, keep: Collection[str]) -> Any:
    if not parts:
        return _blank_all(value, path, keep)
    head, rest = parts[0], parts[1:]
    if head == "*" and isinstance(value, list):
        return [_blank_path(v, rest, path, keep) for v in value]
    if not isinstance(value, Mapping):
        return value
    out = dict(value)
    for key in list(out):
        if head == "*" and path == "Tags" and str(key).startswith("aws:"):
            continue  # AWS-managed tags describe the instance, not the caller
        if head in ("*", key):
            child = f"{path}.{key}" if path else str(key)
            out[key] = _blank_path(out[key], rest, child, keep)
    return out


def _erase_recording(recording: Any, path: str, keep: Collection[str]) -> Any:
    if not isinstance(recording, Mapping) or _kept(f"{path}.Location", keep):
        return recording
    if recording.get("Status") == "DELETED" and not recording.get("Location"):
        return recording  # already erased (keep the reason it was given then)
    out = dict(recording)
    out.update(Location="", Status="DELETED", DeletionReason=DELETION_REASON)
    return out


def anonymise_record(record: Mapping[str, Any], keep: Collection[str] = ()) -> dict[str, Any]:
    """A copy of ``record`` with ``ANONYMISE_PATHS`` blanked and its recordings erased."""
    out: Any = dict(record)
    for spec in ANONYMISE_PATHS:
        out = _blank_path(out, spec.split("."), "", keep)
    if "Recording" in out:
        out["Recording"] = _erase_recording(out["Recording"], "Recording", keep)
    if isinstance(out.get("Recordings"), list):
        out["Recordings"] = [_erase_recording(r, "Recordings", keep) for r in out["Recordings"]]
    return out


def _serialise(value: Any, original: str, indent: str) -> str:
    if "\n" not in original:  # one line stays one line (JSON Lines), compact or spaced
        spaced = '": ' in original
        return json.dumps(value, ensure_ascii=False, separators=None if spaced else (",", ":"))
    # a pretty-printed record stays pretty, at the depth it sat at
    return json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n" + indent)


def _indent_of(text: str, index: int) -> str:
    """The whitespace before ``index`` on its line ("" if anything else precedes it)."""
    before = text[text.rfind("\n", 0, index) + 1:index]
    return before if not before.strip() else ""


def _render(doc: _Document, items: list[tuple[_Item, str]]) -> str:
    """The document with ``items`` (each with its text) in place of the original ones."""
    if doc.framing == "array":
        inner = [text + item.after for item, text in items]
        if inner:  # the new last item is followed by what preceded "]"
            inner[-1] = items[-1][1] + doc.items[-1].after
        return doc.head + "".join(inner) + doc.tail
    if not items:
        return ""
    return doc.head + "".join(text + item.after for item, text in items)


def _matches(record: Any, wanted: set[str]) -> bool:
    if not isinstance(record, Mapping):
        return False
    contact_id = _text(record.get("ContactId"))
    return contact_id is not None and contact_id.lower() in wanted


def rewrite_records(data: bytes, contact_ids: Collection[str], action: str,
                    keep: Collection[str] = ()) -> tuple[bytes, int]:
    """``data`` without (delete) or with blanked (anonymise) the records of ``contact_ids``.

    Returns the new bytes and how many records changed; ``(data, 0)`` when none matched or
    they are already so, which makes a repeated erasure a no-op. ``keep`` lists dotted paths
    (``Attributes.accountNumber``) anonymise leaves alone.
    """
    if action not in ACTIONS:
        raise ValueError(f"contact records: unknown action {action!r} (delete or anonymise)")
    wanted = {str(c).lower() for c in contact_ids}
    doc = _parse(data)
    kept: list[tuple[_Item, str]] = []
    changed = 0
    for item in doc.items:
        original = doc.text[item.start:item.end]
        if not _matches(item.value, wanted):
            kept.append((item, original))
        elif action == "delete":
            changed += 1
        else:
            new = anonymise_record(item.value, keep)
            if new != item.value:
                changed += 1
                original = _serialise(new, original, _indent_of(doc.text, item.start))
            kept.append((item, original))
    if not changed:
        return data, 0
    out = _render(doc, kept).encode("utf-8")
    return (gzip.compress(out, mtime=0) if doc.gzipped else out), changed

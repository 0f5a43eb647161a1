"""Sidecar JSON beside each recording (``rec-0001.wav`` + ``rec-0001.json``): parse, anonymise.

Schemas vary by recorder, so keys are dotted paths compared loosely (case, ``_`` and ``-``
ignored: ``caller_number`` finds ``callerNumber``), lists are looked into, and any other
string written like a phone becomes a number whose role is its dotted path, so an unknown
schema still matches. Pure: bytes in, a leg or bytes out; the connector does the I/O and
deletes files. Errors name the position and reason, never content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.recordings.connect import (
    RecordError,
    byte_offset,
    decode_json_text,
    fold_key,
    looks_like_phone,
    parse_timestamp,
)
from connectors.recordings.model import AUDIO_EXTENSIONS, Leg

SIDECAR_EXTENSION = "json"
INBOUND = frozenset({"in", "inbound", "incoming", "inboundcall", "received"})
OUTBOUND = frozenset({"out", "outbound", "outgoing", "outboundcall", "dialled", "dialed",
                      "placed"})
ACTIONS = ("anonymise", "delete")

_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])[+(0][\d\s().\-/]{8,}\d")

Path = tuple[str | int, ...]  # a concrete place in the JSON: keys and list indices


class SidecarError(ValueError):
    """A sidecar that cannot be read: the position and reason, never content."""


def _numbers_default() -> dict[str, tuple[str, ...]]:
    return {
        "from": ("from", "caller", "ani", "caller_number", "customer_number", "caller_id",
                 "calling_number", "src", "source_number", "caller.number", "from.number",
                 "customer.number", "customer.phone"),
        "to": ("to", "callee", "dnis", "called_number", "dialled_number", "dialed_number",
               "dst", "destination", "destination_number", "callee.number", "to.number"),
    }


@dataclass(frozen=True)
class SidecarKeys:
    """Where a sidecar keeps each thing: dotted paths, tried in order, compared loosely.
    A name spec "a+b" joins two values with a space (first and last name)."""

    id: tuple[str, ...] = ("id", "recording_id", "call_id", "uuid", "uniqueid", "callid")
    started: tuple[str, ...] = ("started", "start_time", "timestamp", "date", "start",
                                "started_at", "call_start", "calldate", "datetime")
    numbers: Mapping[str, tuple[str, ...]] = field(default_factory=_numbers_default)
    names: tuple[str, ...] = ("caller_name", "customer_name", "name", "callerid_name", "cnam",
                              "contact_name", "caller.name", "customer.name", "from.name",
                              "first_name+last_name")
    accounts: tuple[str, ...] = ("account", "account_id", "account_number", "customer_id",
                                 "accountcode", "customer.account", "customer.id")
    direction: tuple[str, ...] = ("direction", "call_direction")
    agent: tuple[str, ...] = ("agent", "agent_number", "extension", "agent_extension",
                              "agent.number", "agent.extension")
    audio: tuple[str, ...] = ("audio", "audio_file", "file", "filename", "recording_file",
                              "recordingfile", "recording", "recording.file")


DEFAULT_KEYS = SidecarKeys()


# --------------------------------------------------------------------------- paths

def sidecar_path(audio_path: str) -> str:
    """``a/b/rec.wav`` -> ``a/b/rec.json`` (the separator and directory as given)."""
    return f"{_stem_path(audio_path)}.{SIDECAR_EXTENSION}"


def audio_candidates(sidecar_path: str) -> list[str]:
    """The audio files a sidecar may sit beside: ``rec.json`` -> ``rec.wav``, ``rec.mp3`` ..."""
    stem = _stem_path(sidecar_path)
    return [f"{stem}.{ext}" for ext in (*AUDIO_EXTENSIONS, "WAV", "MP3", "GSM")]


def _split_dir(path: str) -> tuple[str, str]:
    cut = max(path.rfind("/"), path.rfind("\\")) + 1
    return path[:cut], path[cut:]


def _stem_path(path: str) -> str:
    folder, base = _split_dir(path)
    dot = base.rfind(".")
    return folder + (base[:dot] if dot > 0 else base)


def _dotted(path: Path) -> str:
    return ".".join(str(part) for part in path)


def _lookup(value: Any, parts: list[str], path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every (concrete path, value) a dotted spec reaches; lists are looked into."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _lookup(item, parts, (*path, index))
        return
    if not parts:
        yield path, value
        return
    if not isinstance(value, Mapping):
        return
    wanted = fold_key(parts[0])
    for key, child in value.items():
        if fold_key(str(key)) == wanted:
            yield from _lookup(child, parts[1:], (*path, key))


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value) if str(value).strip() else None


def _first(obj: Any, specs: tuple[str, ...], *, digits: bool = False
           ) -> tuple[Path, str] | None:
    """The first usable value; ``digits``: only one with a digit (a number, not a name)."""
    for spec in specs:
        for path, value in _lookup(obj, spec.split(".")):
            text = _scalar(value)
            if text is not None and (not digits or any(c.isdigit() for c in text)):
                return path, text
    return None


def _leaves(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from _leaves(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _leaves(child, (*path, index))
    else:
        yield path, value


# --------------------------------------------------------------------------- parsing

def _load(data: bytes, path_kind: str = "sidecar") -> dict[str, Any]:
    try:
        text = decode_json_text(data, path_kind)
    except RecordError as err:
        raise SidecarError(str(err)) from None
    text = text.removeprefix("\ufeff")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        # err.doc holds the whole text: never chain it
        raise SidecarError(f"{path_kind}: not JSON at byte {byte_offset(text, err.pos)} "
                           f"({err.msg})") from None
    if not isinstance(obj, dict):
        raise SidecarError(f"{path_kind}: expected a JSON object, found {type(obj).__name__}")
    return obj


@dataclass
class _Found:
    """What the keys located, with the concrete paths of every value used."""

    numbers: dict[str, tuple[Path, str]] = field(default_factory=dict)
    names: dict[str, tuple[list[Path], str]] = field(default_factory=dict)
    accounts: dict[str, tuple[Path, str]] = field(default_factory=dict)
    used: set[Path] = field(default_factory=set)

    def personal_paths(self) -> set[Path]:
        paths = {path for path, _ in self.numbers.values()}
        paths |= {path for path, _ in self.accounts.values()}
        for name_paths, _ in self.names.values():
            paths |= set(name_paths)
        return paths


def _find_names(obj: Any, specs: tuple[str, ...], found: _Found) -> None:
    for spec in specs:
        hits = [_first(obj, (part,)) for part in spec.split("+")]
        present = [hit for hit in hits if hit is not None and hit[0] not in found.used]
        if present:
            role = "+".join(_dotted(path) for path, _ in present)
            found.names[role] = ([path for path, _ in present],
                                 " ".join(text.strip() for _, text in present))
            found.used |= {path for path, _ in present}


def _find_accounts(obj: Any, specs: tuple[str, ...], found: _Found) -> None:
    for spec in specs:
        for path, value in _lookup(obj, spec.split(".")):
            text = _scalar(value)
            if text is not None and path not in found.used:
                found.accounts[_dotted(path)] = (path, text)
                found.used.add(path)


def _find(obj: dict[str, Any], keys: SidecarKeys) -> _Found:
    found = _Found()
    roles = {**keys.numbers, "agent": keys.agent}
    for role, specs in roles.items():
        hit = _first(obj, specs, digits=True)
        if hit is not None and hit[0] not in found.used:
            found.numbers[role] = hit
            found.used.add(hit[0])
    _find_names(obj, keys.names, found)
    _find_accounts(obj, keys.accounts, found)
    for specs in (keys.id, keys.started, keys.direction, keys.audio):
        hit = _first(obj, specs)
        if hit is not None:
            found.used.add(hit[0])
    for path, value in _leaves(obj):  # unknown schemas: any phone-looking string
        if path not in found.used and looks_like_phone(value):
            found.numbers[_dotted(path)] = (path, value)
            found.used.add(path)
    return found


def _direction(obj: Any, keys: SidecarKeys) -> str | None:
    hit = _first(obj, keys.direction)
    if hit is None:
        return None
    word = fold_key(hit[1])
    return "inbound" if word in INBOUND else "outbound" if word in OUTBOUND else None


def _ours(direction: str | None, roles: Collection[str]) -> set[str]:
    mine = {"agent"}
    if direction == "inbound":
        mine.add("to")
    elif direction == "outbound":
        mine.add("from")
    return mine & set(roles)


def _audio(obj: Any, keys: SidecarKeys, path: str) -> list[str]:
    """Audio a sidecar names, taken as a file beside it (a name never leads elsewhere)."""
    hit = _first(obj, keys.audio)
    if hit is None:
        return []
    _, base = _split_dir(hit[1].strip())
    if "." not in base or base.rsplit(".", 1)[1].lower() not in AUDIO_EXTENSIONS:
        return []
    return [_split_dir(path)[0] + base]


def leg_from_sidecar(data: bytes, path: str, keys: SidecarKeys = DEFAULT_KEYS) -> Leg:
    """The call a sidecar describes; its id is the file stem when the JSON has none."""
    obj = _load(data)
    found = _find(obj, keys)
    id_hit = _first(obj, keys.id)
    started_hit = next((value for spec in keys.started
                        for _, value in _lookup(obj, spec.split("."))
                        if parse_timestamp(value) is not None), None)
    numbers = {role: text for role, (_, text) in found.numbers.items()}
    return Leg(
        id=id_hit[1].strip() if id_hit else _split_dir(_stem_path(path))[1],
        fields=obj,
        started=parse_timestamp(started_hit),
        numbers=numbers,
        names={role: text for role, (_, text) in found.names.items()},
        accounts={role: text for role, (_, text) in found.accounts.items()},
        audio=_audio(obj, keys, path),
        ours=_ours(_direction(obj, keys), numbers),
        source=path)


# --------------------------------------------------------------------------- rewrite

def _fold_path(path: Path, *, indices: bool) -> str:
    return ".".join(fold_key(str(p)) for p in path if indices or not isinstance(p, int))


def _kept(path: Path, keep: Collection[str]) -> bool:
    """Listed in ``keep`` (or below a listed path), with or without list indices."""
    forms = {_fold_path(path, indices=True), _fold_path(path, indices=False)}
    for spec in keep:
        wanted = ".".join(fold_key(part) for part in spec.split("."))
        if any(form == wanted or form.startswith(wanted + ".") for form in forms):
            return True
    return False


def _identifying_text(value: Any) -> bool:
    """A string holding an e-mail address or a phone number anywhere in it."""
    if not isinstance(value, str):
        return False
    if _EMAIL_IN_TEXT.search(value):
        return True
    return any(looks_like_phone(run.lstrip("(")) for run in _PHONE_IN_TEXT.findall(value))


def _blank(value: Any, path: Path, targets: set[Path], keep: Collection[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: _blank(v, (*path, k), targets, keep) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v, (*path, i), targets, keep) for i, v in enumerate(value)]
    if value is None or isinstance(value, bool) or value == "":
        return value
    if (path in targets or _identifying_text(value)) and not _kept(path, keep):
        return ""
    return value


def rewrite_sidecar(data: bytes, action: str, keys: SidecarKeys = DEFAULT_KEYS,
                    keep: Collection[str] = ()) -> tuple[bytes, bool]:
    """Anonymise a sidecar: every number, name and account value, and any other string
    holding a phone or e-mail address, becomes "" unless its path is in ``keep``.

    Returns the new bytes and whether anything changed (``(data, False)`` when already so).
    "delete" is the connector's job (it deletes the file) and raises ValueError.
    """
    if action == "delete":
        raise ValueError("sidecar: delete removes the file, which the connector does")
    if action not in ACTIONS:
        raise ValueError(f"sidecar: unknown action {action!r} (anonymise)")
    obj = _load(data)
    new = _blank(obj, (), _find(obj, keys).personal_paths(), keep)
    if new == obj:
        return data, False
    pretty = b"\n" in data.strip()  # keep the file's layout: indented, spaced or compact
    compact = not pretty and b'": ' not in data
    text = json.dumps(new, ensure_ascii=False, indent=2 if pretty else None,
                      separators=(",", ":") if compact else None)
    return (text + ("\n" if data.endswith(b"\n") else "")).encode("utf-8"), True

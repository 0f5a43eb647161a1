"""Signed checkpoints: the C2SP tlog-checkpoint body inside a C2SP signed note.

A checkpoint names a log (origin), its size and its RFC 9162 root hash; a signed note adds
Ed25519 signature lines (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint),
the format golang.org/x/mod/sumdb/note reads, so a witness or a third party can check our
checkpoints with standard tools. Keys are ``cryptography`` Ed25519 objects; verifier keys
are the usual ``<name>+<hex key hash>+<base64(0x01 || public key)>`` strings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agent.errors import EXIT_VERIFICATION_FAILED, DsrError

ALG_ED25519 = b"\x01"
SIG_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100  # the spec asks for at least 16; Go's note package allows 100
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SIZE = re.compile(r"0|[1-9][0-9]*")


class NoteError(DsrError):
    """A note or checkpoint cannot be trusted; the message says why, naming keys, not data."""

    exit_code = EXIT_VERIFICATION_FAILED


class MalformedNoteError(NoteError):
    pass


class UnknownKeyError(NoteError):
    pass


class BadSignatureError(NoteError):
    pass


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


# --------------------------------------------------------------------------- checkpoints


def make_checkpoint(origin: str, size: int, root: bytes) -> str:
    if not origin or "\n" in origin or _CONTROL.search(origin):
        raise MalformedNoteError("checkpoint origin must be one non-empty line")
    if not isinstance(size, int) or size < 0:
        raise MalformedNoteError("checkpoint tree size must be a non-negative integer")
    if len(root) != 32:
        raise MalformedNoteError("checkpoint root must be a 32-byte hash")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    if not text.endswith("\n"):
        raise MalformedNoteError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise MalformedNoteError("checkpoint needs origin, size and root hash lines, none empty")
    origin, size, root_b64, *extensions = lines
    if not _SIZE.fullmatch(size):
        raise MalformedNoteError("checkpoint tree size is not a decimal number")
    root = _b64(root_b64, "checkpoint root hash")
    if len(root) != 32:
        raise MalformedNoteError("checkpoint root hash is not 32 bytes")
    return Checkpoint(origin, int(size), root, tuple(extensions))


# --------------------------------------------------------------------------- keys


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _valid_name(name: str) -> bool:
    return bool(name) and not any(c.isspace() or c == "+" for c in name) \
        and not _CONTROL.search(name)


def key_hash(name: str, public_key: Ed25519PublicKey) -> int:
    """SHA-256(name || 0x0A || 0x01 || public key)[:4] as a big-endian uint32."""
    digest = hashlib.sha256(name.encode() + b"\n" + ALG_ED25519 + _raw_public(public_key))
    return int.from_bytes(digest.digest()[:4], "big")


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    if not _valid_name(name):
        raise MalformedNoteError("key name must be non-empty, without spaces or '+'")
    encoded = base64.b64encode(ALG_ED25519 + _raw_public(public_key)).decode()
    return f"{name}+{key_hash(name, public_key):08x}+{encoded}"


@dataclass(frozen=True)
class _Verifier:
    name: str
    hash: int
    key: Ed25519PublicKey


def _parse_verifier(vkey: str) -> _Verifier:
    parts = vkey.split("+", 2)  # the base64 key itself may contain "+"
    if len(parts) != 3 or not _valid_name(parts[0]) or not re.fullmatch(r"[0-9a-fA-F]{8}",
                                                                         parts[1]):
        raise MalformedNoteError("verifier key is not <name>+<8 hex digits>+<base64 key>")
    raw = _b64(parts[2], "verifier key")
    if len(raw) != 33 or raw[:1] != ALG_ED25519:
        raise MalformedNoteError("verifier key is not an Ed25519 key")
    try:
        public = Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError as exc:
        raise MalformedNoteError("verifier key is not an Ed25519 key") from exc
    if key_hash(parts[0], public) != int(parts[1], 16):
        raise MalformedNoteError(f"verifier key {parts[0]}: key hash does not match the key")
    return _Verifier(parts[0], int(parts[1], 16), public)


def _verifiers(verifier_keys: Iterable[str]) -> dict[tuple[str, int], _Verifier]:
    known: dict[tuple[str, int], _Verifier] = {}
    for vkey in verifier_keys:
        v = _parse_verifier(vkey)
        other = known.setdefault((v.name, v.hash), v)
        if _raw_public(other.key) != _raw_public(v.key):
            raise NoteError(f"ambiguous key {v.name}+{v.hash:08x}")
    return known


def check_verifier_keys(verifier_keys: Iterable[str]) -> None:
    """Raises NoteError unless every key is a well-formed Ed25519 verifier key."""
    _verifiers(verifier_keys)


# --------------------------------------------------------------------------- notes


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedNoteError(f"{what} is not valid base64") from exc


def _check_text(text: str) -> None:
    if not text.endswith("\n") or _CONTROL.search(text):
        raise MalformedNoteError("note text must end with a newline and hold no control "
                                 "characters")


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    _check_text(text)
    if not _valid_name(name):
        raise MalformedNoteError("key name must be non-empty, without spaces or '+'")
    hash_ = key_hash(name, private_key.public_key())
    signature = hash_.to_bytes(4, "big") + private_key.sign(text.encode())
    return f"{text}\n{SIG_PREFIX}{name} {base64.b64encode(signature).decode()}\n"


@dataclass(frozen=True)
class _Signature:
    name: str
    hash: int
    signature: bytes


def _split_note(note: str | bytes) -> tuple[str, list[_Signature]]:
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedNoteError("malformed note: not UTF-8") from exc
    if _CONTROL.search(note):
        raise MalformedNoteError("malformed note: control characters")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise MalformedNoteError("malformed note: no blank line before the signatures, or "
                                 "no final newline")
    text, lines = note[:split + 1], note[split + 2:-1].split("\n")
    if lines == [""] or len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"malformed note: 1 to {MAX_SIGNATURES} signatures needed")
    return text, [_parse_signature(line) for line in lines]


def _parse_signature(line: str) -> _Signature:
    if not line.startswith(SIG_PREFIX):
        raise MalformedNoteError("malformed note: a signature line must start with an em dash")
    name, _, encoded = line[len(SIG_PREFIX):].partition(" ")
    if not _valid_name(name) or not encoded:
        raise MalformedNoteError("malformed note: a signature line lacks a valid key name")
    raw = _b64(encoded, f"signature by {name}")
    if len(raw) < 5:
        raise MalformedNoteError(f"malformed note: signature by {name} is too short")
    return _Signature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def open_note(note: str | bytes, verifier_keys: Iterable[str]) -> str:
    """The note's text, once a signature by one of ``verifier_keys`` verifies. Signatures by
    unknown keys are ignored (key rotation, witnesses); a known key's bad signature rejects
    the whole note, as the spec advises."""
    known = _verifiers(verifier_keys)
    text, signatures = _split_note(note)
    verified, others = 0, []
    for sig in signatures:
        verifier = known.get((sig.name, sig.hash))
        if verifier is None:
            others.append(f"{sig.name}+{sig.hash:08x}")
            continue
        try:
            verifier.key.verify(sig.signature, text.encode())
        except InvalidSignature as exc:
            raise BadSignatureError(
                f"invalid signature for key {sig.name}+{sig.hash:08x}") from exc
        verified += 1
    if not verified:
        raise UnknownKeyError("note has no verifiable signatures: signed only by unknown "
                              f"key(s) {', '.join(sorted(set(others)))}")
    return text


def note_text(note: str | bytes) -> str:
    """The text of a well-formed note, signatures NOT checked (for comparing, never trusting)."""
    return _split_note(note)[0]


def cosign(note: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """The note with a signature by this key added (unchanged when it already has one):
    several keys may sign one checkpoint, e.g. across a key rotation."""
    text, signatures = _split_note(note)
    hash_ = key_hash(name, private_key.public_key())
    if any((s.name, s.hash) == (name, hash_) for s in signatures):
        return note
    if len(signatures) >= MAX_SIGNATURES:
        raise MalformedNoteError(f"note already has {MAX_SIGNATURES} signatures")
    return note + sign_note(text, name, private_key)[len(text) + 1:]

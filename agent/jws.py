"""Canonical JSON (RFC 8785) and detached JWS signatures (RFC 7515 Appendix F) with Ed25519.

A receipt is signed as ``<protected>..<signature>``: the payload (the canonical receipt
bytes) travels beside the signature, not inside it. The protected header is the canonical
JSON ``{"alg":"Ed25519","kid":KID}`` (RFC 9864's fully-specified algorithm name); verifying
also accepts the older ``"EdDSA"``, which with an Ed25519 key means the same thing. Any
standard JOSE library (jwcrypto, joserfc) or ``openssl pkeyutl -rawin`` can check one.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from agent.errors import EXIT_VERIFICATION_FAILED, DsrError

ALG = "Ed25519"
ACCEPTED_ALGS = frozenset({"Ed25519", "EdDSA"})
SIGNATURE_BYTES = 64
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class SignatureError(DsrError):
    """A JWS did not verify: names what is wrong (alg, kid, form, signature)."""

    exit_code = EXIT_VERIFICATION_FAILED


def canonical(obj: Any) -> bytes:
    """RFC 8785 (JCS) bytes: sorted keys, no whitespace, ES6 number forms, UTF-8."""
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.FloatDomainError, rfc8785.IntegerDomainError):
        # the library's message quotes the number: name only the rule it broke
        raise ValueError("cannot canonicalise: numbers must be finite, and integers within "
                         "+/-(2**53 - 1)") from None
    except rfc8785.CanonicalizationError as exc:  # a type or a non-string key: no value shown
        raise ValueError(f"cannot canonicalise: {exc}") from None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, what: str) -> bytes:
    """Strict base64url without padding (RFC 7515 section 2)."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise SignatureError(f"malformed JWS: the {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"malformed JWS: the {what} is not base64url") from exc


def signing_input(protected: str, payload: bytes) -> bytes:
    """What the signature covers: ASCII(BASE64URL(header) || '.' || BASE64URL(payload))."""
    return f"{protected}.{b64url(payload)}".encode("ascii")


def sign_detached(payload: bytes, kid: str, private_key: Ed25519PrivateKey) -> str:
    """A compact JWS with the payload detached: ``<protected>..<signature>``."""
    protected = b64url(canonical({"alg": ALG, "kid": kid}))
    signature = private_key.sign(signing_input(protected, payload))
    return f"{protected}..{b64url(signature)}"


def verify_detached(jws: str, payload: bytes, keys: Mapping[str, Ed25519PublicKey]) -> str:
    """Check a detached JWS over ``payload``; returns the kid that signed it.

    ``keys`` maps kid -> public key (retired keys included). A header without a kid is
    accepted only when exactly one key is given. Raises SignatureError otherwise.
    """
    if not isinstance(jws, str):
        raise SignatureError("malformed JWS: expected compact serialisation text")
    parts = jws.strip().split(".")
    if len(parts) != 3:
        raise SignatureError("malformed JWS: expected three dot-separated parts "
                             "(<protected>..<signature>)")
    protected, attached, encoded_signature = parts
    if attached:
        raise SignatureError("malformed JWS: it carries a payload; a receipt signature is "
                             "detached (<protected>..<signature>)")
    header = _header(protected)
    key = _key(header, keys)
    signature = b64url_decode(encoded_signature, "signature")
    if len(signature) != SIGNATURE_BYTES:
        raise SignatureError(f"malformed JWS: an Ed25519 signature is {SIGNATURE_BYTES} "
                             f"bytes, this one is {len(signature)}")
    try:
        key.verify(signature, signing_input(protected, payload))
    except InvalidSignature:
        raise SignatureError("signature does not match: the payload or signature was "
                             "changed, or another key signed it") from None
    return header.get("kid") or next(iter(keys))


def _header(protected: str) -> dict[str, Any]:
    raw = b64url_decode(protected, "protected header")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignatureError("malformed JWS: the protected header is not JSON") from exc
    if not isinstance(header, dict):
        raise SignatureError("malformed JWS: the protected header is not a JSON object")
    alg = header.get("alg")
    if alg not in ACCEPTED_ALGS:
        shown = alg if isinstance(alg, str) and len(alg) <= 20 else "missing or invalid"
        raise SignatureError(f"unsupported alg {shown!r}: only Ed25519 (or EdDSA) is accepted")
    if "crit" in header:  # RFC 7515 4.1.11: extensions we do not understand must fail
        raise SignatureError("unsupported JWS: the header has critical extensions (crit)")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise SignatureError("malformed JWS: the kid is not a string")
    return header


def _key(header: dict[str, Any], keys: Mapping[str, Ed25519PublicKey]) -> Ed25519PublicKey:
    kid = header.get("kid")
    if kid is None:
        if len(keys) != 1:
            raise SignatureError("the JWS names no kid, so exactly one key must be given "
                                 f"(got {len(keys)})")
        key = next(iter(keys.values()))
    elif kid not in keys:
        raise SignatureError(f"unknown key id {kid[:64]!r}: not one of ours (was the key "
                             "given, or has it been rotated out of this folder?)")
    else:
        key = keys[kid]
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError("the key for this kid is not an Ed25519 public key")
    return key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:  # RFC 7515 4: duplicate header names must be rejected
            raise SignatureError(f"malformed JWS: duplicate header parameter {name[:20]!r}")
        out[name] = value
    return out

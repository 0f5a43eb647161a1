"""The HMAC key behind every keyed digest of an identifier (audit, suppression, receipts).

Created once, on first use, with mode 0600, and never replaced: the suppression list and
the audit trail hold only digests, so a new key would orphan them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from agent.errors import ConfigError

KEY_BYTES = 32


class DigestKey:
    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError("HMAC key too short")
        self._key = key
        self.key_id = hashlib.sha256(b"dsr-agent digest key id\0" + key).hexdigest()[:16]

    @classmethod
    def load_or_create(cls, path: Path) -> DigestKey:
        path = Path(path)
        if not path.exists():
            _create(path)
        return cls(_read(path))

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for another purpose (sealing request identifiers), bound to this
        key by HKDF, so there is one secret file to guard and back up."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=f"dsr-agent {purpose}".encode()).derive(self._key)

    def digest(self, kind: str, value: str) -> str:
        """hex HMAC-SHA256 of a normalised identifier, domain-separated by its type."""
        message = f"{kind}\0{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: if two processes race, the loser reads the winner's key, never replaces it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot create the HMAC key: {exc.strerror}", path=str(path),
                          key="agent.hmac_key") from exc
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the HMAC key: {exc.strerror}", path=str(path),
                          key="agent.hmac_key") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("the HMAC key file is corrupt (expected hex text)", path=str(path),
                          key="agent.hmac_key") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError("the HMAC key file is readable by others; run chmod 600 on it",
                          path=str(path), key="agent.hmac_key")
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise ConfigError("the HMAC key file is corrupt (expected hex text)", path=str(path),
                          key="agent.hmac_key") from exc
    if len(key) < KEY_BYTES:
        raise ConfigError(f"the HMAC key is too short (need {KEY_BYTES} bytes)",
                          path=str(path), key="agent.hmac_key")
    return key

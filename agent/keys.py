"""The HMAC key behind every keyed digest of an identifier (audit, suppression, receipts).

Created once, on first use, with mode 0600. Rotation adds a key, it never retires one for
matching: the suppression list and the audit trail hold only digests, so every older key
stays beside the current one (``<hmac_key>.d/<key_id>.key``, mode 0600) and is loaded with
it. New digests use the current key; lookups try every key, current first.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.errors import ConfigError

KEY_BYTES = 32
_CONFIG_KEY = "agent.hmac_key"


class DigestKey:
    def __init__(self, key: bytes, previous: list[DigestKey] | None = None) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError("HMAC key too short")
        self._key = key
        self.key_id = key_id_of(key)
        # older keys, newest first: kept for matching digests made before a rotation
        self.previous: list[DigestKey] = list(previous or [])

    def __repr__(self) -> str:
        return f"DigestKey(key_id={self.key_id!r}, previous={len(self.previous)})"

    @classmethod
    def load_or_create(cls, path: Path) -> DigestKey:
        path = Path(path)
        if not path.exists():
            _create(path)
        key = cls(_read(path))
        key.previous = [k for k in _load_previous(path) if k.key_id != key.key_id]
        return key

    @property
    def keys(self) -> list[DigestKey]:
        """The current key, then every older one."""
        return [self, *self.previous]

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for another purpose (sealing request identifiers), bound to this
        key by HKDF, so there is one secret file to guard and back up."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=f"dsr-agent {purpose}".encode()).derive(self._key)

    def derive_all(self, purpose: str) -> list[bytes]:
        """``derive(purpose)`` under every key, current first: seal with the first, open
        with any (e.g. a MultiFernet), so data sealed before a rotation stays readable."""
        return [key.derive(purpose) for key in self.keys]

    def digest(self, kind: str, value: str) -> str:
        """hex HMAC-SHA256 of a normalised identifier, domain-separated by its type."""
        message = f"{kind}\0{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def all_digests(self, kind: str, value: str) -> list[tuple[str, str]]:
        """(key id, digest) of a normalised identifier under every key, current first."""
        return [(key.key_id, key.digest(kind, value)) for key in self.keys]


def key_id_of(key: bytes) -> str:
    return hashlib.sha256(b"dsr-agent digest key id\0" + key).hexdigest()[:16]


def previous_folder(path: Path) -> Path:
    """Where the older keys of the key file at ``path`` live."""
    path = Path(path)
    return path.with_name(path.name + ".d")


def rotate_hmac(path: Path) -> str:
    """Make a new current key; the old one moves to ``previous_folder(path)`` (kept for
    matching, never deleted). Returns the new key id. Safe against a crash at any point
    (the old key is copied before the new one replaces it) and against a second rotation
    running at the same time (a lock in the folder)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError("there is no HMAC key to rotate (`dsr keys init` creates one)",
                          path=str(path), key=_CONFIG_KEY)
    folder = previous_folder(path)
    _make_folder(folder)
    with _locked(folder):
        old = _read(path)  # read under the lock: a concurrent rotation has finished
        _write_atomic(folder / f"{key_id_of(old)}.key", old)
        new = secrets.token_bytes(KEY_BYTES)
        _write_atomic(path, new)
    return key_id_of(new)


# --------------------------------------------------------------------------- files

def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: if two processes race, the loser reads the winner's key, never replaces it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise ConfigError(f"cannot create the HMAC key: {exc.strerror}", path=str(path),
                          key=_CONFIG_KEY) from exc
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder for older HMAC keys: {exc.strerror}",
                          path=str(folder), key=_CONFIG_KEY) from exc


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    try:
        fd = os.open(folder / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot lock the HMAC key folder: {exc.strerror}",
                          path=str(folder), key=_CONFIG_KEY) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomic(target: Path, key: bytes) -> None:
    """Write a key file (0600) beside its target, fsync it and rename it into place."""
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                    suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"cannot write an HMAC key: {exc.strerror}", path=str(target),
                          key=_CONFIG_KEY) from exc
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(key.hex() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(name, target)
        _fsync_folder(target.parent)
    except OSError as exc:
        Path(name).unlink(missing_ok=True)
        raise ConfigError(f"cannot write an HMAC key: {exc.strerror}", path=str(target),
                          key=_CONFIG_KEY) from exc


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_previous(path: Path) -> list[DigestKey]:
    """The older keys, newest first (by the time each was moved aside)."""
    folder = previous_folder(path)
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.key"), key=lambda f: (f.stat().st_mtime_ns, f.name),
                   reverse=True)
    keys = []
    for file in files:
        key = DigestKey(_read(file))
        if key.key_id != file.stem:  # a swapped or edited file must not match silently
            raise ConfigError("an older HMAC key file does not match its key id (its name)",
                              path=str(file), key=_CONFIG_KEY)
        keys.append(key)
    return keys


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the HMAC key: {exc.strerror}", path=str(path),
                          key=_CONFIG_KEY) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("the HMAC key file is corrupt (expected hex text)", path=str(path),
                          key=_CONFIG_KEY) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError("the HMAC key file is readable by others; run chmod 600 on it",
                          path=str(path), key=_CONFIG_KEY)
    try:
        key = bytes.fromhex(text)
    except ValueError as exc:
        raise ConfigError("the HMAC key file is corrupt (expected hex text)", path=str(path),
                          key=_CONFIG_KEY) from exc
    if len(key) < KEY_BYTES:
        raise ConfigError(f"the HMAC key is too short (need {KEY_BYTES} bytes)",
                          path=str(path), key=_CONFIG_KEY)
    return key

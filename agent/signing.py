"""Ed25519 signing keys for receipts and ledger checkpoints: one active key, retired ones
kept as public keys so old signatures still verify.

The folder (``[agent] signing_keys``, default ``keys/signing/``) holds, per key id (kid =
the RFC 7638 JWK thumbprint):

- ``ed25519-<kid>.key.pem``: the private key, PKCS#8 PEM, mode 0600, encrypted when a passphrase
  variable is given (its name, never its value, is recorded in the index);
- ``ed25519-<kid>.pub.pem``: the public key, SubjectPublicKeyInfo PEM;
- ``index.json``: ``{"active": kid, "passphrase_env": name|null, "keys": [{"kid", "file",
  "public_file", "created", "retired", "encrypted"}]}``.

Rotation writes a new key, marks the old one retired and deletes its private key file: a
retired key never signs again, so its secret half is only a liability.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from agent.errors import DsrError
from agent.jws import b64url

if TYPE_CHECKING:
    from agent.config import Config

INDEX = "index.json"
_LOCK = ".lock"
_INIT_HINT = "create one with `dsr keys init`"


class SigningKeyError(DsrError):
    """A signing key is missing, unreadable, too open or locked by a passphrase we lack."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = str(path) if path else None


@dataclass(frozen=True)
class KeyInfo:
    """One entry of the index (no key material)."""

    kid: str
    file: str
    public_file: str
    created: str
    retired: str | None
    encrypted: bool

    @property
    def active(self) -> bool:
        return self.retired is None

    def public(self) -> dict[str, Any]:
        return {"kid": self.kid, "status": "active" if self.active else "retired",
                "created": self.created, "retired": self.retired,
                "encrypted": self.encrypted}


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The RFC 8037 OKP JWK of a public key (the members the thumbprint covers)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 of the required members, sorted, no whitespace."""
    members = json.dumps(public_jwk(public_key), sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(members.encode("ascii")).digest())


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_keys(text: str) -> dict[str, Ed25519PublicKey]:
    """Public keys from a PEM, a JWK or a JWK set (``{"keys": [...]}``), by kid.

    The kid is always recomputed from the key: a JWK's own ``kid`` member is not trusted.
    For ``dsr receipt verify --key FILE`` and third parties' key files.
    """
    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        return _keys_from_pem(stripped)
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise SigningKeyError("not a PEM public key, JWK or JWK set") from exc
    jwks = data.get("keys") if isinstance(data, dict) else None
    items = jwks if isinstance(jwks, list) else [data]
    keys = [_key_from_jwk(item) for item in items]
    if not keys:
        raise SigningKeyError("the JWK set holds no keys")
    return {thumbprint(key): key for key in keys}


def _keys_from_pem(text: str) -> dict[str, Ed25519PublicKey]:
    out: dict[str, Ed25519PublicKey] = {}
    end = "-----END PUBLIC KEY-----"
    for block in text.split(end):
        if not block.strip():
            continue
        try:
            key = serialization.load_pem_public_key((block.strip() + "\n" + end + "\n").encode())
        except ValueError as exc:
            raise SigningKeyError("not a PEM public key (expected BEGIN PUBLIC KEY)") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError("the PEM public key is not an Ed25519 key")
        out[thumbprint(key)] = key
    return out


def _key_from_jwk(jwk: Any) -> Ed25519PublicKey:
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise SigningKeyError('the JWK is not an Ed25519 key (need kty "OKP", crv "Ed25519")')
    x = jwk.get("x")
    try:
        raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)) if isinstance(x, str) else b""
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise SigningKeyError('the JWK\'s "x" is not a 32-byte base64url key') from exc


class SigningKeys:
    """The signing keys in one folder."""

    def __init__(self, folder: Path, passphrase_env: str | None = None) -> None:
        self.folder = Path(folder)
        self._passphrase_env = passphrase_env

    @classmethod
    def for_config(cls, config: Config, passphrase_env: str | None = None) -> SigningKeys:
        return cls(config.signing_keys_path, passphrase_env)

    # -- reading ---------------------------------------------------------------------------

    def exists(self) -> bool:
        return (self.folder / INDEX).exists()

    def entries(self) -> list[KeyInfo]:
        """Every key, oldest first."""
        return self._index()[1]

    def active_kid(self) -> str:
        return self._active_info().kid

    def active(self) -> tuple[str, Ed25519PrivateKey]:
        """The key that signs now (decrypted with the passphrase when it is encrypted)."""
        info = self._active_info()
        path = self._file(info.file)
        data = _read_private(path)
        key = self._decrypt(data, path, info)
        if thumbprint(key.public_key()) != info.kid:
            raise SigningKeyError("the private key does not match its key id in the index",
                                  path)
        return info.kid, key

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every key's public half, retired keys too, by kid (no passphrase needed)."""
        return {info.kid: self._public(info) for info in self.entries()}

    def jwk(self, kid: str) -> dict[str, str]:
        return {**public_jwk(self._public(self._info(kid))), "kid": kid}

    def pem(self, kid: str) -> str:
        return public_pem(self._public(self._info(kid)))

    # -- changing --------------------------------------------------------------------------

    def init(self) -> str:
        """Create the first key; refuses when the folder already has keys."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._locked():
            if self.exists():
                raise SigningKeyError("a signing key already exists here; to replace it use "
                                      "`dsr keys rotate`", self.folder)
            env = self._passphrase_env
            info = self._create(env)
            self._write_index({"active": info.kid, "passphrase_env": env,
                               "keys": [asdict(info)]})
            return info.kid

    def rotate(self) -> str:
        """A new active key; the old one is retired (public key kept, private key deleted)."""
        with self._locked():
            data, infos = self._index()
            env = self._passphrase_env or data.get("passphrase_env")
            new = self._create(env)
            now = _now()
            entries = [{**asdict(i), "retired": i.retired or now} for i in infos]
            self._write_index({"active": new.kid, "passphrase_env": env,
                               "keys": [*entries, asdict(new)]})
            for old in infos:
                with contextlib.suppress(FileNotFoundError):
                    self._file(old.file).unlink()
            return new.kid

    # -- internals -------------------------------------------------------------------------

    def _passphrase(self, env: str | None) -> bytes | None:
        if env is None:
            return None
        value = os.environ.get(env)
        if not value:
            raise SigningKeyError(f"the passphrase variable {env} is not set (or is empty)")
        return value.encode()

    def _create(self, env: str | None) -> KeyInfo:
        passphrase = self._passphrase(env)
        key = Ed25519PrivateKey.generate()
        kid = thumbprint(key.public_key())
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase
            else serialization.NoEncryption())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                encryption)
        info = KeyInfo(kid=kid, file=f"ed25519-{kid}.key.pem",
                       public_file=f"ed25519-{kid}.pub.pem",
                       created=_now(), retired=None, encrypted=passphrase is not None)
        _write_new(self.folder / info.file, pem, 0o600)
        _write_new(self.folder / info.public_file, public_pem(key.public_key()).encode(), 0o644)
        return info

    def _decrypt(self, data: bytes, path: Path, info: KeyInfo) -> Ed25519PrivateKey:
        env = self._passphrase_env or self._index()[0].get("passphrase_env")
        if info.encrypted and env is None:
            raise SigningKeyError("the signing key is encrypted and no passphrase variable is "
                                  "named (give --passphrase-env VAR)", path)
        passphrase = self._passphrase(env) if info.encrypted else None
        try:
            key = serialization.load_pem_private_key(data, password=passphrase)
        except TypeError as exc:  # encrypted without a password, or the reverse
            raise SigningKeyError("the signing key's encryption does not match the index "
                                  f"(encrypted: {info.encrypted})", path) from exc
        except ValueError as exc:
            reason = ("wrong passphrase" if info.encrypted
                      else "not a PKCS#8 PEM private key (corrupt?)")
            raise SigningKeyError(f"cannot load the signing key: {reason}", path) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError("the signing key is not an Ed25519 key", path)
        return key

    def _public(self, info: KeyInfo) -> Ed25519PublicKey:
        path = self._file(info.public_file)
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except FileNotFoundError as exc:
            raise SigningKeyError("public key file missing", path) from exc
        except OSError as exc:
            raise SigningKeyError(f"cannot read the public key: {exc.strerror}", path) from exc
        except ValueError as exc:
            raise SigningKeyError("the public key file is corrupt", path) from exc
        if not isinstance(key, Ed25519PublicKey) or thumbprint(key) != info.kid:
            raise SigningKeyError("the public key does not match its key id in the index", path)
        return key

    def _index(self) -> tuple[dict[str, Any], list[KeyInfo]]:
        path = self.folder / INDEX
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SigningKeyError(f"no signing key; {_INIT_HINT}", self.folder) from exc
        except OSError as exc:
            raise SigningKeyError(f"cannot read the key index: {exc.strerror}", path) from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SigningKeyError("the key index is corrupt (not JSON)", path) from exc
        try:
            infos = [KeyInfo(**entry) for entry in data["keys"]]
        except (KeyError, TypeError) as exc:
            raise SigningKeyError("the key index is corrupt (missing or unknown fields)",
                                  path) from exc
        return data, infos

    def _active_info(self) -> KeyInfo:
        data, infos = self._index()
        for info in infos:
            if info.kid == data.get("active") and info.active:
                return info
        raise SigningKeyError(f"the key index names no active key; {_INIT_HINT}",
                              self.folder / INDEX)

    def _info(self, kid: str) -> KeyInfo:
        for info in self.entries():
            if info.kid == kid:
                return info
        raise SigningKeyError(f"no signing key with id {kid}", self.folder)

    def _file(self, name: str) -> Path:
        if Path(name).name != name or name in {"", ".", ".."}:  # the index must not point out
            raise SigningKeyError("the key index names a file outside its folder",
                                  self.folder / INDEX)
        return self.folder / name

    def _write_index(self, data: dict[str, Any]) -> None:
        # write then rename, so a crash leaves the old index or the new one, never half
        tmp = self.folder / f".{INDEX}.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.folder / INDEX)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # two `dsr keys` runs at once must not both create or rotate
        if not self.folder.is_dir():
            raise SigningKeyError(f"no signing key; {_INIT_HINT}", self.folder)
        fd = os.open(self.folder / _LOCK, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _read_private(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise SigningKeyError(f"the active signing key file is missing; {_INIT_HINT}",
                              path) from exc
    except OSError as exc:
        raise SigningKeyError(f"cannot read the signing key: {exc.strerror}", path) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError("the signing key file is open to others; run chmod 600 on it",
                              path)
    return data


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise SigningKeyError(f"cannot create the key file: {exc.strerror}", path) from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

"""API bearer tokens in the state store: shown once, kept only as SHA-256 hashes.

Scopes nest: ``admin`` can do what ``approve`` can, ``approve`` what ``read`` can.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from agent.errors import DsrError
from agent.store import create_tables, metadata

SCOPES = ("read", "approve", "admin")
TOKEN_PREFIX = "dsr_"

api_tokens = sa.Table(
    "dsr_api_tokens", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("scope", sa.String(20), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
)


class TokenError(DsrError):
    """A token operation failed: unknown scope, unknown token id."""


@dataclass(frozen=True)
class Token:
    id: str
    name: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "scope": self.scope,
                "created_at": _iso(self.created_at), "revoked_at": _iso(self.revoked_at),
                "last_used_at": _iso(self.last_used_at)}


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_tables(engine)

    def create(self, name: str, scope: str) -> tuple[Token, str]:
        """A new token and its secret: the only time the secret exists in clear."""
        if scope not in SCOPES:
            raise TokenError(f"unknown scope {scope!r}; one of {', '.join(SCOPES)}")
        if not name.strip():
            raise TokenError("a token needs a name (who or what uses it)")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = Token(id="T-" + secrets.token_hex(6), name=name.strip(), scope=scope,
                      created_at=_now())
        with self.engine.begin() as conn:
            conn.execute(api_tokens.insert().values(
                id=token.id, name=token.name, scope=scope, hash=hash_token(secret),
                created_at=token.created_at))
        return token, secret

    def list(self) -> list[Token]:
        query = sa.select(api_tokens).order_by(api_tokens.c.created_at)
        with self.engine.connect() as conn:
            return [_token(r) for r in conn.execute(query).mappings()]

    def revoke(self, token_id: str) -> Token:
        with self.engine.begin() as conn:
            done = conn.execute(api_tokens.update().where(
                api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=_now())).rowcount
        if not done:
            known = {t.id for t in self.list()}
            if token_id not in known:
                raise TokenError(f"no token {token_id!r} (dsr tokens list)")
        return next(t for t in self.list() if t.id == token_id)

    def check(self, secret: str) -> Token | None:
        """The live token this secret belongs to (its use recorded), or None."""
        digest = hash_token(secret)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(api_tokens).where(
                api_tokens.c.hash == digest)).mappings().first()
            if row is None or row["revoked_at"] is not None:
                return None
            used = _now()
            conn.execute(api_tokens.update().where(api_tokens.c.id == row["id"])
                         .values(last_used_at=used))
        return _token({**row, "last_used_at": used})


def _token(row: Any) -> Token:
    return Token(id=row["id"], name=row["name"], scope=row["scope"],
                 created_at=_aware(row["created_at"]), revoked_at=_aware(row["revoked_at"]),
                 last_used_at=_aware(row["last_used_at"]))


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: Any) -> Any:
    # SQLite hands back naive datetimes; they were stored as UTC
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None

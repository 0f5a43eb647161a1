"""The state store: an audit record of every search (later: requests, plans, journal).

SQLAlchemy Core, a SQLite file by default, a PostgreSQL URL accepted. Identifiers are
stored only as keyed digests; the store never holds a raw identifier value.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from agent.config import mask_url
from agent.errors import ConfigError
from agent.keys import DigestKey
from agent.models import SearchResult

metadata = sa.MetaData()

searches = sa.Table(
    "dsr_searches", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("operator", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("subjects", sa.Integer, nullable=False),
    sa.Column("rounds", sa.Integer),
    sa.Column("systems", sa.Text),  # JSON: name, status, seconds, error
    sa.Column("digest_key_id", sa.String(32), nullable=False),
)

search_identifiers = sa.Table(
    "dsr_search_identifiers", metadata,
    sa.Column("search_id", sa.String(36), sa.ForeignKey("dsr_searches.id"), nullable=False,
              index=True),
    sa.Column("subject_ref", sa.String(200), nullable=False),
    sa.Column("identifier", sa.String(40), nullable=False),  # email#1
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, index=True),
    sa.Column("origin", sa.String(500), nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("findings", sa.Integer, nullable=False, default=0),
)


_CREATE_LOCK = threading.Lock()


def create_tables(engine: Engine) -> None:
    """Create whatever state tables are missing. Threads of one process take turns; a
    second process creating the same table at the same moment loses the race harmlessly,
    so one retry sees the tables it made."""
    with _CREATE_LOCK:
        try:
            metadata.create_all(engine)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError):
            metadata.create_all(engine)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL: a commit costs a quarter of the default journal's, and readers never block the
    # writer; a busy timeout lets two dsr processes share the file
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Store:
    def __init__(self, url: str, key: DigestKey) -> None:
        self.url = url
        self.key = key
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine: Engine = sa.create_engine(url, future=True)
            if url.startswith("sqlite"):
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            create_tables(self.engine)
        except (SQLAlchemyError, ImportError) as exc:
            raise ConfigError(f"cannot open the state store {mask_url(url)}: "
                              f"{type(exc).__name__}", key="agent.state") from exc

    def record_search(self, search_id: str, started: datetime, results: list[SearchResult], *,
                      operator: str, reason: str | None) -> None:
        systems: dict[str, dict[str, Any]] = {}
        for result in results:
            for status in result.systems:
                entry = systems.setdefault(status.name, {"name": status.name, "status": "ok",
                                                         "seconds": 0.0})
                entry["seconds"] = max(entry["seconds"], round(status.seconds, 3))
                if status.status != "ok":
                    entry["status"], entry["error"] = status.status, status.error
        rows = []
        for result in results:
            counts: dict[str, int] = {}
            for finding in result.findings:
                for ident_id in finding.internal_matched_ids:
                    counts[ident_id] = counts.get(ident_id, 0) + 1
            subject = result.subject
            rows += [{
                "search_id": search_id, "subject_ref": subject.ref, "identifier": i.id,
                "type": i.type, "digest": self.key.digest(i.type, i.value), "origin": i.origin,
                "round": i.round, "status": subject.status.get(i.id, "strong"),
                "findings": counts.get(i.id, 0),
            } for i in subject.identifiers]
        with self.engine.begin() as conn:
            conn.execute(searches.insert().values(
                id=search_id, started_at=started, finished_at=datetime.now(UTC),
                operator=operator, reason=reason, subjects=len(results),
                rounds=max((r.rounds for r in results), default=0),
                systems=json.dumps(list(systems.values())), digest_key_id=self.key.key_id))
            if rows:
                conn.execute(search_identifiers.insert(), rows)

    def searches(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(searches).order_by(searches.c.started_at.desc())
                                .limit(limit)).mappings().all()
        return [dict(r) for r in rows]

    def identifiers_of(self, search_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(search_identifiers)
                                .where(search_identifiers.c.search_id == search_id)
                                ).mappings().all()
        return [dict(r) for r in rows]

    def close(self) -> None:
        self.engine.dispose()

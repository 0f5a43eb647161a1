"""Exports the agent keeps are removed once older than ``[agent] export_retention_days``.

Kept exports: the export JSON a run wrote (``request.result["export"]``, wherever it is) and
every file in the exports folder (packages written there). Age is the file's modification
time. Each purge is recorded as an ``export_purged`` event on the request a file belongs to
(its recorded export, or a request id in the file's name); only counts are logged.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
import structlog

from agent.config import Config
from agent.keys import DigestKey
from agent.request_store import RequestStore, now, requests_table
from agent.store import Store

log = structlog.get_logger()

RETENTION_ACTOR = "retention"
# what the agent writes there: export JSON, packages (zip, age) and half-written files
EXPORT_SUFFIXES = (".json", ".zip", ".age", ".tmp")
_REQUEST_ID = re.compile(r"R-\d{8}-[0-9a-f]{6}")


def purge_exports(config: Config, requests: RequestStore | None = None, *,
                  at: datetime | None = None) -> int:
    """Remove kept exports older than the retention; the number of files removed."""
    if requests is not None:
        return _purge(config, requests, at)
    state = Store(config.state_url, DigestKey.load_or_create(config.hmac_key_path))
    try:
        return _purge(config, RequestStore(state), at)
    finally:
        state.close()


def _purge(config: Config, store: RequestStore, at: datetime | None) -> int:
    days = config.export_retention_days
    cutoff = ((at or now()) - timedelta(days=days)).timestamp()
    owners, known = _recorded_exports(store)
    for path in _folder_files(config):
        found = _REQUEST_ID.search(path.name)
        owners.setdefault(path, found.group(0) if found and found.group(0) in known else None)
    removed: dict[str | None, int] = {}
    for path, owner in owners.items():
        if _remove_if_old(path, cutoff):
            removed[owner] = removed.get(owner, 0) + 1
    for owner, count in removed.items():
        if owner is not None:
            store.record(owner, RETENTION_ACTOR, "export_purged",
                         f"older than {days} days", {"files": count, "retention_days": days})
    total = sum(removed.values())
    if total:
        log.info("exports.purged", files=total, retention_days=days)
    return total


def _recorded_exports(store: RequestStore) -> tuple[dict[Path, str | None], set[str]]:
    """Export JSON paths runs recorded, by the request that owns each; and every request id
    (a package named after a request is tied to it)."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(requests_table.c.id, requests_table.c.result)).all()
    owners: dict[Path, str | None] = {}
    for request_id, result in rows:
        try:
            path = json.loads(result).get("export") if result else None
        except (ValueError, AttributeError):
            path = None
        if isinstance(path, str) and path:
            owners[Path(path)] = request_id
    return owners, {r[0] for r in rows}


def _folder_files(config: Config) -> Iterator[Path]:
    """Export-like files in the exports folder; none when the folder also holds the
    agent's own files (an ``exports = "."`` must not sweep keys or the state store)."""
    folder = config.exports_dir.resolve()
    if not folder.is_dir():
        return
    own = [config.hmac_key_path, config.signing_keys_path, *([config.path] if config.path
                                                             else [])]
    if config.state_url.startswith("sqlite:///"):
        own.append(Path(config.state_url.removeprefix("sqlite:///")))
    if any(folder == p.resolve() or folder in p.resolve().parents for p in own):
        log.warning("exports.purge_skipped_folder", reason="it holds the agent's own files")
        return
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if name.endswith(EXPORT_SUFFIXES):
                yield Path(root) / name


def _remove_if_old(path: Path, cutoff: float) -> bool:
    """Regular files only (a link is left alone); a file gone meanwhile is no error."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_mtime >= cutoff:
            return False
        path.unlink()
    except (FileNotFoundError, ValueError):
        return False
    except OSError as exc:
        log.warning("exports.purge_failed", error=type(exc).__name__)
        return False
    return True

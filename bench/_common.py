"""Shared by the bench scripts: database creation, output files, percentiles."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from agent.config import mask_url

OUT = Path(__file__).resolve().parent / "out"


def ensure_database(url: str) -> None:
    """Create the target database when it does not exist (PostgreSQL, MariaDB/MySQL)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return
    name = parsed.database
    if not name or not name.replace("_", "").isalnum():
        raise SystemExit(f"database name must be letters, digits and _ (got {name!r})")
    if backend == "postgresql":
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": name}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    elif backend in ("mysql", "mariadb"):
        admin = create_engine(parsed.set(database=""))
        with admin.begin() as conn:
            conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}`"))
    else:
        raise SystemExit(f"unsupported database backend {backend!r}")
    admin.dispose()


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation): a value that was actually measured."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = round(pages * size / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": memory,
            "python": platform.python_version(), "platform": platform.platform()}


def code_version() -> str:
    """The checkout's commit, marked dirty when agent/ or connectors/ have local changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "agent", "connectors"],
                               cwd=root, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty.strip() else "")


def write_result(prefix: str, url: str, payload: dict[str, Any]) -> Path:
    """Append the run to bench/out/<prefix>-<backend>.jsonl (git-ignored)."""
    OUT.mkdir(parents=True, exist_ok=True)
    backend = make_url(url).get_backend_name()
    path = OUT / f"{prefix}-{backend}.jsonl"
    record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "url": mask_url(url),
              "command": " ".join([Path(sys.executable).name, *sys.argv]),
              "code": code_version(), "machine": machine(), **payload}
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=str) + "\n")
    return path


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

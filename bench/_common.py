"""Shared by the bench scripts: database creation, output files, percentiles."""

from __future__ import annotations

import json
import math
import os
import platform
import random
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


# --------------------------------------------------------------------------- subjects

# Who an erasure benchmark erases: a contact of a limited company or partnership, a sole
# trader (their contact row and the customer row's billing e-mail are theirs), or a prospect
# (a bought-in lead who is nobody's contact).
SUBJECT_KINDS = ("contact", "sole_trader", "prospect")


def cast_counts() -> dict[str, int]:
    """Rows per table of the demo cast, which the estate holds first: benchmark subjects are
    drawn from the ids after them (ordinary generated people)."""
    from agent.demo.estate import EstateGenerator

    return EstateGenerator(0).counts


def sample_subjects(url: str, counts: dict[str, int], seed: int,
                    exclude: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """``counts[kind]`` people of each kind in SUBJECT_KINDS, still in the estate, drawn at
    random with ``seed``. Each is a dict: ``ref`` (e.g. ``contact-123``), ``kind``, ``table``,
    ``id``, ``email``, ``phone`` (or None), ``name``. ``exclude`` holds refs already used."""
    from sqlalchemy import exists as sql_exists
    from sqlalchemy import func, not_, select

    from agent.demo.schema import build_metadata

    tables = build_metadata().tables
    contacts, customers, prospects = (tables["contacts"], tables["customers"],
                                      tables["prospects"])
    cast = cast_counts()
    rng = random.Random(seed)
    person = select(contacts.c.id).join(customers, customers.c.id == contacts.c.customer_id) \
        .where(contacts.c.id > cast["contacts"], contacts.c.email.is_not(None))
    queries = {
        "contact": person.where(customers.c.business_type != "sole_trader"),
        "sole_trader": person.where(customers.c.business_type == "sole_trader"),
        # a lead that is also someone's contact is that contact: leave it to the contacts
        "prospect": select(prospects.c.id).where(
            prospects.c.id > cast["prospects"], prospects.c.email.is_not(None),
            not_(sql_exists().where(func.lower(contacts.c.email)
                                    == func.lower(prospects.c.email)))),
    }
    engine = create_engine(url)
    out: list[dict[str, Any]] = []
    try:
        with engine.connect() as conn:
            for kind in SUBJECT_KINDS:
                wanted = counts.get(kind, 0)
                if not wanted:
                    continue
                eligible = sorted(i for i in conn.execute(queries[kind]).scalars()
                                  if f"{kind}-{i}" not in exclude)
                if len(eligible) < wanted:
                    raise SystemExit(f"the estate has {len(eligible)} eligible {kind} "
                                     f"subjects, fewer than {wanted}")
                picks = sorted(rng.sample(eligible, wanted))
                if kind == "prospect":
                    rows = conn.execute(select(
                        prospects.c.id, prospects.c.email, prospects.c.phone.label("phone"),
                        prospects.c.full_name.label("name")).where(
                            prospects.c.id.in_(picks))).all()
                else:
                    rows = conn.execute(select(
                        contacts.c.id, contacts.c.email, contacts.c.mobile.label("phone"),
                        (contacts.c.first_name + " " + contacts.c.last_name).label("name"))
                        .where(contacts.c.id.in_(picks))).all()
                table = "prospects" if kind == "prospect" else "contacts"
                out += [{"ref": f"{kind}-{r.id}", "kind": kind, "table": table, "id": r.id,
                         "email": r.email, "phone": r.phone, "name": r.name}
                        for r in sorted(rows, key=lambda r: r.id)]
    finally:
        engine.dispose()
    rng.shuffle(out)  # the kinds interleaved, as requests arrive
    return out


def write_record(name: str, payload: dict[str, Any]) -> Path:
    """Append the run to bench/out/<name>.jsonl (for benches without a database URL)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.jsonl"
    record = {"at": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": " ".join([Path(sys.executable).name, *sys.argv]),
              "code": code_version(), "machine": machine(), **payload}
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=str) + "\n")
    return path

"""Requests, plans and the execution journal in the state store.

Beside the search audit (``agent.store``) and in the same database. Nothing here holds an
identifier in clear: identifiers and a rectification's new values are sealed (``Vault``)
while the request is open and dropped when it closes; keyed digests stay for audit,
reapplying and the suppression list.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agent.plans import Outcome, PlanItem
from agent.request import Clock, Request, RequestError, check_transition
from agent.store import Store, create_tables, metadata
from agent.vault import Vault

requests_table = sa.Table(
    "dsr_requests", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("type", sa.String(20), nullable=False),
    sa.Column("status", sa.String(30), nullable=False, index=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deadline", sa.Date, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("identity_required", sa.Integer, nullable=False),
    sa.Column("identity_verified", sa.Boolean, nullable=False, default=False),
    sa.Column("identity_waived", sa.Text),
    sa.Column("plan_id", sa.String(40)),
    sa.Column("sealed", sa.Text),  # identifiers (+ changes): Vault token, dropped on close
    sa.Column("changes_fields", sa.Text),  # JSON list of rectify field names
    sa.Column("result", sa.Text),  # JSON summary of the last run
    sa.Column("refusal", sa.Text),  # JSON
    sa.Column("digest_key_id", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)

# The statutory clock (pauses, extensions, waiting for ID). Its own table, so state stores
# made before it gain it by create_all; no row means a clock running from receipt.
request_clocks = sa.Table(
    "dsr_request_clocks", metadata,
    sa.Column("request_id", sa.String(40), sa.ForeignKey("dsr_requests.id"), primary_key=True),
    sa.Column("started", sa.Date),  # null while waiting for requested ID
    sa.Column("extension_months", sa.Integer, nullable=False, default=0),
    sa.Column("told", sa.Date),
    sa.Column("paused_days", sa.Integer, nullable=False, default=0),
    # the day a pause began; while waiting for ID (started null), the day ID was asked for
    sa.Column("paused_since", sa.Date),
)

request_digests = sa.Table(
    "dsr_request_digests", metadata,
    sa.Column("request_id", sa.String(40), sa.ForeignKey("dsr_requests.id"), nullable=False,
              index=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("origin", sa.String(20), nullable=False),  # request | found
)

events = sa.Table(
    "dsr_request_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(40), sa.ForeignKey("dsr_requests.id"), nullable=False,
              index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("event", sa.String(40), nullable=False),  # status | identity | hold | ...
    sa.Column("old", sa.String(30)),
    sa.Column("new", sa.String(30)),
    sa.Column("reason", sa.Text),
    sa.Column("detail", sa.Text),  # JSON, never identifier values
)

identity_checks = sa.Table(
    "dsr_identity_checks", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(40), sa.ForeignKey("dsr_requests.id"), nullable=False,
              index=True),
    sa.Column("document", sa.String(40), nullable=False),  # the type seen, never a copy
    sa.Column("issued", sa.Date),  # the date on a document that must be recent
    sa.Column("seen_by", sa.String(200), nullable=False),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)

holds = sa.Table(
    "dsr_holds", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(40), sa.ForeignKey("dsr_requests.id"), nullable=False,
              index=True),
    sa.Column("item", sa.String(1000), nullable=False),  # an item id, or * for all
    sa.Column("condition", sa.String(40)),  # open_complaint | dispute | legal_claim
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("placed_by", sa.String(200), nullable=False),
    sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("released_by", sa.String(200)),
    sa.Column("released_at", sa.DateTime(timezone=True)),
)

plans = sa.Table(
    "dsr_plans", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("request_id", sa.String(40), sa.ForeignKey("dsr_requests.id"), nullable=False,
              index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("search_id", sa.String(36)),
    sa.Column("state", sa.String(20), nullable=False),  # draft | approved | superseded
    sa.Column("approved_by", sa.String(200)),
    sa.Column("approved_at", sa.DateTime(timezone=True)),
    sa.Column("items", sa.Text, nullable=False),  # JSON list of PlanItem.public()
    sa.Column("systems", sa.Text, nullable=False),  # JSON: search status per system
)

journal = sa.Table(
    "dsr_journal", metadata,
    sa.Column("plan_id", sa.String(40), sa.ForeignKey("dsr_plans.id"), primary_key=True),
    sa.Column("item_id", sa.String(1000), primary_key=True),
    sa.Column("request_id", sa.String(40), nullable=False, index=True),
    sa.Column("action", sa.String(20), nullable=False),
    # started | done | failed | signed | signoff_failed (a person could not do a manual item)
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("outcome", sa.Text),  # JSON Outcome.public(), or the sign-off
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)


def now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """Short, readable, unguessable: ``R-20261129-3f9a1c``."""
    return f"{prefix}-{now():%Y%m%d}-{secrets.token_hex(3)}"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes for timezone-aware columns: they were stored in UTC
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class RequestStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine
        self.key = store.key
        self.vault = Vault(store.key)
        create_tables(self.engine)

    # ------------------------------------------------------------------ requests
    def create(self, request: Request, identifiers: list[dict[str, Any]],
               changes: dict[str, str] | None, actor: str) -> Request:
        sealed = self.vault.seal({"identifiers": identifiers, "changes": changes or {}})
        digests = [{"request_id": request.id, "type": i["type"],
                    "digest": self.key.digest(i["type"], i["value"]), "origin": "request"}
                   for i in identifiers]
        with self.engine.begin() as conn:
            conn.execute(requests_table.insert().values(
                id=request.id, type=request.type, status=request.status,
                received_at=request.received_at, deadline=request.deadline,
                created_by=request.created_by, identity_required=request.identity_required,
                identity_verified=request.identity_verified, sealed=sealed,
                changes_fields=_json(request.changes_fields), digest_key_id=self.key.key_id,
                updated_at=now()))
            conn.execute(request_digests.insert(), digests)
            self._event(conn, request.id, actor, "status", None, request.status, "created",
                        {"type": request.type, "identifiers": len(identifiers)})
        return self.get(request.id)

    def get(self, request_id: str) -> Request:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(requests_table).where(
                requests_table.c.id == request_id)).mappings().first()
        if row is None:
            raise RequestError(f"no request {request_id!r} (see `dsr request list`)")
        return self._with_clocks([_request(row)])[0]

    def list(self, *, status: Sequence[str] = (), type_: str | None = None,
             limit: int = 200) -> list[Request]:
        query = sa.select(requests_table).order_by(requests_table.c.deadline,
                                                   requests_table.c.id).limit(limit)
        if status:
            query = query.where(requests_table.c.status.in_(list(status)))
        if type_:
            query = query.where(requests_table.c.type == type_)
        with self.engine.connect() as conn:
            found = [_request(r) for r in conn.execute(query).mappings()]
        return self._with_clocks(found)

    # ------------------------------------------------------------------ clock
    def _with_clocks(self, found: list[Request]) -> list[Request]:
        if not found:
            return found
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(request_clocks).where(
                request_clocks.c.request_id.in_([r.id for r in found]))).mappings().all()
        by_id = {r["request_id"]: r for r in rows}
        for request in found:
            row = by_id.get(request.id)
            if row is not None:
                started, since = _day(row["started"]), _day(row["paused_since"])
                request.clock = Clock(
                    started=started, extension_months=row["extension_months"],
                    told=_day(row["told"]), paused_days=row["paused_days"],
                    paused_since=since if started else None,
                    id_requested=None if started else since)
        return found

    def save_clock(self, request_id: str, clock: Clock, deadline: date, *, actor: str,
                   event: str, reason: str | None, detail: dict[str, Any] | None = None
                   ) -> Request:
        """Store the clock and the deadline it gives, with the event, in one transaction."""
        values = {"started": clock.started, "extension_months": clock.extension_months,
                  "told": clock.told, "paused_days": clock.paused_days,
                  "paused_since": clock.paused_since or clock.id_requested}
        with self.engine.begin() as conn:
            conn.execute(request_clocks.delete().where(
                request_clocks.c.request_id == request_id))
            conn.execute(request_clocks.insert().values(request_id=request_id, **values))
            conn.execute(requests_table.update().where(requests_table.c.id == request_id)
                         .values(deadline=deadline, updated_at=now()))
            self._event(conn, request_id, actor, event, None, None, reason,
                        {"clock": clock.public(), "deadline": deadline.isoformat(),
                         **(detail or {})})
        return self.get(request_id)

    def secrets_of(self, request_id: str) -> dict[str, Any]:
        """The sealed identifiers and changes of an open request."""
        with self.engine.connect() as conn:
            sealed = conn.execute(sa.select(requests_table.c.sealed).where(
                requests_table.c.id == request_id)).scalar()
        if not sealed:
            raise RequestError(f"request {request_id} is closed: its identifiers were "
                               "dropped (give them again, e.g. `dsr request reapply`)")
        data: dict[str, Any] = self.vault.open(sealed)
        return data

    def digests_of(self, request_id: str) -> set[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(request_digests.c.type, request_digests.c.digest)
                                .where(request_digests.c.request_id == request_id)).all()
        return {(r[0], r[1]) for r in rows}

    def add_found_digests(self, request_id: str, pairs: Iterable[tuple[str, str]]) -> None:
        """Digests of identifiers found during search (for audit and reapply checks)."""
        known = self.digests_of(request_id)
        rows = [{"request_id": request_id, "type": t, "digest": self.key.digest(t, v),
                 "origin": "found"} for t, v in pairs]
        rows = [r for r in rows if (r["type"], r["digest"]) not in known]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(request_digests.insert(), rows)

    def update(self, request_id: str, **values: Any) -> None:
        for key in ("result", "refusal", "changes_fields"):
            if key in values and not isinstance(values[key], str | None):
                values[key] = _json(values[key])
        with self.engine.begin() as conn:
            conn.execute(requests_table.update().where(requests_table.c.id == request_id)
                         .values(updated_at=now(), **values))

    def transition(self, request: Request, new: str, actor: str, reason: str | None,
                   detail: dict[str, Any] | None = None, **values: Any) -> Request:
        check_transition(request, new)
        for key in ("result", "refusal"):
            if key in values and not isinstance(values[key], str | None):
                values[key] = _json(values[key])
        with self.engine.begin() as conn:
            # compare-and-set: two operators moving the same request cannot both win
            done = conn.execute(requests_table.update().where(
                (requests_table.c.id == request.id)
                & (requests_table.c.status == request.status)).values(
                    status=new, updated_at=now(), **values)).rowcount
            if done != 1:
                raise RequestError(f"request {request.id} changed meanwhile; look again "
                                   f"(`dsr request show {request.id}`)")
            self._event(conn, request.id, actor, "status", request.status, new, reason, detail)
        return self.get(request.id)

    def forget_identifiers(self, request_id: str) -> None:
        """Drop the sealed identifiers of a closed request; digests stay."""
        self.update(request_id, sealed=None)

    def record(self, request_id: str, actor: str, event: str, reason: str | None = None,
               detail: dict[str, Any] | None = None) -> None:
        with self.engine.begin() as conn:
            self._event(conn, request_id, actor, event, None, None, reason, detail)

    def events(self, request_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(events).where(events.c.request_id == request_id)
                                .order_by(events.c.id)).mappings().all()
        return [{"at": _aware(r["at"]).isoformat(), "actor": r["actor"],  # type: ignore[union-attr]
                 "event": r["event"], "old": r["old"], "new": r["new"], "reason": r["reason"],
                 **({"detail": json.loads(r["detail"])} if r["detail"] else {})}
                for r in rows]

    @staticmethod
    def _event(conn: Connection, request_id: str, actor: str, event: str, old: str | None,
               new: str | None, reason: str | None, detail: dict[str, Any] | None) -> None:
        conn.execute(events.insert().values(
            request_id=request_id, at=now(), actor=actor, event=event, old=old, new=new,
            reason=reason, detail=_json(detail) if detail else None))

    # ------------------------------------------------------------------ identity
    def add_documents(self, request_id: str, documents: Sequence[str], seen_by: str,
                      seen_at: datetime, issued: dict[str, date] | Any = None) -> None:
        issued = issued or {}
        with self.engine.begin() as conn:
            conn.execute(identity_checks.insert(), [
                {"request_id": request_id, "document": d, "seen_by": seen_by,
                 "seen_at": seen_at, "issued": issued.get(d)} for d in documents])
            self._event(conn, request_id, seen_by, "identity", None, None, None,
                        {"documents": list(documents)})

    def documents(self, request_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(identity_checks).where(
                identity_checks.c.request_id == request_id).order_by(identity_checks.c.id)
            ).mappings().all()
        return [{"document": r["document"], "seen_by": r["seen_by"],
                 "seen_at": _aware(r["seen_at"]).isoformat(),  # type: ignore[union-attr]
                 **({"issued": str(r["issued"])} if r["issued"] else {})} for r in rows]

    # ------------------------------------------------------------------ holds
    def add_hold(self, request_id: str, item: str, reason: str, by: str,
                 condition: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(holds.insert().values(request_id=request_id, item=item,
                                               condition=condition, reason=reason,
                                               placed_by=by, placed_at=now()))
            self._event(conn, request_id, by, "hold", None, None, reason,
                        {"item": item, "condition": condition})

    def release_holds(self, request_id: str, item: str, by: str, reason: str) -> int:
        with self.engine.begin() as conn:
            count = conn.execute(holds.update().where(
                (holds.c.request_id == request_id) & (holds.c.item == item)
                & holds.c.released_at.is_(None)).values(released_by=by, released_at=now())
            ).rowcount
            self._event(conn, request_id, by, "hold_released", None, None, reason,
                        {"item": item, "holds": count})
        return int(count)

    def holds(self, request_id: str, *, active: bool = True) -> list[dict[str, Any]]:
        query = sa.select(holds).where(holds.c.request_id == request_id).order_by(holds.c.id)
        if active:
            query = query.where(holds.c.released_at.is_(None))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # ------------------------------------------------------------------ plans
    def save_plan(self, request_id: str, items: Sequence[PlanItem], *, actor: str,
                  expires_at: datetime, search_id: str | None,
                  systems: list[dict[str, Any]]) -> str:
        plan_id = new_id("P")
        with self.engine.begin() as conn:
            conn.execute(plans.update().where((plans.c.request_id == request_id)
                                              & (plans.c.state != "superseded"))
                         .values(state="superseded"))
            conn.execute(plans.insert().values(
                id=plan_id, request_id=request_id, created_at=now(), created_by=actor,
                expires_at=expires_at, search_id=search_id, state="draft",
                items=_json([i.public() for i in items]), systems=_json(systems)))
            conn.execute(requests_table.update().where(requests_table.c.id == request_id)
                         .values(plan_id=plan_id, updated_at=now()))
        return plan_id

    def plan(self, plan_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(plans).where(plans.c.id == plan_id)).mappings().first()
        if row is None:
            raise RequestError(f"no plan {plan_id!r}")
        out = dict(row)
        out["items"] = [PlanItem.from_public(i) for i in json.loads(row["items"])]
        out["systems"] = json.loads(row["systems"])
        for key in ("created_at", "expires_at", "approved_at"):
            out[key] = _aware(out[key])
        return out

    def approve_plan(self, plan_id: str, items: Sequence[PlanItem], by: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(plans.update().where(plans.c.id == plan_id).values(
                state="approved", approved_by=by, approved_at=now(),
                items=_json([i.public() for i in items])))

    def replace_items(self, plan_id: str, items: Sequence[PlanItem]) -> None:
        with self.engine.begin() as conn:
            conn.execute(plans.update().where(plans.c.id == plan_id).values(
                items=_json([i.public() for i in items])))

    # ------------------------------------------------------------------ journal
    def journal(self, plan_id: str) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(journal).where(journal.c.plan_id == plan_id)
                                ).mappings().all()
        return {r["item_id"]: {**dict(r), "outcome": json.loads(r["outcome"])
                               if r["outcome"] else None} for r in rows}

    def journal_start(self, request_id: str, plan_id: str, items: Sequence[PlanItem]) -> None:
        """Written before a connector acts, so a crash leaves a trace of what was under way."""
        existing = self.journal(plan_id)
        with self.engine.begin() as conn:
            for item in items:
                if item.id in existing:
                    conn.execute(journal.update().where(
                        (journal.c.plan_id == plan_id) & (journal.c.item_id == item.id)
                    ).values(state="started", attempts=journal.c.attempts + 1,
                             started_at=now(), finished_at=None))
                else:
                    conn.execute(journal.insert().values(
                        plan_id=plan_id, item_id=item.id, request_id=request_id,
                        action=item.action, state="started", attempts=1, started_at=now()))

    def journal_finish(self, plan_id: str, outcomes: Sequence[Outcome]) -> None:
        with self.engine.begin() as conn:
            for outcome in outcomes:
                conn.execute(journal.update().where(
                    (journal.c.plan_id == plan_id) & (journal.c.item_id == outcome.item_id)
                ).values(state="done" if outcome.ok else "failed",
                         outcome=_json(outcome.public()), finished_at=now()))

    def journal_signoff(self, request_id: str, plan_id: str, item: PlanItem, by: str,
                        note: str | None, *, failed: bool = False) -> None:
        """A person did a manual/notify item (``signed``) or could not (``signoff_failed``,
        with the reason in ``note``); a later sign-off replaces the earlier one."""
        record = {"signed_by": by, "note": note, "at": now().isoformat()}
        state = "signoff_failed" if failed else "signed"
        with self.engine.begin() as conn:
            updated = conn.execute(journal.update().where(
                (journal.c.plan_id == plan_id) & (journal.c.item_id == item.id)).values(
                    state=state, outcome=_json(record), finished_at=now())).rowcount
            if not updated:
                conn.execute(journal.insert().values(
                    plan_id=plan_id, item_id=item.id, request_id=request_id,
                    action=item.action, state=state, attempts=0, outcome=_json(record),
                    started_at=now(), finished_at=now()))
            self._event(conn, request_id, by, "signoff_failed" if failed else "signoff",
                        None, None, note, {"item": item.id})


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _request(row: Any) -> Request:
    return Request(
        id=row["id"], type=row["type"], status=row["status"],
        received_at=_aware(row["received_at"]),  # type: ignore[arg-type]
        deadline=row["deadline"] if isinstance(row["deadline"], date)
        else date.fromisoformat(str(row["deadline"])),
        created_by=row["created_by"], identity_required=row["identity_required"],
        identity_verified=bool(row["identity_verified"]),
        identity_waived=row["identity_waived"], plan_id=row["plan_id"],
        changes_fields=json.loads(row["changes_fields"] or "[]"),
        result=json.loads(row["result"]) if row["result"] else {},
        refusal=json.loads(row["refusal"]) if row["refusal"] else None,
        updated_at=_aware(row["updated_at"]))

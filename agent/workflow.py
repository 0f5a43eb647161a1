"""The request workflow: create, verify, plan, approve, run, sign off, refuse, cancel, hold.

One service the CLI, the demo and (later) the HTTP API drive. Every step checks the
request's status against ``agent.request.TRANSITIONS``, records who did it and why, and
fires ``request_status_changed``. Identifier values live only in the engine's memory and,
sealed, in the store while the request is open.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from agent.config import Config
from agent.deadlines import (
    ClockError,
    add_months,
    check_extension,
    clock_deadline,
    days_between,
    request_deadline,
)
from agent.engine import SearchEngine, default_operator
from agent.errors import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_VERIFICATION_FAILED,
    DsrError,
    IdentifierError,
    PluginError,
)
from agent.executor import Executor, SystemRun
from agent.identifiers import TYPES, normalise, resolve_type
from agent.models import Finding, SearchResult, Subject
from agent.planner import PlanContext, apply_holds, make_plan
from agent.plans import PASSIVE_ACTIONS, SIGNOFF_ACTIONS, PlanItem
from agent.plugins import PluginManager
from agent.policy import REQUEST_TYPES, IdentityCheck
from agent.receipt_store import ReceiptStore
from agent.receipts import ReceiptInputs
from agent.request import (
    APPROVABLE,
    ICO_COMPLAINT,
    IDENTITY_WAITING,
    OPEN_STATUSES,
    PLANNABLE,
    RESUMABLE,
    RUNNABLE,
    SIGNABLE,
    Clock,
    Request,
    RequestError,
)
from agent.request_store import RequestStore, new_id, now
from agent.sar.decisions import Decision, load_decisions, save_decision
from agent.sar.package import read_export, review_items
from agent.signing import SigningKeys
from agent.subjects import add_identifier, subject_from_pairs
from agent.suppression import NAME_POSTCODE, StoreSuppressionList

log = structlog.get_logger("agent.workflow")
# Statuses a request ends a piece of work in: each gets a signed receipt.
RECEIPT_STATUSES = frozenset({"completed", "partially_completed", "refused"})

# rectify fields that are not identifier types: parts of a name, or TABLE.COLUMN
NAME_FIELDS = ("first_name", "last_name", "full_name")


class StalePlan(RequestError):
    """The data changed since the plan was approved; a new plan was made."""


@dataclass
class RunResult:
    request: Request
    exit_code: int
    summary: dict[str, Any]
    export: Path | None = None


@dataclass
class PlanView:
    request: Request
    plan: dict[str, Any]
    items: list[PlanItem] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for item in self.items:
            if item.included:
                counts[item.action] = counts.get(item.action, 0) + 1
        return {
            "request": self.request.id, "plan_id": self.plan["id"],
            "state": self.plan["state"], "created_at": self.plan["created_at"].isoformat(),
            "expires_at": self.plan["expires_at"].isoformat(),
            "approved_by": self.plan.get("approved_by"),
            "actions": counts, "left_out": sum(1 for i in self.items if not i.included),
            "systems": self.plan["systems"],
            "items": [i.public() for i in self.items],
        }


class Workflow:
    def __init__(self, config: Config, pm: PluginManager, engine: SearchEngine | None = None
                 ) -> None:
        self.config = config
        self.pm = pm
        self.engine = engine or SearchEngine(config, pm)
        self.requests = RequestStore(self.engine.store)
        self.suppression = StoreSuppressionList(self.engine.store)
        self.executor = Executor(self.requests, pm, self._connector)
        self.receipts = ReceiptStore(self.engine.store, SigningKeys.for_config(config))

    def close(self) -> None:
        self.engine.close()

    @property
    def identity(self) -> IdentityCheck:
        return self.config.policy.identity if self.config.policy else IdentityCheck()

    # ------------------------------------------------------------------ create
    def create(self, type_: str, pairs: Sequence[tuple[str, object]], *,
               received: datetime | None = None, changes: Mapping[str, str] | None = None,
               actor: str | None = None, awaiting_id: bool | None = None) -> Request:
        """``awaiting_id``: the person was asked for ID; the month counts from the day the
        identity check completes (``verify``), not from receipt. None: as the policy's
        ``identity_check.ask_on_receipt`` says."""
        if type_ not in REQUEST_TYPES:
            raise RequestError(f"unknown request type {type_!r}; one of "
                               f"{', '.join(REQUEST_TYPES)}")
        subject = subject_from_pairs("request", pairs)
        clean = _changes(changes or {}) if type_ == "rectify" else {}
        if type_ == "rectify" and not clean:
            raise RequestError("a rectify request needs the corrections: --set FIELD=VALUE")
        if type_ != "rectify" and changes:
            raise RequestError("--set is only for rectify requests")
        received = received or now()
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        if received > now() + timedelta(minutes=5):
            raise RequestError("--received is in the future")
        request = Request(
            id=new_id("R"), type=type_, status="received", received_at=received,
            deadline=request_deadline(received.date()), created_by=actor or default_operator(),
            identity_required=self.identity.required_for(type_),
            identity_verified=self.identity.required_for(type_) == 0,
            changes_fields=sorted(clean))
        identifiers = [{"type": i.type, "value": i.value, "scope": i.scope}
                       for i in subject.identifiers]
        created = self.requests.create(request, identifiers, clean, request.created_by)
        self.receipts.commit_subject(created.id, identifiers)
        self.pm.fire("request_status_changed", request=created, old=None, new="received",
                     actor=created.created_by, reason="created")
        created = self._identity_step(created)
        if awaiting_id is None:
            awaiting_id = self.identity.ask_on_receipt
        if awaiting_id and not created.identity_verified:
            created = self.requests.save_clock(
                created.id, Clock(started=None, id_requested=received.date()),
                created.deadline, actor=created.created_by, event="clock_awaiting_id",
                reason="identity requested on receipt")
        return created

    def _identity_step(self, request: Request) -> Request:
        """received -> verified when the type needs no documents, else identity_pending."""
        if request.identity_verified:
            return self._move(request, "verified", request.created_by,
                              "no identity documents required")
        return self._move(request, "identity_pending", request.created_by,
                          f"{request.identity_required} identity document(s) required")

    def get(self, request_id: str) -> Request:
        return self.requests.get(request_id)

    # ------------------------------------------------------------------ identity
    def verify(self, request_id: str, documents: Sequence[str], *, by: str,
               seen_at: datetime | None = None, lesser_reason: str | None = None,
               issued: Mapping[str, date] | None = None) -> Request:
        """Record the documents seen. ``issued`` gives the date on a document that must be
        recent (a utility bill or bank statement: the policy's max_age_months)."""
        request = self.get(request_id)
        if not request.open:
            raise RequestError(f"request {request_id} is {request.status}")
        accepted = self.identity.documents
        issued = issued or {}
        seen_at = seen_at or now()
        for doc in documents:
            if doc not in accepted:
                raise RequestError(f"unknown identity document {doc!r}; the policy accepts "
                                   f"{', '.join(accepted)}")
            max_age = self.identity.max_age_months(doc)
            if max_age is None:
                continue
            if doc not in issued:
                raise RequestError(f"{doc} must be under {max_age} months old: give the date "
                                   f"on it (--doc {doc}:YYYY-MM-DD)")
            if add_months(issued[doc], max_age) < seen_at.date():
                raise RequestError(f"{doc} dated {issued[doc].isoformat()} is older than "
                                   f"{max_age} months: ask for a recent one")
        if len(set(documents)) != len(documents):
            raise RequestError("each document counts once")
        if documents:
            self.requests.add_documents(request_id, documents, by, seen_at, issued)
        seen = {d["document"] for d in self.requests.documents(request_id)}
        verified = len(seen) >= request.identity_required
        if not verified and lesser_reason:
            self.requests.update(request_id, identity_waived=lesser_reason)
            self.requests.record(request_id, by, "identity_lesser_check", lesser_reason,
                                 {"documents": sorted(seen),
                                  "required": request.identity_required})
            verified = True
        if verified and not request.identity_verified:
            self.requests.update(request_id, identity_verified=True)
            self.requests.record(request_id, by, "identity_verified", None,
                                 {"documents": sorted(seen)})
            self._start_clock(request, seen_at.date(), by)
            request = self.get(request_id)
            if request.status in IDENTITY_WAITING:
                self._move(request, "verified", by, lesser_reason or "identity documents seen",
                           {"documents": sorted(seen)})
        return self.get(request_id)

    # ------------------------------------------------------------------ plan
    def plan(self, request_id: str, *, actor: str | None = None, reason: str = "plan"
             ) -> PlanView:
        actor = actor or default_operator()
        request = self.get(request_id)
        if request.status not in PLANNABLE:
            raise RequestError(f"request {request_id} is {request.status}: it cannot be "
                               "planned now")
        request = self._searching(request, actor, reason)
        result = self._search(request, actor)
        items = self._make_items(request, result.findings)
        return self._store_plan(request, items, result, actor, reason)

    def _store_plan(self, request: Request, items: list[PlanItem], result: SearchResult,
                    actor: str, reason: str) -> PlanView:
        expires = now() + timedelta(days=self.config.plan_expiry_days)
        systems = [s.public() for s in result.systems]
        plan_id = self.requests.save_plan(request.id, items, actor=actor, expires_at=expires,
                                          search_id=result.search_id, systems=systems)
        self.requests.add_found_digests(request.id, [
            (i.type, i.value) for i in result.subject.identifiers if i.origin != "request"
            and result.subject.status.get(i.id, "strong") == "strong"])
        request = self._searching(self.get(request.id), actor, reason)
        review = [i.id for i in items if i.notes.get("disclosure_review")]
        new = ("disclosure_review" if review and request.type in ("access", "portability")
               else "planned")
        request = self._move(request, new, actor, reason,
                             {"plan": plan_id, "items": len(items), "review": len(review)})
        return self.view(request.id)

    def _searching(self, request: Request, actor: str, reason: str) -> Request:
        """Every new plan passes through ``searching`` (a crashed search stays there)."""
        if request.status == "searching":
            return request
        return self._move(request, "searching", actor, reason)

    def view(self, request_id: str) -> PlanView:
        request = self.get(request_id)
        if not request.plan_id:
            raise RequestError(f"request {request_id} has no plan yet: "
                               f"dsr request plan {request_id}")
        plan = self.requests.plan(request.plan_id)
        return PlanView(request, plan, plan["items"])

    def _make_items(self, request: Request, findings: Sequence[Finding]) -> list[PlanItem]:
        context = PlanContext(
            request_id=request.id, request_type=request.type, policy=self.config.policy,
            connector=self._connector,
            manual_systems=[s.name for s in self.engine.systems()],
            holds=self.requests.holds(request.id), today=date.today(),
            fields=request.changes_fields)
        return make_plan(context, findings)

    # ------------------------------------------------------------------ approve
    def approve(self, request_id: str, *, by: str, include: Sequence[str] = (),
                include_weak: bool = False) -> PlanView:
        view = self.view(request_id)
        request = view.request
        if request.status not in APPROVABLE:
            raise RequestError(f"request {request_id} is {request.status}; only a planned "
                               "request (or one in disclosure review) is approved")
        if view.plan["expires_at"] < now():
            raise RequestError(f"plan {view.plan['id']} expired on "
                               f"{view.plan['expires_at']:%Y-%m-%d}: make a new one "
                               f"(dsr request plan {request_id})")
        by_id = {i.id: i for i in view.items}
        unknown = [i for i in include if i not in by_id]
        if unknown:
            raise RequestError(f"not in plan {view.plan['id']}: {', '.join(unknown)}")
        included = []
        for item in view.items:
            if not item.included and (item.id in include or include_weak):
                item.included = True
                item.notes["included_by"] = by
                included.append(item.id)
        self.requests.approve_plan(view.plan["id"], view.items, by)
        if included:
            self.requests.record(request_id, by, "included", None, {"items": included})
        reason = "disclosure review decided" if request.status == "disclosure_review" else None
        self._move(request, "approved", by, reason, {"plan": view.plan["id"],
                                                     "included": len(included)})
        return self.view(request_id)

    # ------------------------------------------------------------------ run
    def run(self, request_id: str, *, actor: str | None = None, out: Path | None = None
            ) -> RunResult:
        actor = actor or default_operator()
        request = self.get(request_id)
        resuming = request.status in RESUMABLE  # a run that crashed part-way
        if request.status not in RUNNABLE:
            raise RequestError(f"request {request_id} is {request.status}; run needs an "
                               "approved plan (dsr request approve)")
        if not request.identity_verified:
            raise RequestError(
                f"request {request_id}: identity not verified ({request.identity_required} "
                f"documents needed; dsr request verify {request_id} --doc TYPE --by NAME)")
        view = self.view(request_id)
        if view.plan["state"] != "approved":
            raise RequestError(f"plan {view.plan['id']} is not approved")
        if view.plan["expires_at"] < now() and not resuming:
            raise RequestError(f"plan {view.plan['id']} expired on "
                               f"{view.plan['expires_at']:%Y-%m-%d}: make a new one")
        secrets = self.requests.secrets_of(request_id)
        # search again first: anything that appeared since the plan needs a new plan
        result = self._search(request, actor, secrets)
        planned = {i.id for i in view.items}
        new = [f for f in result.findings if f.id not in planned]
        if new:
            fresh = self._make_items(request, result.findings)
            if resuming:
                self.requests.record(request_id, actor, "stale_on_resume", None,
                                     {"new_findings": len(new)})
            self._store_plan(request, fresh, result, actor, "stale: new findings since the plan")
            raise StalePlan(f"the data changed since plan {view.plan['id']} was approved: "
                            f"{len(new)} new finding(s). A new plan was made; review and "
                            f"approve it (dsr request show {request_id})")
        if not resuming:
            request = self._move(request, "executing", actor, None, {"plan": view.plan["id"]})
        if request.type in ("access", "portability"):
            return self._export(request, view, actor, out)
        runs = self.executor.execute(request, view.plan["id"], view.items,
                                     secrets.get("changes", {}))
        added = self._suppress_list(request, result, runs)
        request = self._verifying(request, actor, view.plan["id"])
        verification = self._verify(request, view.items, runs, actor,
                                    with_learnt(secrets, result))
        return self._finish(request, view, runs, verification, actor,
                            {"suppression_entries_added": added})

    def _export(self, request: Request, view: PlanView, actor: str, out: Path | None
                ) -> RunResult:
        path = out or self.config.exports_dir / f"{request.id}.json"
        _, runs = self.executor.export(request, view.items, path)
        request = self._verifying(request, actor, view.plan["id"])
        verification = {"method": "read", "residual": {}, "failed_systems": []}
        result = self._finish(request, view, runs, verification, actor,
                              {"export": str(path)})
        result.export = path
        return result

    def _verifying(self, request: Request, actor: str, plan_id: str) -> Request:
        """executing -> verifying once the plan is carried out (a resumed run is there)."""
        if request.status == "verifying":
            return request
        return self._move(request, "verifying", actor, None, {"plan": plan_id})

    def _suppress_list(self, request: Request, result: SearchResult,
                       runs: Sequence[SystemRun]) -> int:
        """Erasure and objection add the person's contact identifiers (digests only)."""
        if request.type not in ("erasure", "object"):
            return 0
        strong = [i for i in result.subject.identifiers
                  if result.subject.status.get(i.id, "strong") == "strong"]
        added = self.suppression.add(strong, request_id=request.id, reason=request.type)
        # name + postcode as the request gave them: screens a bought-in row that carries
        # no e-mail or phone (docs/suppression.md)
        given = [i for i in result.subject.identifiers if i.origin == "request"]
        names = [i.value for i in given if i.type == "name"]
        postcodes = [i.value for i in given if i.type == "postcode"]
        if names and postcodes:
            added += self.suppression.add_values(
                [(NAME_POSTCODE, f"{n}|{p}") for n in names for p in postcodes],
                request_id=request.id, reason=request.type)
        return added

    def _verify(self, request: Request, items: Sequence[PlanItem], runs: Sequence[SystemRun],
                actor: str, secrets: Mapping[str, Any]) -> dict[str, Any]:
        """Search again: nothing the plan removed may still be found."""
        if request.type != "erasure":
            return {"method": "connector read-back", "residual": {}, "failed_systems": []}
        result = self._search(request, actor, secrets, reason="verify")
        kept = {i.id for i in items if not i.included or i.action in PASSIVE_ACTIONS
                or i.action in SIGNOFF_ACTIONS or i.action == "quarantine"}
        residual: dict[str, int] = {}
        for finding in result.findings:
            if finding.id not in kept:
                residual[finding.system] = residual.get(finding.system, 0) + 1
        failed = [s.name for s in result.systems if s.status != "ok"]
        return {"method": "search", "search_id": result.search_id, "residual": residual,
                "failed_systems": failed}

    def _finish(self, request: Request, view: PlanView, runs: Sequence[SystemRun],
                verification: dict[str, Any], actor: str, extra: dict[str, Any]
                ) -> RunResult:
        failed = [r.name for r in runs if r.status != "ok"]
        unverified = bool(verification["residual"] or verification["failed_systems"])
        pending, not_done = self._signoffs(view)
        summary = {"run_at": now().isoformat(), "plan": view.plan["id"],
                   "systems": [r.public() for r in runs], "verification": verification,
                   "signoffs_pending": pending, **extra}
        if not_done:
            summary["signoffs_failed"] = not_done
        if failed or not_done:
            status, code = "partially_completed", EXIT_PARTIAL
        elif unverified:
            status, code = "partially_completed", EXIT_VERIFICATION_FAILED
        elif pending:
            status, code = "awaiting_signoff", EXIT_OK
        else:
            status, code = "completed", EXIT_OK
        request = self._move(request, status, actor, None,
                             {"failed_systems": failed, "residual": verification["residual"],
                              "signoffs_pending": len(pending),
                              "signoffs_failed": len(not_done)}, result=summary)
        if status == "completed":
            self.requests.forget_identifiers(request.id)
        return RunResult(request, code, summary)

    def _signoffs(self, view: PlanView) -> tuple[list[str], list[str]]:
        """The included manual/notify items still to sign off, and those signed off as not
        done, from one read of the journal."""
        journal = self.requests.journal(view.plan["id"])
        states = {i.id: journal.get(i.id, {}).get("state") for i in view.items
                  if i.included and i.action in SIGNOFF_ACTIONS}
        return ([item for item, state in states.items()
                 if state not in ("signed", "signoff_failed")],
                [item for item, state in states.items() if state == "signoff_failed"])

    # ------------------------------------------------------------------ sign-off
    def signoff(self, request_id: str, item_id: str, *, by: str, note: str | None,
                failed: bool = False) -> Request:
        """A person did a manual or notify item, or (``failed``) could not: the reason is
        ``note``. The last item signed off done completes a request waiting for it, or a
        partly completed one whose only shortfall was a manual item; one that could not
        be done leaves the request partially completed."""
        view = self.view(request_id)
        item = next((i for i in view.items if i.id == item_id), None)
        if item is None:
            raise RequestError(f"no item {item_id!r} in plan {view.plan['id']}")
        if item.action not in SIGNOFF_ACTIONS:
            raise RequestError(f"item {item_id} is {item.action}: only manual and notify "
                               "items are signed off")
        if view.request.status not in SIGNABLE:
            raise RequestError(f"request {request_id} is {view.request.status}: sign-off "
                               "comes after approval")
        if failed and not (note or "").strip():
            raise RequestError("a sign-off that the item could not be done needs the reason "
                               "(--note)")
        self.requests.journal_signoff(request_id, view.plan["id"], item, by, note,
                                      failed=failed)
        request = self.get(request_id)
        if request.status not in ("awaiting_signoff", "partially_completed"):
            return request  # the run still to come counts the sign-offs
        pending, not_done = self._signoffs(view)
        if not_done:
            if request.status == "awaiting_signoff":
                request = self._move(request, "partially_completed", by,
                                     "a manual or notify item could not be done",
                                     {"item": item_id})
            return request
        if pending or not _run_was_clean(request.result):
            return request
        request = self._move(request, "completed", by, "every manual item signed off")
        self.requests.forget_identifiers(request_id)
        return request

    # ------------------------------------------------------------------ holds
    def hold(self, request_id: str, items: Sequence[str], *, by: str, reason: str,
             condition: str | None = None, release: bool = False) -> Request:
        request = self.get(request_id)
        if not request.open:
            raise RequestError(f"request {request_id} is {request.status}")
        targets = list(items) or ["*"]
        if release:
            for target in targets:
                self.requests.release_holds(request_id, target, by, reason)
            return request
        for target in targets:
            self.requests.add_hold(request_id, target, reason, by, condition)
        if request.plan_id:
            # a hold only keeps more: the current plan is updated in place, no re-approval
            view = self.view(request_id)
            context = PlanContext(request_id, request.type, self.config.policy,
                                  self._connector, holds=self.requests.holds(request_id))
            if apply_holds(context, view.items):
                self.requests.replace_items(view.plan["id"], view.items)
        return self.get(request_id)

    # ------------------------------------------------------------------ refuse / cancel
    def refuse(self, request_id: str, *, by: str, reason: str, partial: bool = False
               ) -> Request:
        request = self.get(request_id)
        refusal = {"reason": reason, "partial": partial, "by": by, "at": now().isoformat(),
                   "right_to_complain": ICO_COMPLAINT}
        if partial:
            if not request.open:
                raise RequestError(f"request {request_id} is {request.status}")
            self.requests.update(request_id, refusal=refusal)
            self.requests.record(request_id, by, "refused_in_part", reason)
            return self.get(request_id)
        request = self._move(request, "refused", by, reason, refusal=refusal)
        self.requests.forget_identifiers(request_id)
        return request

    def cancel(self, request_id: str, *, by: str, reason: str) -> Request:
        request = self._move(self.get(request_id), "cancelled", by, reason)
        self.requests.forget_identifiers(request_id)
        return request

    # ------------------------------------------------------------------ reapply
    def reapply(self, request_id: str, pairs: Sequence[tuple[str, object]], *,
                actor: str) -> RunResult:
        """Erase again after a backup restore brought the person's records back."""
        request = self.get(request_id)
        if request.type != "erasure" or request.status != "completed":
            raise RequestError("reapply is for a completed erasure request")
        subject = subject_from_pairs("reapply", pairs)
        stored = self.requests.digests_of(request_id)
        for ident in subject.identifiers:
            # digests made before an HMAC key rotation match too: any key will do
            digests = self.engine.key.all_digests(ident.type, ident.value)
            if not any((ident.type, digest) in stored for _, digest in digests):
                raise RequestError(f"{ident.id} does not match the identifiers this request "
                                   "was made with")
        old = self.view(request_id)
        done = {i.id: i.action for i in old.items if i.included and i.runnable}
        secrets = {"identifiers": [{"type": i.type, "value": i.value, "scope": i.scope}
                                   for i in subject.identifiers], "changes": {}}
        result = self._search(request, actor, secrets, reason="reapply")
        items = self._make_items(request, result.findings)
        for item in items:
            # only what the approved erasure did, done the same way; anything else waits
            if item.kind not in ("task", "notice"):
                item.included = done.get(item.id) == item.action
        plan_id = self.requests.save_plan(
            request_id, items, actor=actor, expires_at=now() + timedelta(hours=1),
            search_id=result.search_id, systems=[s.public() for s in result.systems])
        self.requests.approve_plan(plan_id, items, f"{actor} (reapply)")
        request = self._move(self.get(request_id), "executing", actor,
                             "reapply after a restore", {"plan": plan_id})
        view = self.view(request_id)
        runs = self.executor.execute(request, plan_id, view.items, {})
        request = self._verifying(request, actor, plan_id)
        verification = self._verify(request, view.items, runs, actor, secrets)
        # the notices and manual tasks were handled the first time
        for item in view.items:
            if item.action in SIGNOFF_ACTIONS:
                item.included = False
        return self._finish(request, view, runs, verification, actor, {"reapplied": True})

    # ------------------------------------------------------------------ clock
    def _clock(self, request: Request) -> Clock:
        return request.clock or Clock(started=request.received_at.date())

    def _start_clock(self, request: Request, arrived: date, by: str) -> None:
        """The requested ID arrived: the month counts from that day (never before receipt)."""
        if request.clock is None or not request.clock.awaiting_id:
            return
        clock = replace(request.clock, started=max(arrived, request.received_at.date()),
                        id_requested=None)
        self.requests.save_clock(request.id, clock, self._deadline(clock), actor=by,
                                 event="clock_started", reason="identity verified")

    def _open_clock(self, request_id: str) -> tuple[Request, Clock]:
        request = self.get(request_id)
        if not request.open:
            raise RequestError(f"request {request_id} is {request.status}: its clock has "
                               "stopped")
        clock = self._clock(request)
        if clock.awaiting_id:
            raise RequestError(f"request {request_id} is waiting for ID: the clock starts "
                               "when the identity check completes")
        return request, clock

    @staticmethod
    def _deadline(clock: Clock) -> date:
        assert clock.started is not None
        return clock_deadline(clock.started, extension_months=clock.extension_months,
                              paused_days=clock.paused_days)

    def await_id(self, request_id: str, *, by: str, reason: str) -> Request:
        """The person was asked for ID after the request was recorded: the clock stops and
        starts afresh from the day the identity check completes (``verify``)."""
        request, clock = self._open_clock(request_id)
        if request.identity_verified:
            raise RequestError(f"request {request_id}: identity is already verified")
        if clock.paused_since:
            raise RequestError(f"request {request_id}: the clock is paused; resume it first")
        clock = replace(clock, started=None, id_requested=date.today())
        return self.requests.save_clock(request_id, clock, request.deadline, actor=by,
                                        event="clock_awaiting_id", reason=reason)

    def pause(self, request_id: str, *, by: str, reason: str, on: date | None = None
              ) -> Request:
        """Stop the clock while waiting for the person's clarification."""
        request, clock = self._open_clock(request_id)
        if clock.paused_since:
            raise RequestError(f"request {request_id}: the clock is already paused (since "
                               f"{clock.paused_since.isoformat()})")
        on = _not_future(on)
        if clock.started and on < clock.started:
            raise RequestError("the clock cannot pause before it started")
        clock = replace(clock, paused_since=on)
        return self.requests.save_clock(request_id, clock, request.deadline, actor=by,
                                        event="clock_paused", reason=reason)

    def resume(self, request_id: str, *, by: str, reason: str, on: date | None = None
               ) -> Request:
        """Start the clock again: the days paused are added to the deadline."""
        _, clock = self._open_clock(request_id)
        if not clock.paused_since:
            raise RequestError(f"request {request_id}: the clock is not paused")
        try:
            days = days_between(clock.paused_since, _not_future(on))
        except ClockError as exc:
            raise RequestError(str(exc)) from exc
        clock = replace(clock, paused_since=None, paused_days=clock.paused_days + days)
        return self.requests.save_clock(request_id, clock, self._deadline(clock), actor=by,
                                        event="clock_resumed", reason=reason,
                                        detail={"days_paused": days})

    def extend(self, request_id: str, months: int, *, by: str, reason: str, told: date
               ) -> Request:
        """Extend by 1 or 2 months (2 in all), the person told within the first month."""
        _, clock = self._open_clock(request_id)
        assert clock.started is not None
        try:
            total = check_extension(clock.started, already=clock.extension_months,
                                    more=months, told=told, paused_days=clock.paused_days,
                                    today=date.today())
        except ClockError as exc:
            raise RequestError(f"request {request_id}: {exc}") from exc
        clock = replace(clock, extension_months=total, told=told)
        return self.requests.save_clock(request_id, clock, self._deadline(clock), actor=by,
                                        event="clock_extended", reason=reason,
                                        detail={"months": months})

    def due_within(self, within: timedelta, *, today: date | None = None) -> list[Request]:
        """Open requests due within ``within`` (overdue ones first, then soonest)."""
        # hours count from now: 24h late in the day reaches into tomorrow
        horizon = today + within if today else (datetime.now(UTC) + within).date()
        today = today or date.today()
        found = [r for r in self.requests.list(status=OPEN_STATUSES, limit=100_000)
                 if (due := r.due(today)) is not None and due <= horizon]
        return sort_by_urgency(found, today)

    # ------------------------------------------------------------------ batch
    def create_batch(self, rows: Sequence[BatchRow], *, actor: str | None = None
                     ) -> list[Request]:
        """One request per row; every row is checked before any is recorded."""
        for row in rows:
            self._check_row(row)
        created: list[Request] = []
        try:
            for row in rows:
                created.append(self.create(row.type, row.pairs, received=row.received,
                                           actor=actor))
        except DsrError:
            # all or nothing: a failure part-way cancels what this batch recorded
            for request in created:
                self.cancel(request.id, by=actor or default_operator(),
                            reason="batch create failed part-way")
            raise
        return created

    def _check_row(self, row: BatchRow) -> None:
        where = f"row {row.number}"
        if row.type not in REQUEST_TYPES:
            raise RequestError(f"{where}, column type: not a request type (one of "
                               f"{', '.join(REQUEST_TYPES)})")
        if row.type == "rectify":
            raise RequestError(f"{where}, column type: rectify needs corrections; create "
                               "it with dsr request create rectify --set")
        for kind, value in row.pairs:
            try:
                subject_from_pairs("batch", [(kind, value)])
            except IdentifierError as exc:
                raise RequestError(f"{where}, column {row.columns.get(kind, kind)}: "
                                   f"{exc.reason}") from exc
        if not row.pairs:
            raise RequestError(f"{where}: no identifier (email, phone, name, postcode or "
                               "account)")
        if row.received and row.received > now() + timedelta(minutes=5):
            raise RequestError(f"{where}, column received: in the future")

    # ------------------------------------------------------------------ disclosure review
    def review(self, request_id: str) -> list[dict[str, Any]]:
        """What the package would withhold for a person's decision (item, system, table,
        why; never values), each with its decision so far or ``pending``."""
        decided = load_decisions(self.requests, request_id)
        return [{**item, **(decided[item["item"]].public() if item["item"] in decided
                            else {"decision": "pending"})}
                for item in self._review_items(self.get(request_id))]

    def _review_items(self, request: Request) -> list[dict[str, Any]]:
        """From the export once the request has run; before that, the plan's items the
        planner flagged (a decision on a finding id holds for the export too)."""
        if (request.result or {}).get("export"):
            return review_items(read_export(request), request, self.config.policy)
        if not request.plan_id:
            raise RequestError(f"request {request.id} has no plan or export yet: nothing to "
                               f"review (dsr request plan {request.id})")
        return [{"item": i.id, "system": i.system, "table": i.container,
                 "why": str(i.notes["disclosure_review"])}
                for i in self.view(request.id).items if i.notes.get("disclosure_review")]

    def decide(self, request_id: str, item: str, *, disclose: bool, note: str, by: str
               ) -> Decision:
        """Withhold ``item`` with a reason, or disclose it with the other person's consent
        (``note`` says how it was given); recorded as an event and in the decisions table."""
        if not note.strip():
            raise RequestError("a decision needs a reason (withhold) or a consent note "
                               "(disclose)")
        if not by.strip():
            raise RequestError("a decision names who made it (--by)")
        items = {i["item"] for i in self._review_items(self.get(request_id))}
        if item not in items:
            # the typed id is not echoed: a file's path may name someone
            raise RequestError(f"request {request_id} has no such item awaiting review "
                               f"(see dsr request review {request_id})")
        return save_decision(self.requests, request_id, item,
                             "disclose" if disclose else "withhold", note.strip(), by.strip())

    def review_decisions(self, request_id: str) -> dict[str, Decision]:
        """The latest decision per item, for ``build_package``."""
        return load_decisions(self.requests, request_id)

    # ------------------------------------------------------------------ helpers
    def _search(self, request: Request, actor: str,
                secrets: Mapping[str, Any] | None = None, reason: str = "plan"
                ) -> SearchResult:
        secrets = secrets or self.requests.secrets_of(request.id)
        subject = Subject(ref=request.id)
        for ident in secrets["identifiers"]:
            add_identifier(subject, ident["type"], ident["value"], scope=ident.get("scope"))
        [result] = self.engine.search([subject], operator=actor,
                                      reason=f"request {request.id}: {reason}")
        return result

    def _connector(self, system: str) -> Any:
        try:
            return self.engine.connector(self.config.system(system))
        except Exception:
            return None

    def _move(self, request: Request, new: str, actor: str, reason: str | None,
              detail: dict[str, Any] | None = None, **values: Any) -> Request:
        old = request.status
        request = self.requests.transition(request, new, actor, reason, detail, **values)
        try:
            self.pm.fire("request_status_changed", request=request, old=old, new=new,
                         actor=actor, reason=reason)
        except PluginError as exc:
            # the change is stored and stands: a listener's failure (a ticketing system
            # down) is recorded on the request, not allowed to undo or cut short the step
            log.warning("status_hook_failed", request=request.id, new=new,
                        failed=str(exc).split(":")[0],
                        error=type(exc.__cause__ or exc).__name__)
            # "plugin 'x' failed in request_status_changed" and the error's type: the
            # plugin's own message may quote the person's data
            self.requests.record(request.id, actor, "hook_failed", str(exc).split(":")[0],
                                 {"hook": "request_status_changed", "new": new,
                                  "error": type(exc.__cause__ or exc).__name__})
        if new in RECEIPT_STATUSES:
            self.issue_receipt(request, actor)
        return request

    def issue_receipt(self, request: Request, actor: str) -> dict[str, Any] | None:
        """Sign, log and keep the receipt for the request as it stands. A failure (a
        passphrase not given, say) is recorded on the request, not raised: the request's
        own outcome stands; `dsr receipt issue ID` tries again."""
        try:
            document = self.receipts.issue(self._receipt_inputs(request))
        except DsrError as exc:
            log.error("receipt_failed", request=request.id, error=str(exc))
            self.requests.record(request.id, actor, "receipt_failed", str(exc))
            return None
        self.requests.record(request.id, actor, "receipt", None,
                             {"receipt": document["receipt"]["receipt_id"]})
        return document

    def fetch_disclosed(self, export_doc: dict[str, Any], disclosed: set[str],
                        max_bytes: int = 64 << 20) -> int:
        """Copy into ``export_doc`` (in memory) the documents a person decided to disclose
        that the export only listed; returns how many. A system that cannot fetch leaves
        the listing, and the package says to send the document by hand."""
        fetched = 0
        for system, tables in (export_doc.get("systems") or {}).items():
            connector = self._connector(system)
            for rows in (tables or {}).values():
                for row in rows:
                    finding_id = row.get("finding") if isinstance(row, dict) else None
                    if (finding_id not in disclosed or row.get("content_base64")
                            or connector is None):
                        continue
                    locator = str(finding_id).split(":", 1)[1]
                    finding = Finding(system=system, kind=getattr(
                        connector, "finding_kind", "file"), locator=locator)
                    try:
                        data = connector.fetch(finding, max_bytes)
                    except DsrError as exc:
                        log.warning("disclosed_fetch_failed", system=system,
                                    error=type(exc).__name__)
                        continue
                    row["content_base64"] = base64.b64encode(data).decode("ascii")
                    fetched += 1
        return fetched

    def _receipt_inputs(self, request: Request) -> ReceiptInputs:
        commitment, _ = self.receipts.commitment_of(request.id)
        plan = self.requests.plan(request.plan_id) if request.plan_id else None
        return ReceiptInputs(
            request=request, commitment=commitment,
            documents=self.requests.documents(request.id),
            items=plan["items"] if plan else [],
            journal=self.requests.journal(plan["id"]) if plan else {},
            searched=plan["systems"] if plan else [],
            connectors={s.name: s.connector for s in self.config.systems},
            result=request.result or {})


def _not_future(day: date | None) -> date:
    today = date.today()
    if day is not None and day > today:
        raise RequestError("--on is in the future")
    return day or today


def sort_by_urgency(requests: Sequence[Request], today: date) -> list[Request]:
    """Overdue first, then by the deadline as it stands today; waiting-for-ID last."""
    far = date.max
    return sorted(requests, key=lambda r: (not r.overdue(today), r.due(today) or far, r.id))


@dataclass
class BatchRow:
    """One CSV row of `dsr request create --from`: values never appear in errors."""

    number: int
    type: str
    pairs: list[tuple[str, object]]
    received: datetime | None = None
    columns: dict[str, str] = field(default_factory=dict)  # identifier type -> column


def with_learnt(secrets: Mapping[str, Any], result: SearchResult) -> dict[str, Any]:
    """The request's identifiers plus those the search before the run learnt on the
    person's own records (a phone on their CRM contact): verification searches with all of
    them, since erasure removes the records they were learnt from, and a search by the
    request's identifiers alone would no longer reach what only they find."""
    given = {(i["type"], i["value"], i.get("scope")) for i in secrets["identifiers"]}
    learnt = [{"type": i.type, "value": i.value, "scope": i.scope}
              for i in result.subject.identifiers
              if i.origin != "request" and result.subject.status.get(i.id) == "strong"
              and (i.type, i.value, i.scope) not in given]
    return {**secrets, "identifiers": [*secrets["identifiers"], *learnt]}


def _changes(raw: Mapping[str, str]) -> dict[str, str]:
    """Validate ``--set FIELD=VALUE``: identifier types are normalised, names kept."""
    out: dict[str, str] = {}
    for field_name, value in raw.items():
        name = field_name.strip()
        if not value or not str(value).strip():
            raise RequestError(f"--set {name}: the new value is empty")
        if name in NAME_FIELDS or "." in name:
            out[name] = str(value).strip()
            continue
        try:
            itype = resolve_type(name)
        except IdentifierError as exc:
            raise RequestError(f"--set {name}: not a field dsr knows; use an identifier type "
                               f"({', '.join(sorted(TYPES))}), {', '.join(NAME_FIELDS)} or "
                               "TABLE.COLUMN") from exc
        value = str(value).strip()
        normalise(itype.name, value)  # raises IdentifierError naming the type
        out[itype.name] = value
    return out


def _run_was_clean(result: Mapping[str, Any]) -> bool:
    """The last run failed no system and left nothing behind (a partly completed request
    whose only shortfall was a manual item may then complete by sign-off)."""
    verification = result.get("verification") or {}
    return bool(result) and not verification.get("residual") and not verification.get(
        "failed_systems") and all(s.get("status") == "ok" for s in result.get("systems", []))

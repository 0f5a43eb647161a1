"""The request lifecycle: every move of the table, illegal moves, events and hooks, and the
paths real requests take through it (docs/requests.md, Statuses).

Against the demo CRM on SQLite with the shipped policy.toml.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from agent.hookspecs import hookimpl
from agent.plugins import get_plugin_manager
from agent.request import (
    FINAL_STATUSES,
    MOVES,
    OPEN_STATUSES,
    STATUSES,
    TRANSITIONS,
    RequestError,
    transitions_table,
)
from agent.workflow import Workflow
from tests.request_support import REPO, Estate, make_estate
from tests.support import calls

MAYA = [("email", "maya.okafor@example.com"), ("name", "Maya Okafor")]
HANNAH = [("email", "hannah.quigley@example.com")]
DOCS = ["passport", "driving_licence"]
JANE = [("phone", "07700 900111"), ("name", "Jane Doe")]  # the recordings estate's caller


class Listener:
    """Records every ``request_status_changed`` call."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, str, str, str | None]] = []

    @hookimpl
    def request_status_changed(self, request: Any, old: str | None, new: str, actor: str,
                               reason: str | None) -> None:
        self.seen.append((request.id, old, new, actor, reason))

    def moves(self, request_id: str) -> list[str]:
        """The statuses one request went through, in order."""
        return [new for rid, _, new, _, _ in self.seen if rid == request_id]


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Estate:
    return make_estate(tmp_path_factory.mktemp("lifecycle") / "estate", manual=False)


@pytest.fixture
def flow(estate: Estate) -> Iterator[tuple[Workflow, Listener]]:
    workflow = estate.workflow()
    listener = Listener()
    workflow.pm.pm.register(listener, name="lifecycle-listener")
    try:
        yield workflow, listener
    finally:
        workflow.pm.pm.unregister(name="lifecycle-listener")
        workflow.close()


def status_events(workflow: Workflow, request_id: str) -> list[dict[str, Any]]:
    return [e for e in workflow.requests.events(request_id) if e["event"] == "status"]


# --------------------------------------------------------------------------- the table

def test_docs_table_is_the_transitions_table() -> None:
    text = (REPO / "docs" / "requests.md").read_text()
    found = re.search(r"<!-- transitions:start -->\n(.*?)<!-- transitions:end -->", text,
                      re.DOTALL)
    assert found, "docs/requests.md lost its transitions table"
    assert found.group(1) == transitions_table()
    rows = [line.split("|")[1:3] for line in found.group(1).splitlines()[2:]]
    documented = {(old.strip(), new.strip()) for old, new in rows}
    assert documented == {(old, new) for old, targets in TRANSITIONS.items()
                          for new in targets}


def test_the_table_is_closed_and_every_open_status_is_reachable() -> None:
    assert set(STATUSES) == set(OPEN_STATUSES) | set(FINAL_STATUSES)
    assert TRANSITIONS["refused"] == () and TRANSITIONS["cancelled"] == ()
    reached = {"received"}
    frontier = ["received"]
    while frontier:
        for new in TRANSITIONS[frontier.pop()]:
            if new not in reached:
                reached.add(new)
                frontier.append(new)
    assert reached == set(STATUSES)
    # from every open status the request can still end
    for status in OPEN_STATUSES:
        assert any(t in FINAL_STATUSES or TRANSITIONS[t] for t in TRANSITIONS[status])


def test_every_move_is_allowed_recorded_and_fires_the_hook(flow) -> None:
    workflow, listener = flow
    request = workflow.create("object", HANNAH, actor="alice")
    for number, (old, new, _) in enumerate(MOVES):
        workflow.requests.update(request.id, status=old)  # put it where the move starts
        moved = workflow._move(workflow.get(request.id), new, f"op{number}", f"why {number}")
        assert moved.status == new
        event = status_events(workflow, request.id)[-1]
        assert (event["old"], event["new"], event["actor"], event["reason"]) == \
            (old, new, f"op{number}", f"why {number}")
        assert datetime.fromisoformat(event["at"]).tzinfo is not None  # when, in UTC
        assert listener.seen[-1] == (request.id, old, new, f"op{number}", f"why {number}")


@pytest.mark.parametrize("old", STATUSES)
def test_a_move_not_in_the_table_is_refused_with_a_clear_error(flow, old: str) -> None:
    workflow, listener = flow
    request = workflow.create("object", HANNAH, actor="alice")
    workflow.requests.update(request.id, status=old)
    request = workflow.get(request.id)
    count = len(listener.seen)
    for new in sorted(set(STATUSES) - set(TRANSITIONS[old])):
        with pytest.raises(RequestError, match=f"is {old}; it cannot become {new} "
                                               r"\(allowed next: "):
            workflow._move(request, new, "mallory", "not allowed")
    assert workflow.get(request.id).status == old
    assert len(listener.seen) == count  # nothing fired for a refused move


# --------------------------------------------------------------------------- real paths

def test_create_moves_on_to_identity_pending_or_verified(flow) -> None:
    workflow, listener = flow
    waiting = workflow.create("erasure", MAYA, actor="alice")
    assert waiting.status == "identity_pending" and not waiting.identity_verified
    assert listener.moves(waiting.id) == ["received", "identity_pending"]
    objection = workflow.create("object", MAYA, actor="alice")
    assert objection.status == "verified" and objection.identity_verified
    assert listener.moves(objection.id) == ["received", "verified"]
    [created, moved] = status_events(workflow, waiting.id)
    assert (created["new"], created["reason"]) == ("received", "created")
    assert moved["reason"] == "2 identity document(s) required"


def test_one_document_short_stays_pending_then_a_lesser_check_verifies(flow) -> None:
    workflow, listener = flow
    request = workflow.create("erasure", MAYA, actor="alice")
    assert workflow.verify(request.id, ["passport"], by="bob").status == "identity_pending"
    done = workflow.verify(request.id, [], by="bob", lesser_reason="known customer")
    assert done.status == "verified" and done.identity_verified
    assert status_events(workflow, request.id)[-1]["reason"] == "known customer"
    assert listener.seen[-1][1:4] == ("identity_pending", "verified", "bob")


def test_erasure_goes_the_whole_way_to_completed(flow) -> None:
    workflow, listener = flow
    request = workflow.create("erasure", HANNAH, actor="alice")
    workflow.verify(request.id, DOCS, by="alice")
    workflow.plan(request.id, actor="alice")
    workflow.approve(request.id, by="dpo")
    result = workflow.run(request.id, actor="alice")
    assert result.exit_code == 0
    for item in result.summary["signoffs_pending"]:
        workflow.signoff(request.id, item, by="dpo", note="told them")
    assert workflow.get(request.id).status == "completed"
    path = listener.moves(request.id)
    assert path[:8] == ["received", "identity_pending", "verified", "searching", "planned",
                        "approved", "executing", "verifying"]
    assert path[8:] in (["completed"], ["awaiting_signoff", "completed"])
    events = status_events(workflow, request.id)
    assert [e["new"] for e in events] == path
    assert all(e["actor"] and e["at"] for e in events)
    assert [e["old"] for e in events[1:]] == path[:-1]
    assert any(e["event"] == "receipt" for e in workflow.requests.events(request.id))


def test_plan_runs_before_identity_but_run_waits_for_it(flow) -> None:
    workflow, listener = flow
    request = workflow.create("erasure", HANNAH, actor="alice")
    workflow.plan(request.id, actor="alice")
    workflow.approve(request.id, by="dpo")
    with pytest.raises(RequestError, match="identity not verified"):
        workflow.run(request.id, actor="alice")
    verified = workflow.verify(request.id, DOCS, by="alice")
    assert verified.status == "approved" and verified.identity_verified  # flag, not status
    assert listener.moves(request.id) == ["received", "identity_pending", "searching",
                                          "planned", "approved"]
    assert workflow.run(request.id, actor="alice").exit_code == 0


def recordings_workflow(tmp_path: Path) -> Workflow:
    """A FreePBX-style call store where one of Jane's calls has an outside party."""
    calls.write_pbx_config(tmp_path, copies=False)
    return Workflow(load_config(tmp_path / "agent.toml"), get_plugin_manager())


def test_access_with_third_party_data_waits_in_disclosure_review(tmp_path: Path) -> None:
    workflow = recordings_workflow(tmp_path)
    listener = Listener()
    workflow.pm.pm.register(listener, name="lifecycle-listener")
    try:
        request = workflow.create("access", JANE, actor="alice")
        workflow.verify(request.id, DOCS, by="alice")
        view = workflow.plan(request.id, actor="alice")
        assert view.request.status == "disclosure_review"
        assert any(i.notes.get("disclosure_review") for i in view.items)
        approved = workflow.approve(request.id, by="dpo")
        assert approved.request.status == "approved"
        assert status_events(workflow, request.id)[-1]["reason"] == \
            "disclosure review decided"
        result = workflow.run(request.id, actor="alice", out=tmp_path / "export.json")
        assert (result.exit_code, result.request.status) == (0, "completed")
        assert listener.moves(request.id) == [
            "received", "identity_pending", "verified", "searching", "disclosure_review",
            "approved", "executing", "verifying", "completed"]
        # an erasure plan of the same calls needs no disclosure review
        erasure = workflow.create("erasure", JANE, actor="alice")
        assert workflow.plan(erasure.id, actor="alice").request.status == "planned"
    finally:
        workflow.pm.pm.unregister(name="lifecycle-listener")
        workflow.close()


def test_refuse_and_cancel_close_the_request(flow) -> None:
    workflow, listener = flow
    request = workflow.create("erasure", MAYA, actor="alice")
    workflow.plan(request.id, actor="alice")
    refused = workflow.refuse(request.id, by="dpo", reason="manifestly unfounded")
    assert refused.status == "refused" and not refused.open
    with pytest.raises(RequestError, match="cannot be planned"):
        workflow.plan(request.id)
    other = workflow.create("erasure", MAYA, actor="alice")
    assert workflow.cancel(other.id, by="bob", reason="duplicate").status == "cancelled"
    assert listener.moves(other.id) == ["received", "identity_pending", "cancelled"]
    with pytest.raises(RequestError, match="cannot become cancelled"):
        workflow.cancel(other.id, by="bob", reason="again")


def test_steps_out_of_order_are_refused(flow) -> None:
    workflow, _ = flow
    request = workflow.create("erasure", MAYA, actor="alice")
    with pytest.raises(RequestError, match="no plan yet"):
        workflow.approve(request.id, by="dpo")
    workflow.verify(request.id, DOCS, by="alice")
    workflow.plan(request.id, actor="alice")
    with pytest.raises(RequestError, match="is planned; run needs an approved plan"):
        workflow.run(request.id, actor="alice")
    workflow.approve(request.id, by="dpo")
    with pytest.raises(RequestError, match="only a planned request"):
        workflow.approve(request.id, by="dpo")

"""Requests: recording, deadlines, identity checks, plans, approval, holds, refusal, sign-off.

Against the demo CRM on SQLite with the shipped policy.toml; erasure itself and the other
databases are in test_request_run.py.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from agent.cli import main
from agent.errors import IdentifierError
from agent.request import RequestError
from agent.workflow import StalePlan
from tests.request_support import Estate, estate  # noqa: F401  (fixture)

MAYA = [("email", "maya.okafor@example.com"), ("name", "Maya Okafor")]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict | list | None, str]:
    code = main(["--log-level", "warning", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip().startswith(("{", "[")) else None), err


def ready(estate: Estate, kind: str = "erasure", pairs=MAYA):  # noqa: F811
    workflow = estate.workflow()
    request = workflow.create(kind, pairs, actor="alice")
    workflow.verify(request.id, ["passport", "driving_licence"], by="alice")
    return workflow, request


# --------------------------------------------------------------------------- create

def test_create_prints_the_request_with_its_id_and_deadline(estate, capsys):  # noqa: F811
    code, data, err = cli(capsys, "request", "create", "erasure", "--email",
                          "maya.okafor@example.com", "--received", "2026-01-31", "--by", "alice",
                          "--json")
    assert code == 0
    assert data["id"].startswith("R-") and data["status"] == "identity_pending"
    assert data["deadline"] == "2026-03-02"  # 28 Feb 2026 is a Saturday: next working day
    assert data["identity"] == {"required": 2, "verified": False}
    assert "maya" not in err.lower()


def test_deadline_is_one_calendar_month_with_working_day_rule(estate):  # noqa: F811
    workflow = estate.workflow()
    cases = {"2026-07-31": "2026-09-01",  # 31 Aug is a bank holiday
             "2024-01-31": "2024-02-29",  # leap year: the month's last day
             "2026-09-07": "2026-10-07"}
    for received, due in cases.items():
        request = workflow.create("access", MAYA, received=datetime.fromisoformat(received))
        assert request.deadline.isoformat() == due, received


def test_bad_requests_say_what_is_wrong(estate, capsys):  # noqa: F811
    code, _, err = cli(capsys, "request", "create", "erasure", "--email", "not-an-email")
    assert code == 1 and "invalid email" in err and "not-an-email" not in err
    code, _, err = cli(capsys, "request", "create", "rectify", "--email",
                       "maya.okafor@example.com")
    assert code == 1 and "--set FIELD=VALUE" in err
    code, _, err = cli(capsys, "request", "create", "access", "--email",
                       "maya.okafor@example.com", "--set", "email=x@example.com")
    assert code == 1 and "only for rectify" in err
    code, _, err = cli(capsys, "request", "create", "rectify", "--email",
                       "maya.okafor@example.com", "--set", "shoe_size=9")
    assert code == 1 and "shoe_size" in err
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    code, _, err = cli(capsys, "request", "create", "access", "--email",
                       "maya.okafor@example.com", "--received", future)
    assert code == 1 and "future" in err
    code, _, err = cli(capsys, "request", "show", "R-nope")
    assert code == 1 and "no request 'R-nope'" in err
    with pytest.raises(IdentifierError):
        estate.workflow().create("rectify", MAYA, changes={"email": "nope"})


def test_identifiers_are_sealed_in_the_state_store_and_dropped_on_close(estate):  # noqa: F811
    workflow = estate.workflow()
    request = workflow.create("erasure", MAYA, actor="alice")
    state = (estate.folder / "state.sqlite").read_bytes()
    assert b"maya.okafor" not in state.lower() and b"okafor" not in state.lower()
    assert workflow.requests.secrets_of(request.id)["identifiers"][0]["type"] == "email"
    workflow.cancel(request.id, by="alice", reason="withdrawn by the person")
    with pytest.raises(RequestError, match="closed"):
        workflow.requests.secrets_of(request.id)
    assert len(workflow.requests.digests_of(request.id)) == 2


# --------------------------------------------------------------------------- identity

def test_identity_check_records_documents_never_copies(estate, capsys):  # noqa: F811
    workflow = estate.workflow()
    request = workflow.create("access", MAYA)
    code, _, err = cli(capsys, "request", "verify", request.id, "--doc", "library_card",
                       "--by", "bob")
    assert code == 1 and "library_card" in err and "passport" in err
    code, data, _ = cli(capsys, "request", "verify", request.id, "--doc", "passport",
                        "--by", "bob", "--json")
    assert data["identity"]["verified"] is False  # two are needed
    code, _, err = cli(capsys, "request", "verify", request.id, "--doc", "bank_statement",
                       "--by", "bob")
    assert code == 1 and "bank_statement:YYYY-MM-DD" in err  # must be recent: give its date
    old = (date.today() - timedelta(days=120)).isoformat()
    code, _, err = cli(capsys, "request", "verify", request.id, "--doc",
                       f"bank_statement:{old}", "--by", "bob")
    assert code == 1 and "older than 3 months" in err
    recent = (date.today() - timedelta(days=10)).isoformat()
    code, data, _ = cli(capsys, "request", "verify", request.id, "--doc",
                        f"bank_statement:{recent}", "--by", "bob", "--json")
    assert data["identity"]["verified"] is True
    assert [d["document"] for d in data["identity_documents"]] == ["passport",
                                                                   "bank_statement"]
    assert all(d["seen_by"] == "bob" for d in data["identity_documents"])
    assert data["identity_documents"][1]["issued"] == recent
    # an objection needs none; a lesser check is recorded with its reason
    assert workflow.create("object", MAYA).identity_verified
    other = workflow.create("erasure", MAYA)
    other = workflow.verify(other.id, ["passport"], by="bob",
                            lesser_reason="known customer, called from the number on file")
    assert other.identity_verified and other.identity_waived


def test_run_waits_for_identity(estate):  # noqa: F811
    workflow = estate.workflow()
    request = workflow.create("erasure", MAYA)
    workflow.plan(request.id, actor="alice")  # search and plan may run before the check
    workflow.approve(request.id, by="dpo")
    with pytest.raises(RequestError, match="identity not verified"):
        workflow.run(request.id, actor="alice")


# --------------------------------------------------------------------------- plans

def test_sole_trader_plan_retains_billing_until_contract_end_plus_seven_years(estate):  # noqa: F811
    workflow, request = ready(estate)
    view = workflow.plan(request.id, actor="alice")
    items = {i.id: i for i in view.items}
    with sa.create_engine(estate.url).connect() as conn:
        ends = dict(conn.execute(sa.text(
            "select id, end_date from contracts where customer_id = 1")).all())
    latest = max(date.fromisoformat(str(d)[:10]) for d in ends.values())
    for table in ("invoices", "payments"):
        billing = [i for key, i in items.items() if key.startswith(f"crm:{table}:")]
        assert billing and all(i.action == "retain" for i in billing)
        assert {i.until for i in billing} == {latest.replace(year=latest.year + 7).isoformat()}
        assert all("HMRC" in (i.basis or "") for i in billing)
    for contract_id, end in ends.items():
        own = date.fromisoformat(str(end)[:10])
        assert items[f"crm:contracts:{contract_id}"].until == \
            own.replace(year=own.year + 7).isoformat()
    # contact data goes; the contact row that retained credit checks refer to is anonymised
    assert items["crm:contacts:1"].action == "anonymise"
    assert "kept records refer to it" in items["crm:contacts:1"].reason
    assert items["crm:customers:1"].action == "anonymise"
    for key in ("crm:devices:1", "crm:web_sessions:1", "crm:call_logs:1",
                "crm:marketing_preferences:1,email"):
        assert items[key].action == "delete", key
    assert items["cctv:manual:search"].action == "manual"
    notices = {i.id for i in view.items if i.action == "notify"}
    assert {"notify:marketing_agency", "notify:service_providers"} <= notices


def test_weak_findings_are_left_out_unless_an_approver_includes_them(estate, capsys):  # noqa: F811
    # a household landline two people share: both contact rows are only weak findings
    workflow, request = ready(estate, pairs=[("phone", "01632 960071")])
    view = workflow.plan(request.id, actor="alice")
    weak = [i for i in view.items if i.strength == "weak"]
    assert "crm:contacts:8" in {i.id for i in weak}
    assert not any(i.included for i in weak)
    assert all("left out unless an approver includes it" in i.reason for i in weak)
    code, _, err = cli(capsys, "request", "approve", request.id, "--by", "dpo",
                       "--include", "crm:nowhere:1")
    assert code == 1 and "not in plan" in err
    code, data, _ = cli(capsys, "request", "approve", request.id, "--by", "dpo",
                        "--include", "crm:contacts:8", "--json")
    assert code == 0 and data["state"] == "approved"
    chosen = next(i for i in data["items"] if i["id"] == "crm:contacts:8")
    assert chosen["included"] and chosen["notes"]["included_by"] == "dpo"
    events = workflow.requests.events(request.id)
    assert any(e["event"] == "included" and e["actor"] == "dpo" for e in events)


def test_an_expired_plan_is_not_approved_or_run(estate):  # noqa: F811
    workflow, request = ready(estate)
    view = workflow.plan(request.id, actor="alice")
    with workflow.requests.engine.begin() as conn:
        conn.execute(sa.text("update dsr_plans set expires_at = :t where id = :p"),
                     {"t": datetime.now(UTC) - timedelta(days=1), "p": view.plan["id"]})
    with pytest.raises(RequestError, match="expired"):
        workflow.approve(request.id, by="dpo")


def test_plan_expiry_is_configurable(tmp_path):
    from tests.request_support import make_estate

    made = make_estate(tmp_path / "e", agent_extra="plan_expiry_days = 2")
    workflow, request = ready(made)
    view = workflow.plan(request.id, actor="alice")
    left = view.plan["expires_at"] - datetime.now(UTC)
    assert timedelta(days=1, hours=23) < left <= timedelta(days=2)


def test_a_plan_made_stale_by_a_new_matching_row_is_refused(estate):  # noqa: F811
    workflow, request = ready(estate)
    old = workflow.plan(request.id, actor="alice")
    workflow.approve(request.id, by="dpo")
    with sa.create_engine(estate.url).begin() as conn:
        conn.execute(sa.text(
            "insert into prospects (id, full_name, email, source, imported_at) values "
            "(9001, 'Maya Okafor', 'Maya.Okafor@example.com', 'web form', '2026-11-01')"))
    with pytest.raises(StalePlan, match="1 new finding"):
        workflow.run(request.id, actor="alice")
    fresh = workflow.view(request.id)
    assert fresh.request.status == "planned" and fresh.plan["id"] != old.plan["id"]
    assert "crm:prospects:9001" in {i.id for i in fresh.items}
    with sa.create_engine(estate.url).connect() as conn:  # nothing ran
        assert conn.execute(sa.text("select count(*) from contacts where id = 1")).scalar() == 1


def test_holds_keep_items_until_released(estate, capsys):  # noqa: F811
    workflow, request = ready(estate)
    workflow.plan(request.id, actor="alice")
    code, _, _ = cli(capsys, "request", "hold", request.id, "--all", "--condition",
                     "open_complaint", "--reason", "complaint about a call in March",
                     "--by", "dpo")
    assert code == 0
    items = {i.id: i for i in workflow.view(request.id).items}
    for key in ("crm:call_logs:1", "crm:tickets:1"):  # their rules hold on open_complaint
        assert items[key].action == "retain" and items[key].held
    assert items["crm:devices:1"].action == "delete"  # the technical rule does not
    code, _, err = cli(capsys, "request", "hold", request.id, "--reason", "x")
    assert code == 2 and "ITEM... or --all" in err
    workflow.hold(request.id, ["*"], by="dpo", reason="resolved", release=True)
    replanned = {i.id: i for i in workflow.plan(request.id, actor="alice").items}
    assert replanned["crm:call_logs:1"].action == "delete"


# --------------------------------------------------------------------------- closing

def test_refusal_records_the_reason_and_the_right_to_complain(estate, capsys):  # noqa: F811
    workflow = estate.workflow()
    request = workflow.create("access", MAYA)
    code, data, _ = cli(capsys, "request", "refuse", request.id, "--reason",
                        "manifestly unfounded: fourth identical request this month",
                        "--by", "dpo", "--json")
    assert code == 0 and data["status"] == "refused"
    assert "Information Commissioner" in data["refusal"]["right_to_complain"]
    with pytest.raises(RequestError, match="refused"):
        workflow.plan(request.id)
    partly = workflow.create("erasure", MAYA)
    partly = workflow.refuse(partly.id, by="dpo", reason="invoices kept by law",
                             partial=True)
    assert partly.status == "identity_pending" and partly.refusal["partial"] is True


def test_list_orders_by_deadline_and_marks_overdue(estate, capsys):  # noqa: F811
    workflow = estate.workflow()
    old = workflow.create("access", MAYA, received=datetime(2026, 1, 5, tzinfo=UTC),
                          awaiting_id=False)  # ID not asked for: the clock ran from receipt
    workflow.create("access", MAYA, awaiting_id=False)
    code, data, _ = cli(capsys, "request", "list", "--open", "--json")
    assert code == 0 and data[0]["id"] == old.id and data[0]["overdue"] is True
    assert data[1]["overdue"] is False
    code, data, _ = cli(capsys, "request", "show", old.id, "--json")
    assert data["events"][0]["new"] == "received"


def test_a_failing_status_listener_is_recorded_and_the_change_stands(estate):  # noqa: F811
    workflow = estate.workflow()

    class Ticketing:
        from agent.hookspecs import hookimpl

        @hookimpl
        def request_status_changed(self, request, old, new, actor, reason):
            if new == "cancelled":
                raise ConnectionError("helpdesk down for maya.okafor@example.com")

    workflow.pm.pm.register(Ticketing(), name="ticketing")
    try:
        request = workflow.create("access", MAYA, actor="alice")
        cancelled = workflow.cancel(request.id, by="bob", reason="duplicate")
    finally:
        workflow.pm.pm.unregister(name="ticketing")
    assert cancelled.status == "cancelled"
    failed = [e for e in workflow.requests.events(request.id) if e["event"] == "hook_failed"]
    assert len(failed) == 1 and "ticketing" in failed[0]["reason"]
    assert "maya" not in json.dumps(failed)


def test_status_changes_fire_the_hook_and_are_recorded(estate):  # noqa: F811
    workflow = estate.workflow()
    seen = []

    class Listener:
        from agent.hookspecs import hookimpl

        @hookimpl
        def request_status_changed(self, request, old, new, actor, reason):
            seen.append((old, new, actor))

    workflow.pm.pm.register(Listener(), name="listener")
    try:
        request = workflow.create("access", MAYA, actor="alice")
        workflow.cancel(request.id, by="bob", reason="duplicate")
    finally:
        workflow.pm.pm.unregister(name="listener")
    assert seen == [(None, "received", "alice"), ("received", "identity_pending", "alice"),
                    ("identity_pending", "cancelled", "bob")]
    with pytest.raises(RequestError, match="cannot become"):
        workflow.cancel(request.id, by="bob", reason="again")

"""Running requests: verified erasure on all three live databases, the journal across a
kill -9, a failing system, residual data, exports, sign-off and reapply after a restore."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.cli import main
from agent.connector import ConnectorContext
from agent.hookspecs import hookimpl
from agent.plans import Outcome
from agent.request import RequestError
from connectors.sql.connector import SqlConnector
from tests.conftest import LOCAL_SQL_BACKENDS
from tests.request_support import REPO, Estate, make_estate

MAYA = [("email", "maya.okafor@example.com"), ("name", "Maya Okafor")]
HANNAH = [("email", "hannah.quigley@example.com")]


def count(estate: Estate, sql: str) -> int:
    engine = sa.create_engine(estate.url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar_one())
    finally:
        engine.dispose()


def approved(estate: Estate, kind: str = "erasure", pairs=MAYA, **create):
    workflow = estate.workflow()
    request = workflow.create(kind, pairs, actor="alice", **create)
    workflow.verify(request.id, ["passport", "driving_licence"], by="alice")
    workflow.plan(request.id, actor="alice")
    workflow.approve(request.id, by="dpo")
    return workflow, request


@pytest.fixture
def sqlite_estate(tmp_path: Path) -> Estate:
    return make_estate(tmp_path / "estate", manual=False)


# --------------------------------------------------------------------------- erasure

@pytest.mark.parametrize("backend", LOCAL_SQL_BACKENDS)
def test_sole_trader_erasure_is_verified_and_keeps_what_the_law_requires(
        backend, isolated_database, tmp_path):
    url = isolated_database(backend).url if backend != "sqlite" else None
    estate = make_estate(tmp_path / "estate", url, manual=False)
    workflow, request = approved(estate)
    result = workflow.run(request.id, actor="alice")
    assert result.exit_code == 0, result.summary
    assert result.request.status == "awaiting_signoff"  # the Art 19 notices
    verification = result.summary["verification"]
    assert verification == {**verification, "method": "search", "residual": {},
                            "failed_systems": []}
    # contact data gone: devices, sessions, calls, marketing; contact row anonymised
    for table in ("devices", "web_sessions", "call_logs", "marketing_preferences"):
        assert count(estate, f"select count(*) from {table} where contact_id = 1") == 0, table
    assert count(estate, "select count(*) from contacts where id = 1 and email is null") == 1
    assert count(estate, "select count(*) from contacts where email = "
                         "'mokafor.brightwater@example.com'") == 1  # the namesake untouched
    # invoices, payments, contracts and credit checks kept (HMRC / Limitation Act)
    assert count(estate, "select count(*) from invoices where customer_id = 1") >= 3
    assert count(estate, "select count(*) from credit_checks where contact_id = 1") == 1
    assert count(estate, "select count(*) from customers where id = 1 "
                         "and billing_email is null") == 1
    # a second run does nothing twice
    for item in workflow.view(request.id).items:
        if item.action == "notify":
            workflow.signoff(request.id, item.id, by="dpo", note="e-mailed")
    assert workflow.get(request.id).status == "completed"
    with pytest.raises(RequestError, match="completed"):
        workflow.run(request.id, actor="alice")


def test_a_prospect_is_erased_leaving_only_the_suppression_entry(sqlite_estate, capsys):
    workflow, request = approved(sqlite_estate, pairs=HANNAH)
    items = {i.id: i for i in workflow.view(request.id).items}
    assert items["crm:prospects:2"].action == "delete"
    result = workflow.run(request.id, actor="alice")
    assert result.exit_code == 0
    assert count(sqlite_estate, "select count(*) from prospects where id = 2") == 0
    assert count(sqlite_estate, "select count(*) from contacts where id = 9") == 0
    assert workflow.suppression.contains("email", "hannah.quigley@example.com")
    entries = workflow.suppression.entries(request.id)
    assert entries and all(len(e.digest) == 64 for e in entries)
    state = (sqlite_estate.folder / "state.sqlite").read_bytes().lower()
    assert b"hannah" not in state and b"quigley" not in state


def test_cli_run_reports_and_signoff_completes(sqlite_estate, capsys, monkeypatch):
    monkeypatch.setenv("DSR_CONFIG", str(sqlite_estate.config_path))
    _, request = approved(sqlite_estate, pairs=HANNAH)
    capsys.readouterr()
    code = main(["--log-level", "warning", "request", "run", request.id, "--json"])
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert code == 0 and data["status"] == "awaiting_signoff"
    assert data["run"]["verification"]["residual"] == {}
    assert "hannah" not in (out + err).lower()
    first = data["run"]["signoffs_pending"][0]
    assert main(["request", "signoff", request.id, first, "--by", "dpo", "--failed"]) != 0
    assert "needs the reason" in capsys.readouterr().err
    for item in data["run"]["signoffs_pending"]:
        assert main(["request", "signoff", request.id, item, "--by", "dpo", "--note",
                     "sent"]) == 0
    capsys.readouterr()
    main(["request", "show", request.id, "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "completed"
    assert any(e["event"] == "signoff" for e in shown["events"])


def test_a_notice_that_could_not_be_sent_leaves_the_request_partly_done_until_it_is(
        sqlite_estate):
    workflow, request = approved(sqlite_estate, pairs=HANNAH)
    result = workflow.run(request.id, actor="alice")
    assert result.request.status == "awaiting_signoff"
    first, *rest = result.summary["signoffs_pending"]
    with pytest.raises(RequestError, match="needs the reason"):
        workflow.signoff(request.id, first, by="dpo", note=None, failed=True)
    failed = workflow.signoff(request.id, first, by="dpo", note="agency closed", failed=True)
    assert failed.status == "partially_completed"
    for item in rest:  # the others done: still partly done, one item could not be
        assert workflow.signoff(request.id, item, by="dpo", note="sent").status == \
            "partially_completed"
    receipt = workflow.receipts.document(request.id)
    notices = json.dumps(receipt)
    assert '"not_done": true' in notices and "agency closed" not in notices
    # sent after all: the same item signed off again completes the request
    done = workflow.signoff(request.id, first, by="dpo", note="sent by post")
    assert done.status == "completed"
    events = [e["event"] for e in workflow.requests.events(request.id)]
    assert events.count("signoff_failed") == 1
    workflow.close()


# --------------------------------------------------------------------------- failures

class _Breaker:
    """A plugin that stops one system before it changes anything."""

    @hookimpl
    def before_erasure(self, request, system, items):
        if system == "crm":
            raise RuntimeError("replication lag: try later")


def test_a_failed_system_leaves_the_request_partially_completed(sqlite_estate):
    workflow, request = approved(sqlite_estate, pairs=HANNAH)
    workflow.pm.pm.register(_Breaker(), name="breaker")
    try:
        result = workflow.run(request.id, actor="alice")
    finally:
        workflow.pm.pm.unregister(name="breaker")
    assert result.exit_code == 3 and result.request.status == "partially_completed"
    assert "replication lag" in result.summary["systems"][0]["error"]
    assert count(sqlite_estate, "select count(*) from prospects where id = 2") == 1
    # retry once the system is back: only what failed runs
    # signing off the notices does not complete a request whose system failed
    for item in result.summary["signoffs_pending"]:
        workflow.signoff(request.id, item, by="dpo", note="sent")
    assert workflow.get(request.id).status == "partially_completed"
    retried = workflow.run(request.id, actor="alice")
    assert retried.exit_code == 0 and retried.request.status == "completed"
    assert count(sqlite_estate, "select count(*) from prospects where id = 2") == 0


class LazySql(SqlConnector):
    """Says it erased, erases nothing: verification must catch it."""

    name = "lazysql"

    def erase(self, plan_items):
        return [Outcome(i.id, "done") for i in plan_items]


class _LazyPlugin:
    @hookimpl
    def register_connectors(self, register):
        register(LazySql)


def test_residual_data_after_erasure_is_exit_4_never_completed(tmp_path):
    estate = make_estate(tmp_path / "estate", manual=False)
    text = estate.config_path.read_text().replace('name = "crm"\n',
                                                  'name = "crm"\nconnector = "lazysql"\n')
    estate.config_path.write_text(text)
    from agent.plugins import PluginManager

    pm = PluginManager()
    pm.pm.register(_LazyPlugin(), name="lazy")
    pm.load(use_entry_points=False)
    from agent.workflow import Workflow

    workflow = Workflow(estate.config(), pm)
    request = workflow.create("erasure", HANNAH)
    workflow.verify(request.id, ["passport", "driving_licence"], by="alice")
    workflow.plan(request.id)
    workflow.approve(request.id, by="dpo")
    result = workflow.run(request.id)
    assert result.exit_code == 4 and result.request.status == "partially_completed"
    assert result.summary["verification"]["residual"]["crm"] >= 1
    assert isinstance(ConnectorContext(), ConnectorContext)


# --------------------------------------------------------------------------- journal

KILLER = '''
import os, signal
from agent.hookspecs import hookimpl

@hookimpl
def after_erasure(request, system, items, outcomes):
    # the change is committed and journalled for this batch; die before the rest
    if os.environ.get("DSR_TEST_KILL") and system == "crm":
        os.kill(os.getpid(), signal.SIGKILL)
'''


def test_kill_9_during_run_then_run_again_finishes_exactly_once(sqlite_estate, tmp_path):
    workflow, request = approved(sqlite_estate)
    plugin = tmp_path / "plugins" / "dsr_test_killer.py"
    plugin.parent.mkdir()
    plugin.write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": f"{plugin.parent}:{REPO}",
           "DSR_CONFIG": str(sqlite_estate.config_path), "DSR_TEST_KILL": "1"}
    # the process-wide plugin manager gets the killer, then the real CLI runs
    script = ("import sys, dsr_test_killer\n"
              "from agent.plugins import get_plugin_manager\n"
              "get_plugin_manager().pm.register(dsr_test_killer, name='killer')\n"
              "from agent.cli import main\n"
              f"sys.exit(main(['request', 'run', '{request.id}']))\n")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert workflow.get(request.id).status == "executing"
    journal = workflow.requests.journal(workflow.get(request.id).plan_id)
    assert {e["state"] for e in journal.values()} == {"done"}  # the first batch landed
    first_attempts = {k: e["attempts"] for k, e in journal.items()}

    result = workflow.run(request.id, actor="alice")  # resumes
    assert result.exit_code == 0, result.summary
    journal = workflow.requests.journal(result.request.plan_id)
    done = [e for e in journal.values() if e["action"] in ("delete", "anonymise")]
    assert done and all(e["state"] == "done" for e in done)
    # nothing done twice: items finished before the kill were not sent again
    assert all(journal[k]["attempts"] == n for k, n in first_attempts.items())
    assert count(sqlite_estate, "select count(*) from devices where contact_id = 1") == 0


def test_items_started_but_not_marked_are_redone_as_absent(sqlite_estate):
    workflow, request = approved(sqlite_estate, pairs=HANNAH)
    result = workflow.run(request.id, actor="alice")
    plan_id = result.request.plan_id
    # as if the process died after the commit but before the journal said so
    with workflow.requests.engine.begin() as conn:
        conn.execute(sa.text("update dsr_journal set state = 'started' where plan_id = :p "
                             "and action = 'delete'"), {"p": plan_id})
        conn.execute(sa.text("update dsr_requests set status = 'executing' where id = :r"),
                     {"r": request.id})
    again = workflow.run(request.id, actor="alice")
    assert again.exit_code == 0
    outcomes = [e["outcome"]["status"] for e in workflow.requests.journal(plan_id).values()
                if e["action"] == "delete"]
    assert outcomes and set(outcomes) == {"absent"}


# --------------------------------------------------------------------------- exports

def test_access_request_writes_the_persons_data_as_json(sqlite_estate):
    workflow, request = approved(sqlite_estate, kind="access", pairs=HANNAH)
    out = sqlite_estate.folder / "out" / "sar.json"
    result = workflow.run(request.id, actor="alice", out=out)
    assert result.exit_code == 0 and result.request.status == "completed"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    document = json.loads(out.read_text())
    assert document["request"] == request.id
    crm = document["systems"]["crm"]
    assert crm["prospects"][0]["email"].lower() == "hannah.quigley@example.com"
    assert {"contacts", "prospects"} <= set(crm)


def test_export_waits_for_identity(sqlite_estate):
    workflow = sqlite_estate.workflow()
    request = workflow.create("portability", HANNAH)
    workflow.plan(request.id)
    workflow.approve(request.id, by="dpo")
    with pytest.raises(RequestError, match="identity not verified"):
        workflow.run(request.id)


# --------------------------------------------------------------------------- reapply

def test_reapply_after_a_restore_checks_identifiers_and_erases_again(sqlite_estate):
    backup = sqlite_estate.folder / "backup.sqlite"
    backup.write_bytes((sqlite_estate.folder / "crm.sqlite").read_bytes())
    workflow, request = approved(sqlite_estate, pairs=HANNAH)
    workflow.run(request.id, actor="alice")
    for item in workflow.view(request.id).items:
        if item.action == "notify":
            workflow.signoff(request.id, item.id, by="dpo", note="sent")
    assert workflow.get(request.id).status == "completed"
    # the backup is restored: Hannah's rows are back
    (sqlite_estate.folder / "crm.sqlite").write_bytes(backup.read_bytes())
    assert count(sqlite_estate, "select count(*) from prospects where id = 2") == 1
    with pytest.raises(RequestError, match="does not match"):
        workflow.reapply(request.id, [("email", "someone.else@example.com")], actor="ops")
    result = workflow.reapply(request.id, HANNAH, actor="ops")
    assert result.exit_code == 0, result.summary
    assert result.request.status == "completed"
    assert count(sqlite_estate, "select count(*) from prospects where id = 2") == 0


# --------------------------------------------------------------------------- other types

def test_objection_marks_contact_records_do_not_contact(sqlite_estate):
    workflow = sqlite_estate.workflow()
    request = workflow.create("object", HANNAH, actor="alice")
    assert request.identity_verified  # an objection needs no ID
    view = workflow.plan(request.id, actor="alice")
    items = {i.id: i for i in view.items}
    assert items["crm:prospects:2"].action == "suppress"
    assert items["crm:contacts:9"].action == "suppress"
    assert items["crm:tickets:7"].action == "retain"  # not used for marketing
    workflow.approve(request.id, by="dpo")
    result = workflow.run(request.id, actor="alice")
    assert result.exit_code == 0 and result.request.status == "completed"
    assert count(sqlite_estate, "select count(*) from prospects where id = 2 "
                                "and do_not_contact") == 1
    assert count(sqlite_estate, "select count(*) from contacts where id = 9 "
                                "and do_not_contact") == 1
    assert count(sqlite_estate, "select count(*) from contacts where do_not_contact") == 1
    assert workflow.suppression.contains("email", "hannah.quigley@example.com")


def test_restriction_marks_records_restricted_and_tells_recipients(sqlite_estate):
    workflow, request = approved(sqlite_estate, kind="restrict", pairs=HANNAH)
    items = {i.id: i for i in workflow.view(request.id).items}
    assert items["crm:contacts:9"].action == "restrict"
    assert items["crm:tickets:7"].action == "manual"  # no restricted marker there
    assert any(i.action == "notify" for i in items.values())
    result = workflow.run(request.id, actor="alice")
    assert result.exit_code == 0 and result.request.status == "awaiting_signoff"
    assert count(sqlite_estate, "select count(*) from contacts where id = 9 "
                                "and restricted") == 1


def test_rectification_updates_and_reads_back_the_fields(sqlite_estate):
    workflow, request = approved(sqlite_estate, kind="rectify", pairs=HANNAH,
                                 changes={"email": "hannah.q@example.co.uk"})
    assert workflow.get(request.id).changes_fields == ["email"]
    state = (sqlite_estate.folder / "state.sqlite").read_bytes().lower()
    assert b"hannah.q@" not in state  # the new value is sealed too
    result = workflow.run(request.id, actor="alice")
    assert result.exit_code == 0, result.summary
    assert count(sqlite_estate, "select count(*) from contacts where id = 9 and "
                                "email = 'hannah.q@example.co.uk'") == 1
    assert count(sqlite_estate, "select count(*) from prospects where id = 2 and "
                                "email = 'hannah.q@example.co.uk'") == 1


def test_manual_items_block_completion_until_signed_off(tmp_path):
    estate = make_estate(tmp_path / "estate")  # with the manual cctv system
    workflow, request = approved(estate, pairs=HANNAH)
    result = workflow.run(request.id, actor="alice")
    assert result.request.status == "awaiting_signoff"
    assert "cctv:manual:search" in result.summary["signoffs_pending"]
    plan_systems = {s["name"] for s in workflow.view(request.id).plan["systems"]}
    assert plan_systems == {"crm"}  # the manual system was never "searched"
    with pytest.raises(RequestError, match="only manual and notify"):
        workflow.signoff(request.id, "crm:prospects:2", by="dpo", note=None)
    for item in result.summary["signoffs_pending"]:
        assert workflow.get(request.id).status == "awaiting_signoff"
        workflow.signoff(request.id, item, by="dpo", note="checked, nothing held")
    assert workflow.get(request.id).status == "completed"


# --------------------------------------------------------------------------- the demo

def test_demo_searches_then_erases_by_an_approved_plan(tmp_path, capsys):
    code = main(["demo", "--dir", str(tmp_path / "demo"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"], [c for c in data["checks"] if not c["ok"]]
    erasure = data["erasure"]
    assert erasure["request"]["status"] == "completed"
    assert erasure["run"]["verification"]["residual"] == {}
    kept = [i for i in erasure["plan"]["items"] if i["action"] == "retain"]
    assert {i["container"] for i in kept} >= {"invoices", "payments", "contracts"}
    assert all(i["until"] and i["basis"] for i in kept)
    code = main(["demo", "--dir", str(tmp_path / "again"), "--search-only", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["erasure"] is None


def test_an_expired_contract_that_kept_invoices_refer_to_is_anonymised_not_deleted(
        sqlite_estate):
    # contract 1 ended long ago (its own retention is over); its invoices are kept for the
    # customer's later contract, and a foreign key points at it
    engine = sa.create_engine(sqlite_estate.url)
    with engine.begin() as conn:
        conn.execute(sa.text("update contracts set end_date = '2015-01-31' where id = 1"))
        assert conn.execute(sa.text("select count(*) from invoices where contract_id = 1")
                            ).scalar_one() >= 1
    engine.dispose()
    workflow, request = approved(sqlite_estate)
    item = next(i for i in workflow.view(request.id).items if i.id == "crm:contracts:1")
    assert item.action == "anonymise" and "kept records in invoices" in item.reason
    result = workflow.run(request.id, actor="alice")
    assert result.exit_code == 0, result.summary
    assert count(sqlite_estate, "select count(*) from contracts where id = 1") == 1

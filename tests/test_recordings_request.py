"""Call recordings through the request workflow: an access plan sends the call with an
outside party to disclosure review; an erasure plan follows policy.toml (the call's billing
columns kept under ``customer_records``, everything else gone), runs, and is verified by a
second search.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from agent.config import load_config
from agent.plugins import get_plugin_manager
from agent.workflow import Workflow
from tests.support import calls

REPO = Path(__file__).resolve().parent.parent
JANE = [("phone", "07700 900111"), ("name", "Jane Doe")]
FIRST = "1709288100.42"


@pytest.fixture
def workflow(tmp_path: Path) -> Workflow:
    calls.write_pbx_config(tmp_path)
    made = Workflow(load_config(tmp_path / "agent.toml"), get_plugin_manager())
    yield made
    made.close()


def _run(workflow: Workflow, kind: str) -> tuple[str, list]:
    request = workflow.create(kind, JANE, actor="alice")
    workflow.verify(request.id, ["passport", "driving_licence"], by="alice")
    workflow.plan(request.id, actor="alice")
    return request.id, workflow.view(request.id).items


def test_access_plan_marks_calls_with_a_third_party_for_review(workflow: Workflow) -> None:
    _, items = _run(workflow, "access")
    by_locator = {i.locator: i for i in items if i.system == "phones"}
    assert all(i.action == "export" for i in by_locator.values())
    assert "third person" in by_locator["1709460000.12"].notes["disclosure_review"]
    assert "disclosure_review" not in by_locator[FIRST].notes


def test_erasure_keeps_billing_columns_by_policy_and_is_verified(
        workflow: Workflow, tmp_path: Path) -> None:
    request_id, items = _run(workflow, "erasure")
    first = next(i for i in items if i.locator == FIRST)
    assert first.action == "anonymise" and first.rule == "call_recordings"
    assert first.notes["keep"] == ["calldate", "duration", "billsec", "disposition",
                                   "dcontext", "lastapp"]
    assert "kept under rule customer_records" in first.reason and first.basis
    workflow.approve(request_id, by="dpo")
    result = workflow.run(request_id, actor="alice")
    verification = result.summary["verification"]
    assert verification["residual"] == {} and verification["failed_systems"] == []
    assert result.exit_code == 0, result.summary
    assert not [p for p in (tmp_path / "monitor").rglob("*") if "1709288100.42." in p.name
                or "1709288100.42-" in p.name]
    rows = {r["uniqueid"]: r for r in csv.DictReader(io.StringIO(
        (tmp_path / "Master.csv").read_text()))}
    jane = rows[FIRST]
    assert jane["src"] == jane["clid"] == jane["cnam"] == jane["accountcode"] == ""
    assert jane["recordingfile"] == "" and jane["billsec"] == "2"
    assert jane["calldate"] == "2024-03-01 10:15:00" and jane["disposition"] == "ANSWERED"
    # the look-alike's and Bob's calls are untouched
    assert rows["1709546400.5"]["src"] == calls.LOOKALIKE
    assert rows["1709719200.3"]["accountcode"] == "ACC-3003"
    assert (tmp_path / "monitor" / "redacted" / "1709288100.421-redacted.wav").exists()


def test_verification_searches_with_identifiers_learnt_before_the_erasure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Maya's phone is learnt on her CRM contact, which the erasure anonymises: the check
    after the run must still search by it, or calls a connector failed to erase (here one
    that claims success and changes nothing) would pass unseen."""
    from agent.demo.calls import SYSTEM, build_pbx
    from agent.demo.config import write_config
    from agent.demo.estate import build_estate
    from agent.plans import Outcome
    from connectors.recordings.connector import RecordingsConnector

    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    manifest = build_estate(url)
    pbx = build_pbx(tmp_path / "phones", url)
    # leave only calls on Maya's number: the namesake's call would match her name weakly
    # and blur the count
    lines = pbx.cdr.read_text().splitlines(keepends=True)
    pbx.cdr.write_text("".join(line for line in lines if "07700900052" not in line))
    workflow = Workflow(load_config(write_config(tmp_path, url, extra=SYSTEM)),
                        get_plugin_manager())
    maya = manifest.member("sole_trader")

    def claims_success(self: RecordingsConnector, items: list) -> object:
        return iter([Outcome(i.id, "done", "pretending") for i in items])

    monkeypatch.setattr(RecordingsConnector, "erase", claims_success)
    try:
        request = workflow.create("erasure", list(maya.search), actor="alice")
        workflow.verify(request.id, ["passport", "driving_licence"], by="alice")
        plan = workflow.plan(request.id, actor="alice")
        assert {i.locator for i in plan.items if i.system == "phones"} == set(pbx.of(maya))
        workflow.approve(request.id, by="dpo")
        result = workflow.run(request.id, actor="alice")
    finally:
        workflow.close()
    assert result.summary["verification"]["residual"] == {"phones": 2}
    assert result.request.status == "partially_completed"


def test_access_export_carries_the_recordings_audio(workflow: Workflow, tmp_path: Path
                                                    ) -> None:
    request_id, _ = _run(workflow, "access")
    workflow.approve(request_id, by="dpo")
    result = workflow.run(request_id, actor="alice", out=tmp_path / "export.json")
    calls_out = json.loads((tmp_path / "export.json").read_text())["systems"]["phones"]["calls"]
    first = next(c for c in calls_out if c["recording_id"] == FIRST)
    assert result.exit_code == 0
    assert first["audio"] and first["audio"][0]["content_base64"]
    assert any(c.get("disclosure_review") for c in calls_out)

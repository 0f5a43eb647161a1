"""The request clock: waiting for ID, pauses, extensions, due lists and batch create.

Deadline arithmetic directly; the workflow and `dsr request clock | extend | list |
create --from` against the demo estate (its state store is a SQLite file per test).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.deadlines import (
    ClockError,
    check_extension,
    clock_deadline,
    days_between,
    first_month_end,
    parse_within,
    request_deadline,
)
from agent.request import Clock, RequestError
from tests.request_support import Estate, estate  # noqa: F401  (fixture)

PERSON = [("email", "sam.taylor@example.com"), ("phone", "07700 900123")]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(["--log-level", "warning", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip().startswith(("{", "[")) else None), out + err


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --------------------------------------------------------------------------- arithmetic

@pytest.mark.parametrize("started, expected", [
    (date(2026, 1, 31), date(2026, 3, 2)),   # 28 Feb 2026 is a Saturday
    (date(2028, 1, 31), date(2028, 2, 29)),  # leap year: the month's last day, a Tuesday
])
def test_month_end_clamps(started: date, expected: date) -> None:
    assert clock_deadline(started) == expected


def test_pauses_across_month_ends_add_up() -> None:
    # 20 Jan -> 20 Feb; paused 28 Jan - 5 Feb (8 days) -> 28 Feb, a Saturday -> 2 Mar
    paused = days_between(date(2026, 1, 28), date(2026, 2, 5))
    assert paused == 8
    assert clock_deadline(date(2026, 1, 20), paused_days=paused) == date(2026, 3, 2)
    # a second pause of 3 days: 3 Mar, a Tuesday
    assert clock_deadline(date(2026, 1, 20), paused_days=paused + 3) == date(2026, 3, 3)
    assert days_between(date(2026, 3, 1), date(2026, 3, 1)) == 0
    with pytest.raises(ClockError):
        days_between(date(2026, 3, 2), date(2026, 3, 1))


def test_extensions_are_capped_at_two_months() -> None:
    start, told = date(2026, 9, 7), date(2026, 9, 20)
    assert check_extension(start, already=0, more=2, told=told) == 2
    assert check_extension(start, already=1, more=1, told=told) == 2
    for already, more in ((1, 2), (2, 1), (0, 3), (0, 0)):
        with pytest.raises(ClockError):
            check_extension(start, already=already, more=more, told=told)
    assert clock_deadline(start, extension_months=2) == date(2026, 12, 7)


def test_told_date_must_be_within_the_first_month() -> None:
    start = date(2026, 1, 31)
    assert first_month_end(start) == date(2026, 2, 28)
    assert check_extension(start, already=0, more=1, told=date(2026, 2, 28)) == 1
    with pytest.raises(ClockError, match="within the first month"):
        check_extension(start, already=0, more=1, told=date(2026, 3, 1))
    # paused days lengthen the first month too
    assert check_extension(start, already=0, more=1, told=date(2026, 3, 1), paused_days=5)
    with pytest.raises(ClockError, match="before the clock started"):
        check_extension(start, already=0, more=1, told=date(2026, 1, 30))
    with pytest.raises(ClockError, match="future"):
        check_extension(start, already=0, more=1, told=date(2026, 2, 10),
                        today=date(2026, 2, 1))


@pytest.mark.parametrize("text, expected", [
    ("7d", timedelta(days=7)), ("2w", timedelta(weeks=2)), ("24h", timedelta(hours=24)),
    (" 3D ", timedelta(days=3)),
])
def test_parse_within(text: str, expected: timedelta) -> None:
    assert parse_within(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "7x", "-1d", "0d", "1.5d"])
def test_parse_within_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_within(text)


# --------------------------------------------------------------------------- workflow

def test_id_arriving_late_moves_the_deadline(estate: Estate) -> None:  # noqa: F811
    workflow = estate.workflow()
    request = workflow.create("access", PERSON, received=at("2026-01-05"), actor="alice",
                              awaiting_id=True)
    assert request.clock == Clock(started=None, id_requested=date(2026, 1, 5))
    assert request.due(date(2026, 6, 1)) is None and not request.overdue(date(2026, 6, 1))
    assert request.public()["due"] == "1 month after ID arrives"
    request = workflow.verify(request.id, ["passport", "driving_licence"], by="bob",
                              seen_at=at("2026-02-10T11:00"))
    assert request.clock is not None and request.clock.started == date(2026, 2, 10)
    assert request.deadline == date(2026, 3, 10)
    assert "due" not in request.public()
    events = [e for e in workflow.requests.events(request.id) if e["event"] == "clock_started"]
    assert events and events[0]["actor"] == "bob"


def test_id_that_came_with_the_request_keeps_the_receipt_date(estate: Estate) -> None:  # noqa: F811
    workflow = estate.workflow()
    request = workflow.create("access", PERSON, received=at("2026-09-07"), awaiting_id=True)
    # seen before the request was logged: the clock still starts on receipt
    request = workflow.verify(request.id, ["passport", "driving_licence"], by="bob",
                              seen_at=at("2026-09-01"))
    assert request.clock is not None and request.clock.started == date(2026, 9, 7)
    assert request.deadline == date(2026, 10, 7)


def test_pauses_add_up_and_are_recorded(estate: Estate) -> None:  # noqa: F811
    workflow = estate.workflow()
    request = workflow.create("erasure", PERSON, received=at("2026-09-07"), awaiting_id=False)
    assert request.deadline == date(2026, 10, 7)
    paused = workflow.pause(request.id, by="alice", reason="which account?",
                            on=date(2026, 9, 28))
    assert paused.clock is not None and paused.clock.paused_since == date(2026, 9, 28)
    # while paused the deadline moves on day by day and the request is never overdue
    assert paused.due(date(2026, 10, 1)) == date(2026, 10, 12)
    assert not paused.overdue(date(2026, 11, 1))
    with pytest.raises(RequestError, match="already paused"):
        workflow.pause(request.id, by="alice", reason="again", on=date(2026, 9, 29))
    resumed = workflow.resume(request.id, by="alice", reason="answered",
                              on=date(2026, 10, 8))
    assert resumed.deadline == date(2026, 10, 19)  # +10 days: Sat 17 Oct -> Mon 19 Oct
    workflow.pause(request.id, by="bob", reason="which address?", on=date(2026, 10, 12))
    again = workflow.resume(request.id, by="bob", reason="answered", on=date(2026, 10, 15))
    assert again.clock is not None and again.clock.paused_days == 13
    assert again.deadline == date(2026, 10, 20)
    with pytest.raises(RequestError, match="not paused"):
        workflow.resume(request.id, by="bob", reason="x")
    clock_events = [e for e in workflow.requests.events(request.id)
                    if e["event"].startswith("clock_")]
    assert [(e["event"], e["actor"], e["reason"]) for e in clock_events] == [
        ("clock_paused", "alice", "which account?"), ("clock_resumed", "alice", "answered"),
        ("clock_paused", "bob", "which address?"), ("clock_resumed", "bob", "answered")]
    assert clock_events[1]["detail"]["days_paused"] == 10


def test_clock_refuses_closed_and_waiting_requests(estate: Estate) -> None:  # noqa: F811
    workflow = estate.workflow()
    waiting = workflow.create("access", PERSON, awaiting_id=True)
    with pytest.raises(RequestError, match="waiting for ID"):
        workflow.pause(waiting.id, by="alice", reason="x")
    with pytest.raises(RequestError, match="waiting for ID"):
        workflow.extend(waiting.id, 1, by="alice", reason="x", told=date.today())
    closed = workflow.create("erasure", PERSON, awaiting_id=False)
    workflow.cancel(closed.id, by="alice", reason="withdrawn")
    with pytest.raises(RequestError, match="cancelled"):
        workflow.pause(closed.id, by="alice", reason="x")
    request = workflow.create("erasure", PERSON, received=at("2026-09-07"), awaiting_id=False)
    with pytest.raises(RequestError, match="before it started"):
        workflow.pause(request.id, by="alice", reason="x", on=date(2026, 9, 1))
    with pytest.raises(RequestError, match="future"):
        workflow.pause(request.id, by="alice", reason="x",
                       on=date.today() + timedelta(days=2))
    workflow.pause(request.id, by="alice", reason="x", on=date(2026, 9, 10))
    with pytest.raises(RequestError, match="before it was paused"):
        workflow.resume(request.id, by="alice", reason="x", on=date(2026, 9, 9))


# --------------------------------------------------------------------------- CLI

def test_clock_command_pauses_and_resumes(estate: Estate, capsys) -> None:  # noqa: F811
    request = estate.workflow().create("erasure", PERSON, received=at("2026-09-07"),
                                       awaiting_id=False)
    code, data, _ = cli(capsys, "request", "clock", request.id, "--paused", "--reason",
                        "asked which account", "--on", "2026-09-28", "--by", "alice", "--json")
    assert code == 0 and data["clock"]["paused"] is True
    assert data["clock"]["paused_since"] == "2026-09-28"
    code, _, out = cli(capsys, "request", "show", request.id)
    assert code == 0 and "paused since 2026-09-28" in out
    code, data, _ = cli(capsys, "request", "clock", request.id, "--resumed", "--reason",
                        "answered", "--on", "2026-10-08", "--by", "alice", "--json")
    assert code == 0 and data["deadline"] == "2026-10-19"
    assert data["clock"]["paused_days"] == 10
    code, _, out = cli(capsys, "request", "clock", request.id, "--reason", "x")
    assert code == 2 and "--paused, --resumed or --awaiting-id" in out
    code, _, out = cli(capsys, "request", "clock", request.id, "--resumed", "--reason", "x")
    assert code == 1 and "not paused" in out


def test_extend_command(estate: Estate, capsys) -> None:  # noqa: F811
    request = estate.workflow().create("access", PERSON, received=at("2026-11-02"),
                                       awaiting_id=False)
    assert request.deadline == date(2026, 12, 2)
    code, data, _ = cli(capsys, "request", "extend", request.id, "--months", "1", "--reason",
                        "many systems", "--told", "2026-11-20", "--by", "dpo", "--json")
    assert code == 0 and data["deadline"] == "2027-01-04"
    assert data["clock"]["extension_told"] == "2026-11-20"
    code, _, out = cli(capsys, "request", "extend", request.id, "--months", "2", "--reason",
                       "more", "--told", "2026-11-20")
    assert code == 1 and "2 months at most" in out
    code, _, out = cli(capsys, "request", "extend", request.id, "--months", "1", "--reason",
                       "more", "--told", "2026-11-21")
    assert code == 0 and "2027-02-02" in out
    code, _, out = cli(capsys, "request", "extend", request.id, "--months", "3", "--reason",
                       "x", "--told", "2026-11-21")
    assert code == 2


def test_extend_refuses_a_late_told_date(estate: Estate, capsys) -> None:  # noqa: F811
    request = estate.workflow().create("access", PERSON, received=at("2026-09-07"),
                                       awaiting_id=False)
    code, _, out = cli(capsys, "request", "extend", request.id, "--months", "1", "--reason",
                       "complex", "--told", "2026-10-20")
    assert code == 1 and "within the first month" in out and "2026-10-07" in out
    code, _, out = cli(capsys, "request", "extend", request.id, "--months", "1", "--reason",
                       "complex", "--told", "20 Oct")
    assert code == 2 and "expected a date" in out
    assert estate.workflow().get(request.id).deadline == date(2026, 10, 7)


def _received_due_soon(today: date) -> date:
    """A receipt date whose deadline falls within the next week."""
    for offset in range(20, 40):
        received = today - timedelta(days=offset)
        if today <= request_deadline(received) <= today + timedelta(days=7):
            return received
    raise AssertionError("no such date")


def test_list_due_within(estate: Estate, capsys) -> None:  # noqa: F811
    workflow = estate.workflow()
    today = date.today()
    soon_day = _received_due_soon(today)
    soon = workflow.create("erasure", PERSON, received=at(soon_day.isoformat()), awaiting_id=False)
    late = workflow.create("access", PERSON, received=at("2026-01-05"), awaiting_id=False)
    later = workflow.create("access", PERSON, awaiting_id=False)
    waiting = workflow.create("access", PERSON, awaiting_id=True)
    code, data, _ = cli(capsys, "request", "list", "--due-within", "7d", "--json")
    assert code == 0
    ids = [r["id"] for r in data]
    assert ids == [late.id, soon.id]
    assert data[0]["overdue"] is True and data[1]["overdue"] is False
    code, data, _ = cli(capsys, "request", "list", "--due-within", "2w", "--json",
                        "--type", "erasure")
    assert [r["id"] for r in data] == [soon.id]
    code, data, _ = cli(capsys, "request", "list", "--open", "--json")
    ids = [r["id"] for r in data]
    assert ids[0] == late.id and set(ids) == {late.id, soon.id, later.id, waiting.id}
    assert ids[-1] == waiting.id  # no deadline yet: last
    code, _, out = cli(capsys, "request", "list", "--open")
    assert code == 0 and "OVERDUE" in out and "1 month after ID arrives" in out
    assert out.index(late.id) < out.index(soon.id)
    code, _, out = cli(capsys, "request", "list", "--due-within", "7x")
    assert code == 2 and "24h, 7d or 2w" in out


def test_create_awaiting_id_shows_when_it_is_due(estate: Estate, capsys) -> None:  # noqa: F811
    code, _, out = cli(capsys, "request", "create", "access", "--email",
                       "sam.taylor@example.com", "--awaiting-id", "--by", "alice")
    assert code == 0 and "due: 1 month after ID arrives" in out


def test_policy_asks_for_id_on_receipt_and_long_waits_stand_out(
        estate: Estate, capsys) -> None:  # noqa: F811
    workflow = estate.workflow()
    assert workflow.identity.ask_on_receipt and workflow.identity.chase_after_days == 14
    old = workflow.create("access", PERSON, received=at("2026-01-05"))
    fresh = workflow.create("access", PERSON)
    not_asked = workflow.create("access", PERSON, received=at("2026-01-05"),
                                awaiting_id=False)
    none_needed = workflow.create("object", PERSON, received=at("2026-01-05"))
    assert old.clock == Clock(started=None, id_requested=date(2026, 1, 5))
    assert none_needed.clock is None and none_needed.identity_verified  # nothing to ask for
    code, data, _ = cli(capsys, "request", "list", "--open", "--json")
    rows = {r["id"]: r for r in data}
    assert rows[old.id]["overdue"] is False and rows[old.id]["chase_id"] is True
    assert rows[old.id]["clock"]["id_requested"] == "2026-01-05"
    assert rows[old.id]["id_waiting_days"] == (date.today() - date(2026, 1, 5)).days
    assert rows[fresh.id]["chase_id"] is False and rows[fresh.id]["id_waiting_days"] == 0
    assert rows[not_asked.id]["overdue"] is True and "chase_id" not in rows[not_asked.id]
    code, _, out = cli(capsys, "request", "list", "--open")
    line = next(x for x in out.splitlines() if old.id in x)
    assert "CHASE ID" in line and "asked for on 2026-01-05" in line
    code, _, out = cli(capsys, "request", "show", old.id)
    assert code == 0 and "CHASE ID" in out
    # the ID arrives: the clock runs from that day and the chase mark goes
    workflow.verify(old.id, ["passport", "driving_licence"], by="bob")
    code, data, _ = cli(capsys, "request", "show", old.id, "--json")
    assert code == 0 and data["clock"]["started"] == date.today().isoformat()
    assert "chase_id" not in data and "id_requested" not in data["clock"]


def test_clock_awaiting_id_after_creation(estate: Estate, capsys) -> None:  # noqa: F811
    workflow = estate.workflow()
    request = workflow.create("erasure", PERSON, received=at("2026-09-07"), awaiting_id=False)
    code, data, _ = cli(capsys, "request", "clock", request.id, "--awaiting-id", "--reason",
                        "asked for two documents", "--by", "alice", "--json")
    assert code == 0 and data["clock"]["awaiting_id"] is True and data["due_on"] is None
    assert data["due"] == "1 month after ID arrives" and data["overdue"] is False
    code, data, _ = cli(capsys, "request", "verify", request.id, "--doc", "passport",
                        "--doc", "driving_licence", "--seen-on", "2026-10-01", "--by", "bob",
                        "--json")
    assert code == 0
    again = workflow.get(request.id)
    assert again.clock is not None and again.clock.started == date(2026, 10, 1)
    assert again.deadline == date(2026, 11, 2)  # 1 Nov 2026 is a Sunday
    code, _, out = cli(capsys, "request", "clock", request.id, "--awaiting-id", "--reason",
                       "x")
    assert code == 1 and "already verified" in out
    code, _, out = cli(capsys, "request", "clock", request.id, "--awaiting-id", "--reason",
                       "x", "--on", "2026-10-01")
    assert code == 2 and "--on is for" in out


# --------------------------------------------------------------------------- batch create

GOOD_CSV = """type,email,phone,name,postcode,account,received
erasure,sam.taylor@example.com,07700 900123,Sam Taylor,LS1 4AP,,2026-11-02
access,,01632 960123,,,,
object,kit.jones@example.com,,,,ACC-000123,2026-11-20T09:30
"""


def _write(tmp_path: Path, text: str | bytes, name: str = "batch.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_batch_create(estate: Estate, capsys, tmp_path: Path) -> None:  # noqa: F811
    code, data, _ = cli(capsys, "request", "create", "--from", str(_write(tmp_path, GOOD_CSV)),
                        "--by", "alice", "--json")
    assert code == 0 and data["count"] == 3
    workflow = estate.workflow()
    made = [workflow.get(i) for i in data["created"]]
    assert [r.type for r in made] == ["erasure", "access", "object"]
    assert made[0].received_at == at("2026-11-02") and made[0].deadline == date(2026, 12, 2)
    assert made[2].identity_verified and all(r.created_by == "alice" for r in made)


@pytest.mark.parametrize("text, expected", [
    (GOOD_CSV.replace("kit.jones@example.com", "kit.jones-at-example"),
     "row 4, column email"),
    (GOOD_CSV.replace("01632 960123", "01632 96"), "row 3, column phone"),
    (GOOD_CSV.replace("2026-11-02", "02/11/2026"), "row 2, column received"),
    (GOOD_CSV.replace("access,", "acess,"), "row 3, column type"),
    (GOOD_CSV.replace("2026-11-02", "2099-11-02"), "row 2, column received: in the future"),
    (GOOD_CSV + "access,,,,,,\n", "row 5: no identifier"),
    (GOOD_CSV.replace("type,", "kind,"), "no type column"),
    (GOOD_CSV.replace(",received", ",received,shoe"), "unknown column(s) shoe"),
    ("type,email\n", "no rows"),
    (GOOD_CSV.replace(",received", ",kit.jones@example.com"), "unknown column(s) #7"),
    (GOOD_CSV.replace(",phone,", ",email,"), "column(s) email given twice"),
    (GOOD_CSV + "access,a@example.com,,,,,,extra\n", "row 5 has more cells"),
])
def test_batch_create_is_all_or_nothing(estate: Estate, capsys, tmp_path: Path,  # noqa: F811
                                        text: str, expected: str) -> None:
    code, _, out = cli(capsys, "request", "create", "--from", str(_write(tmp_path, text)),
                       "--json")
    assert code == 1 and expected in out
    for value in ("kit.jones", "01632 96", "02/11/2026", "acess", "2099"):
        assert value not in out
    assert estate.workflow().requests.list() == []


def test_batch_create_bad_files(estate: Estate, capsys, tmp_path: Path) -> None:  # noqa: F811
    code, _, out = cli(capsys, "request", "create", "--from", str(tmp_path / "missing.csv"))
    assert code == 1 and "cannot read the file" in out
    latin = _write(tmp_path, "type,name\nerasure,Zo\xeb\n".encode("latin-1"))
    code, _, out = cli(capsys, "request", "create", "--from", str(latin))
    assert code == 1 and "not UTF-8" in out
    code, _, out = cli(capsys, "request", "create", "erasure", "--from", str(latin))
    assert code == 2 and "--from takes everything from the file" in out
    code, _, out = cli(capsys, "request", "create", "--email", "sam.taylor@example.com")
    assert code == 2 and "request TYPE" in out

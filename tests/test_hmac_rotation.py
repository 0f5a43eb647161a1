"""HMAC digest key rotation: a new key for new digests, every older key kept for matching,
so the do-not-contact list (digests only) is never orphaned. Real key files, a real SQLite
and PostgreSQL state store, the CLI, and a reapply after a restore on the demo estate."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.cli import main
from agent.errors import ConfigError
from agent.keys import DigestKey, previous_folder, rotate_hmac
from agent.request import RequestError
from agent.screening import screen_csv
from agent.store import Store
from agent.suppression import StoreSuppressionList
from tests.request_support import make_estate

EMAIL = "rota.person@example.com"
PHONE_E164 = "+447700900417"
PHONE_TYPED = "07700 900417"
NAME, POSTCODE = "Rota Person", "LS1 4AP"
OTHER_EMAIL = "someone.else@example.com"
RAW_VALUES = [EMAIL, PHONE_E164, "7700900417", "rota person", "LS1 4AP"]
LISTED = [("email", EMAIL), ("phone", PHONE_TYPED), ("name_postcode", f"{NAME}|{POSTCODE}")]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "hmac.key"


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.sqlite'}"
    database = request.getfixturevalue("isolated_database")("postgresql")
    return str(database.url)


OpenList = Callable[[], StoreSuppressionList]


@pytest.fixture
def open_list(key_path: Path, state_url: str) -> Iterator[OpenList]:
    """Opens the list on the state store with the key files as they are now (a new
    process after a rotation); the PostgreSQL database is shared by this module's tests,
    so the list is emptied afterwards."""
    stores: list[Store] = []

    def make() -> StoreSuppressionList:
        stores.append(Store(state_url, DigestKey.load_or_create(key_path)))
        return StoreSuppressionList(stores[-1])

    yield make
    if stores and state_url.startswith("postgresql"):
        with stores[0].engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM dsr_suppression"))
    for store in stores:
        store.close()


# --------------------------------------------------------------------------- key files

def test_rotation_keeps_every_old_key_0600_and_loads_them(key_path: Path) -> None:
    first = DigestKey.load_or_create(key_path)
    assert first.previous == [] and first.all_digests("email", EMAIL) == [
        (first.key_id, first.digest("email", EMAIL))]
    second_id = rotate_hmac(key_path)
    third_id = rotate_hmac(key_path)
    key = DigestKey.load_or_create(key_path)
    assert key.key_id == third_id and second_id not in (first.key_id, third_id)
    assert [k.key_id for k in key.previous] == [second_id, first.key_id]  # newest first
    folder = previous_folder(key_path)
    assert sorted(p.name for p in folder.glob("*.key")) == sorted(
        [f"{first.key_id}.key", f"{second_id}.key"])
    assert all(mode(p) == 0o600 for p in [key_path, *folder.glob("*.key")])
    assert mode(folder) == 0o700
    assert not list(folder.glob("*.tmp")) and not list(key_path.parent.glob(".*.tmp"))
    # the current key digests; older digests are reproduced exactly
    digests = key.all_digests("email", EMAIL)
    assert digests[0] == (third_id, key.digest("email", EMAIL))
    assert digests[2] == (first.key_id, first.digest("email", EMAIL))
    assert len({d for _, d in digests}) == 3
    assert len(key.derive_all("request vault v1")) == 3
    assert "previous=2" in repr(key) and key_path.read_text() not in repr(key)


def test_rotating_without_a_key_or_with_a_bad_old_key_is_refused(key_path: Path) -> None:
    with pytest.raises(ConfigError, match="no HMAC key to rotate"):
        rotate_hmac(key_path)
    assert not key_path.exists()
    DigestKey.load_or_create(key_path)
    old_id = DigestKey.load_or_create(key_path).key_id
    rotate_hmac(key_path)
    kept = previous_folder(key_path) / f"{old_id}.key"
    kept.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        DigestKey.load_or_create(key_path)
    kept.chmod(0o600)
    secret = kept.read_text().strip()
    kept.rename(kept.with_name("0123456789abcdef.key"))  # a file under another key's id
    with pytest.raises(ConfigError, match="does not match its key id") as caught:
        DigestKey.load_or_create(key_path)
    assert secret not in str(caught.value)


def test_a_crash_after_the_copy_leaves_the_current_key_usable(key_path: Path) -> None:
    key = DigestKey.load_or_create(key_path)
    folder = previous_folder(key_path)
    folder.mkdir(mode=0o700)
    copy = folder / f"{key.key_id}.key"  # what a rotation killed before the swap leaves
    copy.write_bytes(key_path.read_bytes())
    copy.chmod(0o600)
    again = DigestKey.load_or_create(key_path)
    assert again.key_id == key.key_id and again.previous == []
    assert rotate_hmac(key_path) != key.key_id
    assert [k.key_id for k in DigestKey.load_or_create(key_path).previous] == [key.key_id]


# --------------------------------------------------------------------------- the list

def test_entries_survive_rotation_and_are_redigested_on_match(
        open_list: OpenList, key_path: Path) -> None:
    before = open_list()
    assert before.add_values(LISTED, reason="object", request_id="R-ROT-1") == 3
    old_id = before.key.key_id
    added_at = {e["type"]: e["added_at"] for e in before.export()}
    new_id = rotate_hmac(key_path)
    after = open_list()

    found = after.check([("email", EMAIL.upper()), ("phone", "+44 7700 900417")])
    assert [(e.type, e.key_id, e.reason, e.request_id) for e in found] == [
        ("email", new_id, "object", "R-ROT-1"), ("phone", new_id, "object", "R-ROT-1")]
    assert [e.added_at.isoformat() for e in found] == [added_at["email"], added_at["phone"]]
    entries = list(after.export())
    assert sorted((e["type"], e["key_id"]) for e in entries) == sorted(
        [("email", old_id), ("phone", old_id), ("name_postcode", old_id),
         ("email", new_id), ("phone", new_id)])  # old entries kept; name+postcode not yet
    # matched again: the current key's entry is found, nothing more is added
    assert after.check([("email", EMAIL)])[0].key_id == new_id
    assert after.contains("name_postcode", "rota person|LS1 4AP")
    assert after.add_values([("email", EMAIL), ("name_postcode", f"{NAME}|{POSTCODE}")],
                            reason="manual") == 0
    assert len(list(after.export())) == 6
    assert not after.check([("email", OTHER_EMAIL)])
    assert not after.contains("email", OTHER_EMAIL)
    # listed() by digests: any key's digest is on the list as it is
    digests = after.digests("phone", PHONE_E164)
    assert set(digests) == after.listed(digests)


def test_a_second_rotation_still_finds_entries_of_the_first_key(
        open_list: OpenList, key_path: Path) -> None:
    open_list().add_values(LISTED[:2], reason="erasure")
    rotate_hmac(key_path)
    third = rotate_hmac(key_path)
    latest = open_list()
    assert latest.listed_values([("email", EMAIL), ("phone", PHONE_E164),
                                 ("email", OTHER_EMAIL)]) == {
        ("email", EMAIL), ("phone", PHONE_E164)}
    assert sorted(e["key_id"] for e in latest.export()).count(third) == 2
    # a fresh add under the newest key is just new
    assert latest.add_values([("email", OTHER_EMAIL)], reason="manual") == 1


def test_screening_after_rotation_drops_listed_rows(
        open_list: OpenList, key_path: Path,
        tmp_path: Path) -> None:
    open_list().add_values(LISTED, reason="object")
    new_id = rotate_hmac(key_path)
    source, clean = tmp_path / "bought.csv", tmp_path / "clean.csv"
    source.write_text("Name,Email,Mobile,Postcode\n"
                      f"A One,{EMAIL.upper()},,LS2 7HY\n"
                      "B Two,,(07700) 900417,LS2 7HY\n"
                      f"{NAME},,,{POSTCODE}\n"
                      f"{NAME},{OTHER_EMAIL},,{POSTCODE}\n"
                      "C Three,c.three@example.com,07700 900418,LS3 1AA\n")
    lookup = open_list()
    report = screen_csv(source, clean, lookup)
    assert (report.kept, report.dropped_by) == (2, {"email": 1, "phone": 1,
                                                    "name_postcode": 1})
    assert OTHER_EMAIL in clean.read_text() and EMAIL not in clean.read_text().lower()
    assert sorted(e["type"] for e in lookup.export() if e["key_id"] == new_id) == [
        "email", "name_postcode", "phone"]


def test_no_raw_value_anywhere_in_the_list_or_the_key_files(
        open_list: OpenList, key_path: Path, state_url: str) -> None:
    open_list().add_values(LISTED, reason="object")
    rotate_hmac(key_path)
    after = open_list()
    after.check(LISTED)
    exported = "\n".join(json.dumps(e) for e in after.export()).lower()
    on_disk = [exported] + [p.read_text().lower()
                            for p in key_path.parent.rglob("*") if p.is_file()]
    if state_url.startswith("sqlite"):
        on_disk.append(Path(state_url.removeprefix("sqlite:///")).read_bytes()
                       .decode("latin-1").lower())
    for value in RAW_VALUES:
        assert all(value.lower() not in text for text in on_disk), value


# --------------------------------------------------------------------------- CLI

def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--log-level", "warning", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_keys_rotate_hmac_and_list(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "keys", "rotate-hmac")
    assert code == 1 and "no HMAC key to rotate" in err
    code, _, _ = run(capsys, "suppress", "add", "--email", EMAIL, "--json")
    assert code == 0
    first = DigestKey.load_or_create(config.parent / "keys" / "hmac.key").key_id
    code, out, err = run(capsys, "keys", "rotate-hmac", "--json")
    rotated = json.loads(out)
    assert code == 0 and rotated["previous"] == first and rotated["key_id"] != first
    assert "kept" in err and "never delete" in err and first in err
    code, out, err = run(capsys, "keys", "rotate-hmac")
    assert code == 0 and rotated["key_id"] in err and "is now current" in out
    code, out, _ = run(capsys, "keys", "list", "--json")
    hmac = json.loads(out)["hmac_key"]
    assert code == 0 and hmac["exists"] and hmac["key_id"] not in (first, rotated["key_id"])
    assert [(k["key_id"], k["status"]) for k in hmac["keys"]] == [
        (hmac["key_id"], "current"), (rotated["key_id"], "previous"), (first, "previous")]
    code, out, _ = run(capsys, "keys", "list")
    assert code == 0 and f"{first}  previous" in out and f"{hmac['key_id']}  current" in out
    code, out, _ = run(capsys, "suppress", "check", "--email", EMAIL.upper(), "--json")
    checked = json.loads(out)
    assert checked["listed"] and checked["checked"][0]["entry"]["key_id"] == hmac["key_id"]


# --------------------------------------------------------------------------- reapply

def test_reapply_after_rotation_accepts_the_original_identifiers(tmp_path: Path) -> None:
    estate = make_estate(tmp_path / "estate", manual=False)
    pairs = [("email", "hannah.quigley@example.com")]
    workflow = estate.workflow()
    request = workflow.create("erasure", pairs, actor="alice")
    workflow.verify(request.id, ["passport", "driving_licence"], by="alice")
    workflow.plan(request.id, actor="alice")
    workflow.approve(request.id, by="dpo")
    workflow.run(request.id, actor="alice")
    for item in workflow.view(request.id).items:
        if item.action == "notify":
            workflow.signoff(request.id, item.id, by="dpo", note="sent")
    assert workflow.get(request.id).status == "completed"
    rotate_hmac(estate.config().hmac_key_path)
    later = estate.workflow()  # a new process: the new key is current
    with pytest.raises(RequestError, match="does not match"):
        later.reapply(request.id, [("email", OTHER_EMAIL)], actor="ops")
    result = later.reapply(request.id, pairs, actor="ops")
    assert result.exit_code == 0, result.summary
    assert later.suppression.contains("email", "hannah.quigley@example.com")
    assert os.path.exists(previous_folder(estate.config().hmac_key_path))


def test_open_requests_and_the_ledger_survive_an_hmac_rotation(tmp_path: Path) -> None:
    from agent.cli import main
    from agent.keys import rotate_hmac
    from tests.request_support import make_estate

    estate = make_estate(tmp_path / "estate", manual=False)
    workflow = estate.workflow()
    try:
        done = workflow.create("erasure", [("email", "maya.okafor@example.com")], actor="a")
        workflow.refuse(done.id, by="dpo", reason="duplicate request")  # a receipt, logged
        still_open = workflow.create("access", [("email", "maya.okafor@example.com")],
                                     actor="a")
    finally:
        workflow.close()
    rotate_hmac(estate.config().hmac_key_path)
    workflow = estate.workflow()
    try:
        # the open request's sealed identifiers still open, and it plans
        assert workflow.plan(still_open.id, actor="a").items
        workflow.refuse(still_open.id, by="dpo", reason="withdrawn")
        assert len(workflow.receipts.list()) == 2
    finally:
        workflow.close()
    assert main(["--config", str(estate.config_path), "ledger", "verify"]) == 0

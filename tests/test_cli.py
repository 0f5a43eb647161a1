"""The dsr command line: output shapes, exit codes, errors that name what is wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "crm.sqlite"
    import sqlite3
    with sqlite3.connect(db) as conn:
        conn.execute("create table contacts (id integer primary key, email text, mobile text)")
        conn.execute("insert into contacts values (1, 'ann.lee@example.com', '07700 900201')")
    monkeypatch.setenv("CRM_PW", "s3cret-pw")
    path = tmp_path / "agent.toml"
    path.write_text(f'''
[agent]
state = "sqlite:///state.sqlite"
hmac_key = "keys/hmac.key"

[[systems]]
name = "crm"
url = "sqlite:///{db}"

[[systems]]
name = "billing"
url = "postgresql+psycopg://billing:${{CRM_PW}}@127.0.0.1:1/billing"
timeout = 10
''')
    monkeypatch.setenv("DSR_CONFIG", str(path))
    return path


def test_console_script_runs_and_shows_exit_codes_in_help():
    proc = subprocess.run([sys.executable, "-c", "from agent.cli import run; run()", "--help"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    for command in ("search", "systems", "plugins", "init", "demo"):
        assert command in proc.stdout
    assert "3 partial" in proc.stdout


def test_plugins_list_json_shows_builtins_and_registrations(capsys):
    code, out, _ = run(capsys, "plugins", "list", "--json")
    assert code == 0
    plugins = {p["name"]: p for p in json.loads(out)}
    assert plugins["connectors.sql"]["registered"] == {"connectors": ["sql"]}
    assert plugins["connectors.sql"]["builtin"] is True
    assert "register_connectors" in plugins["connectors.sql"]["hooks"]
    assert "email" in plugins["plugins.detectors"]["registered"]["detectors"]


def test_init_writes_starter_and_refuses_to_overwrite(capsys, tmp_path):
    target = tmp_path / "new" / "agent.toml"
    code, out, _ = run(capsys, "init", str(target), "--json")
    assert code == 0 and json.loads(out) == {"written": str(target)}
    assert "[agent]" in target.read_text()
    code, _, err = run(capsys, "init", str(target))
    assert code == 1 and "already exists" in err
    # the starter config is valid as written
    code, out, _ = run(capsys, "--config", str(target), "systems", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_systems_list_masks_secrets(capsys, config):
    code, out, _ = run(capsys, "systems", "list", "--json")
    assert code == 0
    assert "s3cret-pw" not in out
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["billing"]["url"] == "postgresql+psycopg://billing:***@127.0.0.1:1/billing"


def test_systems_check_reports_unreachable_with_exit_3(capsys, config):
    code, out, err = run(capsys, "systems", "check", "--json")
    assert code == 3
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["crm"]["status"] == "ok"
    assert rows["billing"]["status"] == "error"
    assert "s3cret-pw" not in out + err


def test_search_json_shape_and_partial_exit(capsys, config):
    code, out, err = run(capsys, "search", "--email", "Ann.Lee@example.com", "--json",
                         "--reason", "SAR-1")
    assert code == 3  # billing is down
    result = json.loads(out)
    assert set(result) >= {"subject", "findings", "systems"}
    assert [f["id"] for f in result["findings"]] == ["crm:contacts:1"]
    finding = result["findings"][0]
    assert finding["strength"] == "strong" and "email" in finding["matched"]
    systems = {s["name"]: s for s in result["systems"]}
    assert systems["crm"]["status"] == "ok" and systems["billing"]["status"] == "error"
    assert "ann.lee@example.com" not in err.lower() and "s3cret-pw" not in err


def test_search_only_one_system(capsys, config):
    code, out, _ = run(capsys, "search", "--phone", "+44 7700 900201", "--system", "crm",
                       "--json")
    assert code == 0
    assert [s["name"] for s in json.loads(out)["systems"]] == ["crm"]


def test_invalid_identifier_exit_1_names_type_not_value(capsys, config):
    code, out, err = run(capsys, "search", "--phone", "07700 9001", "--json")
    assert code == 1
    assert "invalid phone" in err and "07700 9001" not in err
    assert json.loads(out)["exit_code"] == 1


def test_unknown_system_and_usage_errors(capsys, config):
    code, _, err = run(capsys, "search", "--email", "a@example.com", "--system", "nope")
    assert code == 1 and "no system named 'nope'" in err
    code, _, _ = run(capsys, "search", "--bogus")
    assert code == 2
    code, _, err = run(capsys, "search")
    assert code == 1 and "at least one identifier" in err


def test_batch_subjects_file(capsys, config, tmp_path):
    path = tmp_path / "subjects.jsonl"
    path.write_text('{"ref": "S1", "email": ["ann.lee@example.com"]}\n\n'
                    '{"ref": "S2", "phone": "07700 900999"}\n')
    code, out, _ = run(capsys, "search", "--subjects", str(path), "--system", "crm", "--json")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["ref"] for line in lines] == ["S1", "S2"]
    assert [len(line["findings"]) for line in lines] == [1, 0]


def test_batch_with_bad_lines_searches_nothing(capsys, config, tmp_path):
    path = tmp_path / "subjects.jsonl"
    path.write_text('{"ref": "S1", "email": "ann.lee@example.com"}\n'
                    '{"ref": "S2", "email": "not-an-email"}\n'
                    'not json\n')
    code, out, err = run(capsys, "search", "--subjects", str(path), "--json")
    assert code == 1
    assert "line 2: invalid email" in err and "line 3: not valid JSON" in err
    assert "not-an-email" not in err
    assert "findings" not in out


def test_missing_config_file(capsys, tmp_path):
    code, _, err = run(capsys, "--config", str(tmp_path / "none.toml"), "systems", "list")
    assert code == 1 and "none.toml" in err and "dsr init" in err


def test_config_log_level_applies_unless_overridden(capsys, config):
    text = config.read_text().replace("[agent]\n", '[agent]\nlog_level = "warning"\n')
    config.write_text(text)
    code, _, err = run(capsys, "search", "--email", "ann.lee@example.com", "--system", "crm")
    assert code == 0 and "search_started" not in err
    code, _, err = run(capsys, "--log-level", "info", "search", "--email",
                       "ann.lee@example.com", "--system", "crm")
    assert code == 0 and "search_started" in err

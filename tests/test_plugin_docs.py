"""Every hookspec is documented in docs/plugins.md, its example runs, and a test exercises it.

What is checked, and how far it goes:

- **Documented**: each hookspec in ``agent.hookspecs`` has a ``## name(params)`` section whose
  parameter names are the hookspec's (``inspect.signature``), holding the exact typed
  signature as written in hookspecs.py, and the parts every section needs: parameters,
  when it fires, what the core does, an example. A ``## name(`` section for a hook that no
  longer exists fails too.
- **The examples run**: each section's example is loaded as a real plugin module into a
  ``PluginManager`` and its hook is fired the way the core fires it (registration at load,
  ``build_cli`` for commands, ``fire`` for lifecycle events), and what it did is checked.
- **Exercised by the tests**: a static check — each hook has an implementation
  (``def <hook>(``) in some file under tests/ other than this one. That proves a test
  defines one, not that it runs; it is the simple, honest floor. The tests that load them
  (tests/test_plugins.py, test_broken_plugins.py, test_request_run.py, test_lifecycle.py,
  ...) fire them through the plugin manager, and the examples above are fired here.
"""

from __future__ import annotations

import csv
import inspect
import json
import logging
import re
import types
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agent import hookspecs
from agent.errors import PluginError
from agent.plans import Outcome, PlanItem
from agent.plugins import PluginManager
from agent.request import Request

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
PARTS = ("**Parameters**", "**When it fires**", "**What the core does**", "**Example**")


def hookspec_functions() -> dict[str, Any]:
    marker = f"{hookspecs.PROJECT}_spec"  # what pluggy's HookspecMarker sets
    return {name: fn for name, fn in vars(hookspecs).items()
            if inspect.isfunction(fn) and hasattr(fn, marker)}


HOOKS = sorted(hookspec_functions())


def typed_signature(name: str) -> str:
    """``def name(a: T, ...) -> R`` as written in hookspecs.py (annotations are strings
    there, ``from __future__ import annotations``)."""
    sig = inspect.signature(hookspec_functions()[name])
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}"


def sections() -> dict[str, tuple[str, str]]:
    """Hook name -> (heading's parameter list, section text) for ``## name(...)`` headings."""
    text = DOC.read_text(encoding="utf-8")
    out: dict[str, tuple[str, str]] = {}
    for chunk in re.split(r"^(?=## )", text, flags=re.MULTILINE):
        match = re.match(r"## (\w+)\((.*)\)\s*$", chunk.splitlines()[0]) if chunk else None
        if match:
            assert match.group(1) not in out, f"two sections for {match.group(1)}"
            out[match.group(1)] = (match.group(2), chunk)
    return out


def example(hook: str) -> str:
    body = sections()[hook][1].split("**Example**", 1)[1]
    match = re.search(r"```python\n(.*?)```", body, flags=re.DOTALL)
    assert match, f"{hook}: no python block after **Example**"
    return match.group(1)


def test_there_are_hookspecs_to_check() -> None:
    assert {"register_connectors", "register_commands", "before_erasure",
            "after_erasure"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hookspec_has_a_complete_section(hook: str) -> None:
    found = sections()
    assert hook in found, f"docs/plugins.md has no '## {hook}(' section"
    params, text = found[hook]
    expected = list(inspect.signature(hookspec_functions()[hook]).parameters)
    assert [p.strip() for p in params.split(",") if p.strip()] == expected
    assert f"```python\n{typed_signature(hook)}\n```" in text, typed_signature(hook)
    for part in PARTS:
        assert part in text, f"{hook}: section lacks {part}"
    code = example(hook)
    assert "@hookimpl" in code and f"def {hook}(" in code
    for param in expected:
        assert f"`{param}`" in text.split("**When it fires**")[0], f"{hook}: {param} undocumented"


def test_no_section_documents_a_hook_that_does_not_exist() -> None:
    assert set(sections()) <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hookspec_is_implemented_by_some_test(hook: str) -> None:
    here = Path(__file__).resolve()
    using = [str(path.relative_to(ROOT)) for path in sorted((ROOT / "tests").rglob("*.py"))
             if path.resolve() != here
             and f"def {hook}(" in path.read_text(encoding="utf-8", errors="replace")]
    assert using, f"no test implements the {hook} hook"


# --------------------------------------------------------------------------- examples run

def plugin_from_docs(hook: str) -> types.ModuleType:
    module = types.ModuleType(f"docs_example_{hook}")
    exec(compile(example(hook), f"docs/plugins.md ({hook} example)", "exec"), module.__dict__)
    return module


def manager_with(hook: str) -> PluginManager:
    manager = PluginManager()
    manager.add_module(f"docs-{hook}", plugin_from_docs(hook))
    return manager.load(builtins=(), use_entry_points=False)


def a_request() -> Request:
    return Request(id="R-docs-1", type="erasure", status="executing",
                   received_at=datetime.now(UTC), deadline=date.today(), created_by="alice",
                   identity_required=0)


def test_register_connectors_example() -> None:
    registration = manager_with("register_connectors").registry.get("connectors", "tickets")
    assert registration is not None and registration.plugin == "docs-register_connectors"
    assert registration.obj.capabilities == {"check", "search"}


def test_register_extractors_example() -> None:
    from io import BytesIO

    from agent.extraction import Extraction

    manager = manager_with("register_extractors")
    (registration,) = manager.registry.all("extractors")
    card = b"BEGIN:VCARD\nFN:Ann Lee\nEMAIL:ann.lee@example.com\nEND:VCARD\n"
    pieces = list(Extraction([registration.obj]).pieces(BytesIO(card), "contact.vcf"))
    assert "ann.lee@example.com" in pieces[0].text


def test_register_detectors_example() -> None:
    detector = manager_with("register_detectors").registry.get("detectors", "loyalty_card")
    assert detector is not None
    assert detector.obj.matches("LC00012345", "loyalty_card_no")
    assert not detector.obj.matches("not a card", "loyalty_card_no")


def test_register_exporters_example(tmp_path: Path) -> None:
    registration = manager_with("register_exporters").registry.get("exporters", "csv")
    assert registration is not None
    path = registration.obj().write([{"finding": "crm:contacts:1", "email": "a@example.com"}],
                                    tmp_path)
    with path.open(encoding="utf-8", newline="") as rows:
        assert list(csv.DictReader(rows)) == [{"email": "a@example.com",
                                              "finding": "crm:contacts:1"}]


def test_register_commands_example(tmp_path: Path) -> None:
    from agent.cli import build_cli

    config = tmp_path / "agent.toml"
    config.write_text('[[systems]]\nname = "helpdesk"\nconnector = "tickets"\n'
                      'url = "https://tickets.example.com/api"\n', encoding="utf-8")
    cli = build_cli(manager_with("register_commands"))
    result = CliRunner().invoke(cli, ["--config", str(config), "tickets-systems", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"systems": ["helpdesk"]}


def test_request_status_changed_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    outbox = tmp_path / "outbox.jsonl"
    monkeypatch.setenv("TICKETS_OUTBOX", str(outbox))
    manager = manager_with("request_status_changed")
    manager.fire("request_status_changed", request=a_request(), old="approved",
                 new="executing", actor="alice", reason=None)
    assert json.loads(outbox.read_text(encoding="utf-8")) == {
        "request": "R-docs-1", "type": "erasure", "from": "approved", "to": "executing",
        "by": "alice", "reason": None}


def test_before_erasure_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    holds = tmp_path / "holds.txt"
    holds.write_text("R-docs-1\n", encoding="utf-8")
    monkeypatch.setenv("LEGAL_HOLDS", str(holds))
    manager = manager_with("before_erasure")
    items = [PlanItem(id="billing:invoices:7", action="delete", reason="no rule keeps it",
                      system="billing")]
    manager.fire("before_erasure", request=a_request(), system="crm", items=items)
    with pytest.raises(PluginError, match="plugin 'docs-before_erasure' failed in "
                                          "before_erasure: RuntimeError: billing is under"):
        manager.fire("before_erasure", request=a_request(), system="billing", items=items)


def test_after_erasure_example(caplog: pytest.LogCaptureFixture) -> None:
    manager = manager_with("after_erasure")
    items = [PlanItem(id="crm:contacts:1", action="delete", reason="r", system="crm"),
             PlanItem(id="crm:contacts:2", action="delete", reason="r", system="crm")]
    outcomes = [Outcome("crm:contacts:1", "done"), Outcome("crm:contacts:2", "failed", "x")]
    with caplog.at_level(logging.INFO, logger="tickets_plugin"):
        manager.fire("after_erasure", request=a_request(), system="crm", items=items,
                     outcomes=outcomes)
    assert "request R-docs-1: crm carried out 2 item(s), 1 failed" in caplog.text


def test_every_example_is_fired_above() -> None:
    tested = {name.removeprefix("test_").removesuffix("_example")
              for name in globals() if name.endswith("_example") and name.startswith("test_")}
    assert tested == set(HOOKS)

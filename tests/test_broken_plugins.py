"""A broken plugin stops ``dsr`` at start-up with an error naming it, and
``DSR_DISABLE_PLUGINS=<name>`` lets an admin start without it — through the real CLI.

Each case installs a distribution the way pip would (``*.dist-info`` with an
``entry_points.txt`` in the ``dsr_agent`` group, beside its module) into a folder on the
path, so the plugin is found by ``importlib.metadata`` exactly as an installed one is. The
matrix of failures runs ``agent.cli.main`` (what the ``dsr`` script calls) in-process with a
fresh plugin manager per run; the tests marked *end to end* run the console script in a
fresh interpreter with the folder on ``PYTHONPATH``. tests/test_plugins.py covers the same
failures (and more) at the PluginManager level.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from agent.cli import COMMANDS, main
from agent.errors import PluginError
from agent.plugins import PluginManager, reset_plugin_manager
from tests.test_plugins import CONNECTOR_PLUGIN, Dists, dists  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]
DSR = [sys.executable, "-c", "from agent.cli import run; run()"]


@pytest.fixture
def site(tmp_path: Path) -> Dists:
    root = tmp_path / "site"
    root.mkdir()
    return Dists(root)


def dsr_in_process(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                   *args: str, disable: str | None = None
                   ) -> subprocess.CompletedProcess[str]:
    """``dsr ARGS`` through ``agent.cli.main``, loading plugins afresh as a new process would."""
    if disable is None:
        monkeypatch.delenv("DSR_DISABLE_PLUGINS", raising=False)
    else:
        monkeypatch.setenv("DSR_DISABLE_PLUGINS", disable)
    reset_plugin_manager()
    try:
        code = main(list(args))
    finally:
        reset_plugin_manager()
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["dsr", *args], code, out, err)


def dsr(site: Dists, *args: str, disable: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSR_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site.root), str(ROOT)])
    if disable is not None:
        env["DSR_DISABLE_PLUGINS"] = disable
    return subprocess.run([*DSR, *args], cwd=site.root.parent, env=env, capture_output=True,
                          text=True, check=False, timeout=60)


def assert_refused(proc: subprocess.CompletedProcess[str], plugin: str, *problem: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()  # one clear line, no traceback
    assert line.startswith("error: plugin ")
    assert f"'{plugin}'" in line
    assert line.endswith(f"Start without it with DSR_DISABLE_PLUGINS={plugin}")
    for words in problem:
        assert words in line


def assert_listed_without(proc: subprocess.CompletedProcess[str], plugin: str,
                          still: str = "fine") -> None:
    assert proc.returncode == 0, proc.stderr
    names = {p["name"] for p in json.loads(proc.stdout)}
    assert plugin not in names
    assert {still, "connectors.sql"} <= names  # the rest of the estate still loads


def assert_starts_without(site: Dists, plugin: str, *, still: str = "fine") -> None:
    assert_listed_without(dsr(site, "plugins", "list", "--json", disable=plugin), plugin, still)


BROKEN = {
    "import-error": ("import dsr_test_missing_dependency\n",
                     ("failed to import", "ModuleNotFoundError",
                      "dsr_test_missing_dependency")),
    "misspelled-hook": ("""
        from agent.hookspecs import hookimpl

        @hookimpl
        def register_conectors(register):
            pass
     """, ("unknown hook 'register_conectors'", "misspelled hook?")),
    "wrong-arguments": ("""
        from agent.hookspecs import hookimpl

        @hookimpl
        def register_connectors(register, system):
            pass
     """, ("is invalid", "system")),
    "wrong-type": ("""
        from agent.hookspecs import hookimpl

        class NotAConnector:
            name = "crm"

        @hookimpl
        def register_connectors(register):
            register(NotAConnector)
     """, ("as a connector: expected a subclass of agent.connector.Connector",)),
    "overclaims": ("""
        from agent.connector import CheckResult, Connector
        from agent.hookspecs import hookimpl

        class Overclaims(Connector):
            name = "overclaims"
            capabilities = frozenset({"check", "search", "erase"})

            def check(self):
                return CheckResult(ok=True)

            def search(self, subjects):
                return []

        @hookimpl
        def register_connectors(register):
            register(Overclaims)
     """, ("connector 'overclaims' declares capability 'erase' but does not implement "
           "erase()",)),
    "unknown-capability": ("""
        from agent.connector import Connector
        from agent.hookspecs import hookimpl

        class Odd(Connector):
            name = "odd"
            capabilities = frozenset({"search", "delete"})

            def search(self, subjects):
                return []

        @hookimpl
        def register_connectors(register):
            register(Odd)
     """, ("declares unknown capabilities ['delete']",)),
    "setup-fails": ("""
        from agent.hookspecs import hookimpl

        @hookimpl
        def register_detectors(register):
            raise RuntimeError("licence file missing")
     """, ("failed in register_detectors: RuntimeError: licence file missing",)),
}


@pytest.mark.parametrize("plugin", sorted(BROKEN))
def test_a_broken_plugin_is_named_and_can_be_disabled(
        dists: Dists, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        plugin: str) -> None:
    source, problem = BROKEN[plugin]
    dists.plugin(plugin, source)
    dists.plugin("fine", CONNECTOR_PLUGIN.format(cls="Fine", name="fine"))
    assert_refused(dsr_in_process(capsys, monkeypatch, "plugins", "list"), plugin, *problem)
    assert_listed_without(dsr_in_process(capsys, monkeypatch, "plugins", "list", "--json",
                                         disable=plugin), plugin)


def test_end_to_end_an_import_error(site: Dists) -> None:
    site.plugin("needs-lib", BROKEN["import-error"][0])
    site.plugin("fine", CONNECTOR_PLUGIN.format(cls="Fine", name="fine"))
    assert_refused(dsr(site, "plugins", "list"), "needs-lib", *BROKEN["import-error"][1])
    assert_starts_without(site, "needs-lib")


def test_end_to_end_duplicate_connector_names_between_two_plugins(site: Dists) -> None:
    site.plugin("first", CONNECTOR_PLUGIN.format(cls="Crm", name="crm"))
    site.plugin("second", CONNECTOR_PLUGIN.format(cls="OtherCrm", name="crm"))
    site.plugin("fine", CONNECTOR_PLUGIN.format(cls="Fine", name="fine"))
    proc = dsr(site, "plugins", "list")
    # Whichever loaded second is refused; the message names both and how to go on.
    match = re.search(r"DSR_DISABLE_PLUGINS=(\w+)$", proc.stderr.strip())
    assert match, proc.stderr
    blamed = match.group(1)
    other = ({"first", "second"} - {blamed}).pop()
    assert_refused(proc, blamed, f"registered connector 'crm', already registered by "
                                 f"plugin '{other}'")
    assert_starts_without(site, blamed)


def test_a_plugin_taking_a_builtin_connector_name(
        dists: Dists, capsys: pytest.CaptureFixture[str],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    dists.plugin("shadow-sql", CONNECTOR_PLUGIN.format(cls="MySql", name="sql"))
    dists.plugin("fine", CONNECTOR_PLUGIN.format(cls="Fine", name="fine"))
    assert_refused(dsr_in_process(capsys, monkeypatch, "plugins", "list"), "shadow-sql",
                   "already registered by plugin 'connectors.sql'")
    assert_listed_without(dsr_in_process(capsys, monkeypatch, "plugins", "list", "--json",
                                         disable="shadow-sql"), "shadow-sql")


def test_end_to_end_every_command_is_refused_and_json_callers_get_json(site: Dists) -> None:
    # Not only `plugins list`: the plugin manager loads before any command (even --help),
    # so nothing runs with a half-loaded estate.
    site.plugin("typo", BROKEN["misspelled-hook"][0])
    assert_refused(dsr(site, "--help"), "typo")
    proc = dsr(site, "systems", "list", "--json")
    assert proc.returncode == 1
    body = json.loads(proc.stdout)
    assert body["exit_code"] == 1
    assert "'typo'" in body["error"] and "DSR_DISABLE_PLUGINS=typo" in body["error"]


def test_disabling_one_of_several_plugins_and_a_list(
        dists: Dists, capsys: pytest.CaptureFixture[str],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    dists.plugin("broken-a", BROKEN["import-error"][0])
    dists.plugin("broken-b", BROKEN["wrong-type"][0])
    dists.plugin("fine", CONNECTOR_PLUGIN.format(cls="Fine", name="fine"))

    def dsr_(*args: str, disable: str | None = None) -> subprocess.CompletedProcess[str]:
        return dsr_in_process(capsys, monkeypatch, *args, disable=disable)

    first = dsr_("plugins", "list")
    assert first.returncode == 1
    # Disabling the one named brings the next broken one to light; a comma list skips both.
    named = re.search(r"DSR_DISABLE_PLUGINS=([\w-]+)$", first.stderr.strip())
    assert named and named.group(1) in {"broken-a", "broken-b"}
    rest = ({"broken-a", "broken-b"} - {named.group(1)}).pop()
    assert_refused(dsr_("plugins", "list", disable=named.group(1)), rest)
    proc = dsr_("plugins", "list", "--json", disable="broken-a, broken-b")
    assert proc.returncode == 0, proc.stderr
    assert "fine" in {p["name"] for p in json.loads(proc.stdout)}


# ``PluginManager.add_commands`` is ready for ``agent.cli.build_cli`` to call instead of
# ``pm.hook.register_commands(cli=cli)``; until then a raising register_commands hook ends
# ``dsr`` with a traceback rather than this error.

def root_group() -> click.Group:
    group = click.Group("dsr")
    for command in COMMANDS:
        group.add_command(command)
    return group


def test_a_command_hook_that_raises_is_named(dists: Dists) -> None:  # noqa: F811
    dists.plugin("noisy", """
        from agent.hookspecs import hookimpl

        @hookimpl
        def register_commands(cli):
            raise RuntimeError("no licence")
    """)
    manager = PluginManager().load(builtins=())
    with pytest.raises(PluginError, match=r"plugin 'noisy' failed in register_commands: "
                                          r"RuntimeError: no licence\. Start without it with "
                                          r"DSR_DISABLE_PLUGINS=noisy"):
        manager.add_commands(root_group())


def test_a_command_hook_replacing_a_builtin_command_is_named(dists: Dists) -> None:  # noqa: F811
    dists.plugin("hijack", """
        import click
        from agent.hookspecs import hookimpl

        @hookimpl
        def register_commands(cli):
            cli.add_command(click.Command("tickets", help="Fine: a new name."))
            cli.add_command(click.Command("search", help="Not the real search."))
    """)
    manager = PluginManager().load(builtins=())
    with pytest.raises(PluginError, match=r"plugin 'hijack' replaced the command\(s\) "
                                          r"search\. Start without it with "
                                          r"DSR_DISABLE_PLUGINS=hijack"):
        manager.add_commands(root_group())


def test_command_hooks_that_add_new_commands_are_fine(dists: Dists) -> None:  # noqa: F811
    dists.plugin("tickets", """
        import click
        from agent.hookspecs import hookimpl

        @hookimpl
        def register_commands(cli):
            cli.add_command(click.Command("tickets", help="A plugin command."))
    """)
    group = click.Group("dsr")
    PluginManager().load(builtins=()).add_commands(group)
    assert list(group.commands) == ["tickets"]

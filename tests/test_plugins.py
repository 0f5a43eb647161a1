"""The plugin manager: built-ins, real entry points, validation, env switches, lifecycle hooks.

Entry-point plugins here are real: each test writes a distribution (``*.dist-info`` with
METADATA and entry_points.txt) and its module into a temporary folder on ``sys.path``, so
``importlib.metadata`` finds them exactly as it finds an installed package.
"""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import pytest

from agent import __version__
from agent.errors import PluginError
from agent.hookspecs import hookimpl
from agent.plugins import DEFAULT_PLUGINS, PluginManager

_serial = count()

# A connector plugin as an integrator would write it; {name} is the connector's name.
CONNECTOR_PLUGIN = '''
from agent.connector import CheckResult, Connector
from agent.hookspecs import hookimpl


class {cls}(Connector):
    name = "{name}"
    capabilities = frozenset({{"check", "search"}})

    def check(self):
        return CheckResult(ok=True)

    def search(self, subjects):
        return []


@hookimpl
def register_connectors(register):
    register({cls})
'''


class Dists:
    """Writes installable plugin distributions into one folder on ``sys.path``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def add(self, entry_points: dict[str, str], modules: dict[str, str],
            version: str = "1.0.0") -> str:
        """A distribution whose ``dsr_agent`` entry points map names to module sources."""
        dist = f"dsr_test_plugin_{next(_serial)}"
        info = self.root / f"{dist}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
        lines = "".join(f"{ep} = {target}\n" for ep, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[dsr_agent]\n{lines}", encoding="utf-8")
        for module, source in modules.items():
            (self.root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
            self.modules.append(module)
        return dist

    def plugin(self, ep_name: str, source: str, version: str = "1.0.0") -> str:
        """One entry point ``ep_name`` backed by a fresh module holding ``source``."""
        module = f"dsr_test_mod_{next(_serial)}"
        self.add({ep_name: module}, {module: source}, version)
        return module


@pytest.fixture
def dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dists]:
    monkeypatch.delenv("DSR_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("DSR_DISABLE_PLUGINS", raising=False)
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))  # also invalidates import caches
    made = Dists(root)
    yield made
    for module in made.modules:
        sys.modules.pop(module, None)


def load(**kwargs: object) -> PluginManager:
    kwargs.setdefault("builtins", ("plugins.detectors",))
    return PluginManager().load(**kwargs)  # type: ignore[arg-type]


def test_defaults_are_one_tuple_of_modules() -> None:
    assert "plugins.detectors" in DEFAULT_PLUGINS
    assert "connectors.sql" in DEFAULT_PLUGINS


# --------------------------------------------------------------------------- built-ins

def test_builtins_load_and_report_what_they_registered(dists: Dists) -> None:
    manager = load(use_entry_points=False)
    (info,) = manager.plugins()
    assert info.name == "plugins.detectors"
    assert info.builtin is True
    assert info.version == __version__
    assert info.hooks == ["register_detectors"]
    assert "email" in info.registered["detectors"]
    assert manager.registry.get("detectors", "email").plugin == "plugins.detectors"


def test_a_builtin_can_be_disabled(dists: Dists, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSR_DISABLE_PLUGINS", "plugins.detectors")
    manager = load(use_entry_points=False)
    assert manager.plugins() == []
    assert manager.registry.all("detectors") == []


# --------------------------------------------------------------------------- entry points

def test_entry_point_plugins_load_after_builtins(dists: Dists) -> None:
    dists.plugin("acme-crm", CONNECTOR_PLUGIN.format(cls="AcmeCrm", name="acme"),
                 version="1.2.3")
    manager = load()
    names = [p.name for p in manager.plugins()]
    assert names.index("plugins.detectors") < names.index("acme-crm")
    acme = next(p for p in manager.plugins() if p.name == "acme-crm")
    assert (acme.version, acme.builtin) == ("1.2.3", False)
    assert acme.hooks == ["register_connectors"]
    assert acme.registered == {"connectors": ["acme"]}
    registration = manager.registry.get("connectors", "acme")
    assert registration is not None and registration.plugin == "acme-crm"
    assert registration.obj.__name__ == "AcmeCrm"


def test_entry_points_can_be_switched_off(dists: Dists) -> None:
    dists.plugin("acme-crm", CONNECTOR_PLUGIN.format(cls="AcmeCrm", name="acme"))
    manager = load(use_entry_points=False)
    assert "acme-crm" not in [p.name for p in manager.plugins()]


def test_dsr_load_plugins_restricts_entry_points(dists: Dists,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    dists.plugin("one", CONNECTOR_PLUGIN.format(cls="One", name="one"))
    dists.plugin("two", CONNECTOR_PLUGIN.format(cls="Two", name="two"))
    monkeypatch.setenv("DSR_LOAD_PLUGINS", "two, other")
    names = {p.name for p in load().plugins()}
    assert "two" in names
    assert "one" not in names
    assert "plugins.detectors" in names  # built-ins are not restricted


def test_one_distribution_may_ship_several_plugins(dists: Dists) -> None:
    dists.add({"alpha": "dsr_test_multi_a", "beta": "dsr_test_multi_b"}, {
        "dsr_test_multi_a": CONNECTOR_PLUGIN.format(cls="Alpha", name="alpha"),
        "dsr_test_multi_b": CONNECTOR_PLUGIN.format(cls="Beta", name="beta"),
    }, version="0.4.0")
    manager = load()
    assert {r.name for r in manager.registry.all("connectors")} >= {"alpha", "beta"}
    versions = {p.name: p.version for p in manager.plugins()}
    assert versions["alpha"] == versions["beta"] == "0.4.0"


# --------------------------------------------------------------------------- broken plugins

def assert_names_plugin(err: PluginError, plugin: str) -> None:
    assert f"'{plugin}'" in str(err)
    assert f"DSR_DISABLE_PLUGINS={plugin}" in str(err)


def test_import_error_names_the_plugin_and_the_way_out(dists: Dists,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    dists.plugin("broken", "import dsr_test_no_such_dependency\n")
    dists.plugin("fine", CONNECTOR_PLUGIN.format(cls="Fine", name="fine"))
    with pytest.raises(PluginError) as info:
        load()
    assert_names_plugin(info.value, "broken")
    assert "ModuleNotFoundError" in str(info.value)

    monkeypatch.setenv("DSR_DISABLE_PLUGINS", "broken")
    manager = load()
    assert manager.registry.get("connectors", "fine") is not None
    assert "broken" not in {p.name for p in manager.plugins()}


def test_entry_point_to_a_missing_module(dists: Dists) -> None:
    dists.add({"ghost": "dsr_test_module_that_is_not_there"}, {})
    with pytest.raises(PluginError) as info:
        load()
    assert_names_plugin(info.value, "ghost")


def test_misspelled_hook_fails_at_start_up(dists: Dists) -> None:
    dists.plugin("typo", """
        from agent.hookspecs import hookimpl

        @hookimpl
        def register_detector(register):
            pass
    """)
    with pytest.raises(PluginError) as info:
        load()
    assert_names_plugin(info.value, "typo")
    assert "register_detector" in str(info.value)
    assert "misspelled" in str(info.value)


def test_hook_with_wrong_arguments(dists: Dists) -> None:
    dists.plugin("badargs", """
        from agent.hookspecs import hookimpl

        @hookimpl
        def register_connectors(register, extra):
            pass
    """)
    with pytest.raises(PluginError) as info:
        load()
    assert_names_plugin(info.value, "badargs")
    assert "extra" in str(info.value)


@pytest.mark.parametrize(("source", "problem"), [
    ("""
        from agent.hookspecs import hookimpl

        @hookimpl
        def register_connectors(register):
            register(object())
     """, "expected a subclass of agent.connector.Connector"),
    ("""
        from agent.hookspecs import hookimpl
        from plugins.detectors import EmailDetector

        class WorkEmail(EmailDetector):
            name = "work_email"

        @hookimpl
        def register_detectors(register):
            register(WorkEmail)  # the class, not an instance
     """, "expected an instance of agent.detectors.Detector"),
    ("""
        from agent.extractors import Extractor
        from agent.hookspecs import hookimpl

        class Half(Extractor):
            name = "half"

        @hookimpl
        def register_extractors(register):
            register(Half)
     """, "does not implement extract"),
    ("""
        from agent.connector import Connector
        from agent.hookspecs import hookimpl

        class Nameless(Connector):
            pass

        @hookimpl
        def register_connectors(register):
            register(Nameless)
     """, "without a name"),
    ("""
        from agent.connector import Connector
        from agent.hookspecs import hookimpl

        class Boastful(Connector):
            name = "boastful"
            capabilities = frozenset({"search", "erase"})

            def search(self, subjects):
                return []

        @hookimpl
        def register_connectors(register):
            register(Boastful)
     """, "declares capability 'erase' but does not implement erase()"),
    ("""
        from agent.connector import Connector
        from agent.hookspecs import hookimpl

        class Odd(Connector):
            name = "odd"
            capabilities = frozenset({"teleport"})

        @hookimpl
        def register_connectors(register):
            register(Odd)
     """, "unknown capabilities ['teleport']"),
    ("""
        from agent.hookspecs import hookimpl

        @hookimpl
        def register_exporters(register):
            raise RuntimeError("exporter setup failed")
     """, "failed in register_exporters: RuntimeError: exporter setup failed"),
])
def test_bad_registrations_name_the_plugin(dists: Dists, source: str, problem: str) -> None:
    dists.plugin("faulty", source)
    with pytest.raises(PluginError) as info:
        load()
    assert_names_plugin(info.value, "faulty")
    assert problem in str(info.value)


def test_duplicate_connector_names_name_both_plugins(dists: Dists) -> None:
    dists.plugin("first", CONNECTOR_PLUGIN.format(cls="Crm", name="crm"))
    dists.plugin("second", CONNECTOR_PLUGIN.format(cls="OtherCrm", name="crm"))
    with pytest.raises(PluginError) as info:
        load()
    message = str(info.value)
    assert "connector 'crm'" in message
    assert "'first'" in message and "'second'" in message


def test_a_plugin_cannot_take_a_builtin_detector_name(dists: Dists) -> None:
    dists.plugin("shadow", """
        from agent.hookspecs import hookimpl
        from plugins.detectors import EmailDetector

        @hookimpl
        def register_detectors(register):
            register(EmailDetector())
    """)
    with pytest.raises(PluginError) as info:
        load()
    assert_names_plugin(info.value, "shadow")
    assert "already registered by plugin 'plugins.detectors'" in str(info.value)


# --------------------------------------------------------------------------- lifecycle hooks

LIFECYCLE_PLUGIN = """
from agent.hookspecs import hookimpl

calls = []


@hookimpl
def request_status_changed(request, old, new, actor, reason):
    calls.append(("status", request, old, new, actor, reason))


@hookimpl
def before_erasure(request, system, items):
    calls.append(("before", request, system))
    if system == "stop":
        raise RuntimeError("legal hold on this request")


@hookimpl
def after_erasure(request, system, items, outcomes):
    calls.append(("after", request, system, outcomes))
"""


def test_lifecycle_hooks_are_fired(dists: Dists) -> None:
    module = dists.plugin("audit", LIFECYCLE_PLUGIN)
    manager = load()
    manager.fire("request_status_changed", request="R1", old=None, new="open", actor="admin",
                 reason=None)
    manager.fire("before_erasure", request="R1", system="go", items=[])
    manager.fire("after_erasure", request="R1", system="go", items=[], outcomes=["ok"])
    assert sys.modules[module].calls == [
        ("status", "R1", None, "open", "admin", None),
        ("before", "R1", "go"),
        ("after", "R1", "go", ["ok"]),
    ]
    audit = next(p for p in manager.plugins() if p.name == "audit")
    assert audit.hooks == ["after_erasure", "before_erasure", "request_status_changed"]
    assert audit.registered == {}


def test_a_failing_hook_names_its_plugin(dists: Dists) -> None:
    dists.plugin("quiet", """
        from agent.hookspecs import hookimpl

        @hookimpl
        def before_erasure(request, system, items):
            pass
    """)
    dists.plugin("legal-hold", LIFECYCLE_PLUGIN)
    manager = load()
    with pytest.raises(PluginError) as info:
        manager.fire("before_erasure", request="R1", system="stop", items=[])
    assert "plugin 'legal-hold' failed in before_erasure" in str(info.value)
    assert "legal hold on this request" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_firing_an_unknown_event(dists: Dists) -> None:
    manager = load(use_entry_points=False)
    with pytest.raises(ValueError, match="unknown lifecycle event 'before_erase'"):
        manager.fire("before_erase", request="R1", system="go", items=[])


def test_events_without_listeners_are_fine(dists: Dists) -> None:
    load(use_entry_points=False).fire("after_erasure", request="R1", system="go", items=[],
                                           outcomes=[])


def test_in_process_plugins_and_command_hooks(dists: Dists) -> None:
    @hookimpl
    def register_commands(cli: object) -> None:
        cli.add_command("noop")  # type: ignore[attr-defined]

    plugin = types.ModuleType("commands")
    plugin.register_commands = register_commands  # type: ignore[attr-defined]
    manager = PluginManager()
    manager.add_module("commands", plugin)
    manager.load(builtins=(), use_entry_points=False)
    (info,) = manager.plugins()
    assert (info.name, info.version, info.hooks) == ("commands", "test", ["register_commands"])
    added: list[str] = []
    manager.hook.register_commands(cli=types.SimpleNamespace(add_command=added.append))
    assert added == ["noop"]


def test_every_kind_of_registration_from_one_entry_point_plugin(dists: Dists) -> None:
    dists.plugin("kitchen-sink", """
        from agent.detectors import Detector
        from agent.exporters import Exporter
        from agent.extractors import Extractor, TextPiece
        from agent.hookspecs import hookimpl

        class Vcard(Extractor):
            name = "vcard_test"
            extensions = (".vcf",)

            def extract(self, stream, filename, context):
                yield TextPiece(stream.read().decode(), where="", offset=0)

        class Jsonl(Exporter):
            name = "jsonl_test"
            media_type = "application/jsonl"

            def write(self, records, destination):
                return destination

        class Loyalty(Detector):
            name = "loyalty_test"
            identifier_type = "account"

        @hookimpl
        def register_extractors(register):
            register(Vcard)

        @hookimpl
        def register_exporters(register):
            register(Jsonl)

        @hookimpl
        def register_detectors(register):
            register(Loyalty())
    """, version="2.0.0")
    manager = load()
    sink = next(p for p in manager.plugins() if p.name == "kitchen-sink")
    assert sink.hooks == ["register_detectors", "register_exporters", "register_extractors"]
    assert sink.registered == {"extractors": ["vcard_test"], "exporters": ["jsonl_test"],
                               "detectors": ["loyalty_test"]}
    assert manager.registry.get("exporters", "jsonl_test").plugin == "kitchen-sink"
    # registration order: the built-in detectors first, the plugin's after them
    assert manager.registry.all("detectors")[-1].name == "loyalty_test"

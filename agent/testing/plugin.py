"""The pytest plugin behind ``agent.testing`` (entry point ``pytest11: dsr_agent``).

Fixtures for ``ConnectorConformance``: an engine over an in-memory config holding the seed's
one system (state store and HMAC key in ``tmp_path``), the run helper, and log capture.
Imports of the agent happen inside the fixtures, so loading the plugin costs nothing in
test runs that never use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from agent.config import Config
    from agent.engine import SearchEngine
    from agent.plugins import PluginManager
    from agent.testing.logs import LogCapture
    from agent.testing.run import ConformanceRun
    from agent.testing.seed import Seed

MISSING_SEED = (
    "the connector conformance kit needs a `dsr_seed` fixture: define one (function-scoped) "
    "in your test module or conftest.py that seeds your system afresh and returns "
    "agent.testing.Seed(system={'name': ..., 'url': ..., 'connector': ...}, "
    "subject={'email': [...], 'name': ...}, lookalike={...}). See docs/testing.md, "
    "'Conformance kit for connector authors'."
)


@pytest.fixture
def dsr_seed() -> Seed:
    """Overridden by the connector author; the default says what to write."""
    pytest.fail(MISSING_SEED, pytrace=False)


@pytest.fixture
def dsr_plugin_manager() -> PluginManager:
    """The plugins ``dsr`` itself loads (built-ins and ``dsr_agent`` entry points).
    Override it to test a connector that is not installed as an entry point."""
    from agent.plugins import get_plugin_manager

    return get_plugin_manager()


@pytest.fixture
def dsr_config(dsr_seed: Seed, tmp_path: Path) -> Config:
    from agent.config import config_from_dict
    from agent.errors import ConfigError
    from agent.testing.seed import Seed

    if not isinstance(dsr_seed, Seed):
        pytest.fail(f"dsr_seed must return agent.testing.Seed, not "
                    f"{type(dsr_seed).__name__}", pytrace=False)
    try:
        return config_from_dict({
            "agent": {"state": f"sqlite:///{(tmp_path / 'dsr-state.sqlite').as_posix()}",
                      "hmac_key": str(tmp_path / "keys" / "hmac.key")},
            "systems": [dsr_seed.system_entry()],
        }, base_dir=tmp_path)
    except ConfigError as exc:
        pytest.fail(f"Seed.system is not a valid [[systems]] entry: {exc}", pytrace=False)


@pytest.fixture
def dsr_engine(dsr_config: Config, dsr_plugin_manager: PluginManager
               ) -> Iterator[SearchEngine]:
    from agent.engine import SearchEngine

    engine = SearchEngine(dsr_config, dsr_plugin_manager)
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture
def dsr_kit(dsr_seed: Seed, dsr_engine: SearchEngine, request: pytest.FixtureRequest
            ) -> ConformanceRun:
    from agent.errors import ConfigError
    from agent.testing.run import ConformanceRun

    run = ConformanceRun(dsr_seed, dsr_engine, request)
    try:
        run.connector  # noqa: B018 - an unknown connector name fails here, clearly
    except ConfigError as exc:
        pytest.fail(str(exc), pytrace=False)
    return run


@pytest.fixture
def dsr_logs(capfd: pytest.CaptureFixture[str]) -> Iterator[LogCapture]:
    """Everything logged or printed while the test runs, raw (before redaction)."""
    from agent.testing.logs import LogCapture

    with LogCapture(capfd).installed() as capture:
        yield capture


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from agent.testing.run import NOT_APPLICABLE

    entries = terminalreporter.config.stash.get(NOT_APPLICABLE, [])
    if not entries:
        return
    terminalreporter.section("dsr connector conformance: not applicable")
    for nodeid, reason in entries:
        terminalreporter.line(f"{nodeid}: {reason}")

"""The worked example plugin (examples/dsr-helpdesk): its own test-suite passes with this
environment, and it builds into a wheel that, installed on its own, dsr loads and searches
with (docs/write-a-connector.md walks through it).

The example's tests are not collected by the repository's run (``testpaths = ["tests"]``);
they run here in a subprocess, as the plugin's author runs them, from the example's folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "dsr-helpdesk"
BIN = Path(sys.executable).parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSR_", "PYTEST_"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", **extra)  # keep the checkout free of __pycache__
    return env


@pytest.fixture(scope="module")
def example_suite() -> Iterator[subprocess.Popen[str]]:
    """The example's own test-suite, started first and left running while the wheel is
    built and tried (two processes instead of one after the other: the module stays quick)."""
    with subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=EXAMPLE, env=_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as suite:
        yield suite
        if suite.poll() is None:
            suite.kill()


@pytest.fixture(scope="module")
def installed(example_suite: subprocess.Popen[str], tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, Path]:
    """(the wheel, a folder it is installed into with --target): built from a copy, so the
    checkout gets no build/ or egg-info."""
    base = tmp_path_factory.mktemp("example-plugin")
    source = base / "dsr-helpdesk"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache", "build", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    wheels, site = base / "wheels", base / "site"
    for args in (["wheel", "--no-build-isolation", "--no-deps", "-w", str(wheels), str(source)],
                 ["install", "--no-build-isolation", "--no-deps", "--no-index", "--target",
                  str(site)]):
        if args[0] == "install":
            args.append(str(next(wheels.glob("dsr_helpdesk-*.whl"))))
        run = subprocess.run([*pip, *args], env=_env(), capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return next(wheels.glob("dsr_helpdesk-*.whl")), site


def test_wheel_declares_the_entry_point(installed):
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        text = archive.read(entry_points).decode()
    assert "[dsr_agent]\nhelpdesk = dsr_helpdesk.plugin" in text
    assert {"dsr_helpdesk/__init__.py", "dsr_helpdesk/connector.py",
            "dsr_helpdesk/client.py", "dsr_helpdesk/plugin.py"} <= set(names)
    assert not any(n.startswith("tests/") for n in names)  # the test server stays out


def _crm_server():
    """The example's test server (examples/ is not a package of this repository)."""
    spec = importlib.util.spec_from_file_location("helpdesk_crm_server",
                                                  EXAMPLE / "tests" / "crm_server.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_installed_plugin_is_listed_and_searches(installed, tmp_path):
    _, site = installed
    env = _env(PYTHONPATH=str(site), HELPDESK_TOKEN="example-token-4c1e")
    dsr = [str(BIN / "dsr")]
    listed = subprocess.run([*dsr, "plugins", "list", "--json"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    [plugin] = [p for p in json.loads(listed.stdout) if p["name"] == "helpdesk"]
    assert (plugin["version"], plugin["builtin"]) == ("0.1.0", False)
    assert plugin["registered"] == {"connectors": ["helpdesk"]}
    assert "register_connectors" in plugin["hooks"]

    with _crm_server().serve("example-token-4c1e") as crm:
        jane = crm.data.add_contact("Jane Doe", "jane.doe@example.com", "07700 900101")
        ticket = crm.data.add_ticket(jane, "Router down", "engineer booked")
        config = tmp_path / "agent.toml"
        config.write_text(f'[[systems]]\nname = "helpdesk"\nconnector = "helpdesk"\n'
                          f'url = "{crm.url}"\ntoken = "${{HELPDESK_TOKEN}}"\n')
        found = subprocess.run([*dsr, "--config", str(config), "search", "--phone",
                                "+44 7700 900101", "--json"], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr
    result = json.loads(found.stdout)
    assert [s["status"] for s in result["systems"]] == ["ok"]
    assert sorted((f["locator"], f["strength"]) for f in result["findings"]) == [
        (f"contacts:{jane}", "strong"), (f"tickets:{ticket}", "strong")]
    assert "example-token-4c1e" not in found.stderr + found.stdout
    assert "jane.doe@example.com" not in found.stderr


def test_example_suite_passes_from_the_checkout(example_suite, installed):
    # last in the module: the wheel was built and tried while the suite ran
    output, _ = example_suite.communicate(timeout=120)
    assert example_suite.returncode == 0, output[-6000:]
    summary = output.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary
    assert "skipped" not in summary, summary
    # the conformance kit ran (each check twice: delete and anonymise), plus its own tests
    assert "test_conformance.py::TestConformance::test_rectify[delete]: 'rectify' is not " \
           "declared" in output
    assert int(summary.split(" passed")[0].split()[-1]) >= 24 + 10

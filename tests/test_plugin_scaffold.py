"""``dsr plugins new connector``: the package it writes installs and passes its own tests.

The end-to-end test installs the generated plugin as an integrator would, with nothing
downloaded: a fresh venv (no pip of its own) sees this environment's packages through a
``.pth`` file that runs ``site.addsitedir`` on our site-packages (so our own ``.pth`` files,
dsr-agent's editable install among them, work there too); pip (ours, found on that path)
installs the plugin into the fresh venv with ``--no-index --no-build-isolation --no-deps``.
Then the plugin's own tests run with that venv's python, and ``dsr plugins list`` there
shows the plugin and its connector.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import sysconfig
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from agent.cli import main
from agent.scaffold import ConnectorNames, check_name, new_connector_plugin

EXPECTED_FILES = [".gitignore", "README.md", "pyproject.toml", "src/dsr_acme_crm/__init__.py",
                  "src/dsr_acme_crm/connector.py", "src/dsr_acme_crm/plugin.py",
                  "src/dsr_acme_crm/py.typed", "tests/test_conformance.py",
                  "tests/test_plugin.py"]


def dsr(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def clean_env() -> dict[str, str]:
    """Our environment without settings that would steer dsr, pip or pytest elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DSR_", "PIP_", "PYTEST_", "PYTHON"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=clean_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{args[1:4]} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def build_backend_problem() -> str | None:
    """Why pip could not build a setuptools project here without downloading, or None:
    ``--no-build-isolation`` builds with the setuptools (and, before 70.1, the wheel) of
    this environment."""
    try:
        found = version("setuptools")
    except PackageNotFoundError:
        return "setuptools is not installed"
    release = tuple(int(part) for part in re.findall(r"\d+", found)[:2])
    if release < (70, 1) and importlib.util.find_spec("wheel") is None:
        return f"setuptools {found} needs the wheel package to build wheels"
    return None


def make_venv(where: Path) -> Path:
    """A venv that imports what ours has, with nothing installed into it yet."""
    run(sys.executable, "-m", "venv", "--without-pip", where, cwd=where.parent)
    python = where / "bin" / "python"
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
               cwd=where).stdout.strip()
    ours = sysconfig.get_path("purelib")
    Path(site, "_dsr_parent_env.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n", encoding="utf-8")
    return python


# --------------------------------------------------------------------------- end to end

def test_new_connector_plugin_installs_and_passes_its_own_tests(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = dsr(capsys, "plugins", "new", "connector", "acme_crm",
                         "--dir", str(tmp_path), "--json")
    assert code == 0, err
    written = json.loads(out)
    root = tmp_path / "dsr-acme-crm"
    assert written == {"connector": "acme_crm", "folder": str(root), "files": EXPECTED_FILES}
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file()) == sorted(EXPECTED_FILES)
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points.dsr_agent]\nacme_crm = "dsr_acme_crm.plugin"' in pyproject
    assert 'build-backend = "setuptools.build_meta"' in pyproject
    assert '"dsr-agent>=' in pyproject
    connector = (root / "src/dsr_acme_crm/connector.py").read_text(encoding="utf-8")
    assert "class AcmeCrmConnector(Connector):" in connector
    assert "REPLACE THIS" in connector
    for method in ("check", "discover", "sample", "search", "search_notes", "read", "fetch",
                   "actions_for", "kept_until", "kept_references", "manual_tasks", "erase",
                   "suppress", "restrict", "rectify", "close"):
        assert f"    def {method}(self" in connector, method
    # the generated code keeps dsr-agent's lint rules (its pyproject configures them)
    run(sys.executable, "-m", "ruff", "check", "--no-cache", ".", cwd=root)

    problem = build_backend_problem()
    if problem:
        pytest.fail(f"cannot install the plugin without downloading: {problem}; the test "
                    "extra must bring a build backend (setuptools>=70.1, or wheel)")
    python = make_venv(tmp_path / "venv")
    run(python, "-m", "pip", "install", "--no-index", "--no-build-isolation", "--no-deps",
        "--quiet", root, cwd=tmp_path)

    tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=root).stdout
    assert "13 passed" in tests, tests  # 11 conformance checks and the loading test
    assert "failed" not in tests and "skipped" not in tests
    assert "not applicable" not in tests, "the skeleton declares every capability"

    listed = run(python, "-c", "import sys; from agent.cli import run; sys.argv[0] = 'dsr'; "
                 "run()", "plugins", "list", "--json", cwd=tmp_path).stdout
    plugin = next(p for p in json.loads(listed) if p["name"] == "acme_crm")
    assert plugin == {"name": "acme_crm", "version": "0.1.0", "builtin": False,
                      "hooks": ["register_connectors"],
                      "registered": {"connectors": ["acme_crm"]}}


# --------------------------------------------------------------------------- refusals

@pytest.mark.parametrize(("name", "problem"), [
    ("AcmeCrm", "use lower case"),
    ("acme-crm", "use _ instead of -"),
    ("9lives", "it must start with a letter"),
    ("_acme", "it must start with a letter"),
    ("acme__crm", "underscores must be single"),
    ("acme_", "underscores must be single"),
    ("acme.crm", "other than letters, digits and _: '.'"),
    ("café", "other than letters, digits and _: 'é'"),
    ("", "it is empty"),
    ("a" * 41, "longer than 40 characters"),
])
def test_a_bad_name_says_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       name: str, problem: str) -> None:
    code, out, err = dsr(capsys, "plugins", "new", "connector", name, "--dir", str(tmp_path))
    assert code == 1
    assert out == ""
    assert problem in err
    assert "lower-case letters, digits and single underscores" in err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_name_in_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = dsr(capsys, "plugins", "new", "connector", "Acme-CRM", "--dir",
                       str(tmp_path), "--json")
    assert code == 1
    error = json.loads(out)
    assert error["exit_code"] == 1
    assert "use lower case; use _ instead of -" in error["error"]


def test_a_name_another_plugin_registers_is_refused(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = dsr(capsys, "plugins", "new", "connector", "sql", "--dir", str(tmp_path))
    assert code == 1
    assert "connector name 'sql' is already registered by plugin 'connectors.sql'" in err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "dsr-acme-crm"
    root.mkdir()
    (root / "connector.py").write_text("# my work\n", encoding="utf-8")
    code, out, err = dsr(capsys, "plugins", "new", "connector", "acme_crm", "--dir",
                         str(tmp_path))
    assert code == 1
    assert out == ""
    assert "already exists and is not an empty folder; nothing was written" in err
    assert [p.name for p in root.iterdir()] == ["connector.py"]
    assert (root / "connector.py").read_text(encoding="utf-8") == "# my work\n"

    (tmp_path / "dsr-other").write_text("a file in the way\n", encoding="utf-8")
    code, _, err = dsr(capsys, "plugins", "new", "connector", "other", "--dir", str(tmp_path))
    assert code == 1
    assert "already exists and is not an empty folder" in err


def test_a_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    (tmp_path / "plain").write_text("not a folder\n", encoding="utf-8")
    code, _, err = dsr(capsys, "plugins", "new", "connector", "zed", "--dir",
                       str(tmp_path / "plain" / "below"))
    assert code == 1
    assert err.startswith("error: cannot write the plugin to ")
    assert "Traceback" not in err


def test_an_empty_folder_is_filled_and_the_default_is_the_current_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dsr-tickets").mkdir()
    monkeypatch.chdir(tmp_path)
    code, out, err = dsr(capsys, "plugins", "new", "connector", "tickets")
    assert code == 0, err
    assert "wrote connector plugin 'tickets' to dsr-tickets" in out
    assert "pip install -e dsr-tickets" in out
    assert (tmp_path / "dsr-tickets" / "src" / "dsr_tickets" / "connector.py").is_file()


def test_names_derived_from_the_connector_name(tmp_path: Path) -> None:
    names = ConnectorNames.of("help_desk2")
    assert (names.distribution, names.package, names.cls, names.title) == (
        "dsr-help-desk2", "dsr_help_desk2", "HelpDesk2Connector", "Help Desk2")
    check_name("x")  # one letter is a name
    written = new_connector_plugin("help_desk2", tmp_path)
    plugin = (written.root / "src/dsr_help_desk2/plugin.py").read_text(encoding="utf-8")
    assert "from dsr_help_desk2.connector import HelpDesk2Connector" in plugin
    assert "register(HelpDesk2Connector)" in plugin
    assert "$" not in "".join(p.read_text(encoding="utf-8") for p in written.root.rglob("*")
                              if p.is_file())  # every placeholder was filled

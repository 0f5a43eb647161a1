"""docs/cli.md is the ``--help`` of every command, and never drifts from the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from agent.cli import reference
from agent.cli.reference import DOC_PATH, REGENERATE, build_reference_cli, render

ROOT = Path(__file__).resolve().parents[1]


def test_docs_cli_md_matches_the_commands() -> None:
    current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
    assert current == render(), (
        f"docs/cli.md is out of date with the commands' --help. Regenerate it with:\n"
        f"    {REGENERATE}\n(from {ROOT}) and commit the result.")


def _paths(group: click.Group, prefix: str) -> list[str]:
    out = [prefix]
    ctx = click.Context(group, info_name=prefix)
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        assert sub is not None
        if isinstance(sub, click.Group):
            out += _paths(sub, f"{prefix} {name}")
        elif not sub.hidden:
            out.append(f"{prefix} {name}")
    return out


def test_every_group_and_command_has_a_section_with_its_options() -> None:
    text = render()
    cli = build_reference_cli()
    for path in _paths(cli, "dsr"):
        assert f"\n## {path}\n" in text, path
        assert f"Usage: {path} " in text, path
    search_section = text.split("\n## dsr search\n", 1)[1].split("\n## ", 1)[0]
    assert "--json" in search_section  # options are listed, not only the usage line


def test_the_reference_ignores_the_environment_and_installed_plugins(
        tmp_path: Path) -> None:
    # A terminal width, a disabled built-in and an installed plugin that adds a command:
    # none of them changes the text.
    site = tmp_path / "site"
    site.mkdir()
    (site / "dsr_ref_extra.py").write_text(
        "import click\nfrom agent.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef register_commands(cli):\n"
        "    cli.add_command(click.Command('extra-from-plugin', help='Not built in.'))\n",
        encoding="utf-8")
    info = site / "dsr_ref_extra-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dsr_ref_extra\n"
                                   "Version: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[dsr_agent]\nextra = dsr_ref_extra\n",
                                           encoding="utf-8")
    env = {"PYTHONPATH": f"{site}:{ROOT}", "COLUMNS": "40",
           "DSR_DISABLE_PLUGINS": "connectors.sql", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "agent.cli.reference"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == render()
    assert "extra-from-plugin" not in proc.stdout
    # ...while the real CLI does show the plugin's command
    shown = subprocess.run([sys.executable, "-c", "from agent.cli import run; run()",
                            "--help"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "extra-from-plugin" in shown.stdout


def test_check_mode_reports_drift_with_the_way_to_fix_it(
        tmp_path: Path, monkeypatch, capsys) -> None:
    stale = tmp_path / "cli.md"
    stale.write_text("# CLI reference\n\nold\n", encoding="utf-8")
    monkeypatch.setattr(reference, "DOC_PATH", stale)
    assert reference.main(["--check"]) == 1
    assert REGENERATE in capsys.readouterr().err
    assert reference.main(["--write"]) == 0
    assert reference.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == render()
    assert reference.main(["--bogus"]) == 2

"""The CLI reference (docs/cli.md), rendered from the click command tree's own ``--help``.

Regenerate after changing a command: ``.venv/bin/python -m agent.cli.reference --write``.
``tests/test_cli_reference.py`` fails when docs/cli.md and the commands disagree.

The tree is built with the built-in plugins only and entry points off, and help is
formatted at a fixed width, so the text depends on the code alone — not on what is
installed, the terminal, or the environment.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
WIDTH = 100  # the root group's max_content_width
REGENERATE = ".venv/bin/python -m agent.cli.reference --write"


def build_reference_cli() -> click.Group:
    """``dsr`` with built-in plugins only (no entry points)."""
    import importlib

    from agent.cli import build_cli
    from agent.plugins import DEFAULT_PLUGINS, PluginManager

    manager = PluginManager()
    # Built-ins added by hand, not by load(builtins=...): DSR_DISABLE_PLUGINS must not
    # change the reference.
    for name in DEFAULT_PLUGINS:
        manager.add_module(name, importlib.import_module(name))
    manager.load(builtins=(), use_entry_points=False)
    return build_cli(manager)


def _walk(command: click.Command, ctx: click.Context) -> Iterator[click.Context]:
    yield ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):  # sorted by click
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            yield from _walk(sub, click.Context(sub, info_name=name, parent=ctx,
                                                terminal_width=WIDTH, max_content_width=WIDTH))


def render(cli: click.Group | None = None) -> str:
    """docs/cli.md: a heading and the ``--help`` text of every group and command."""
    cli = cli or build_reference_cli()
    # make_context applies the group's context_settings (-h as well as --help) as dsr does;
    # a bare Context would not, and click caches a command's help option once built, so
    # the text would depend on whether something ran the real CLI first
    root = cli.make_context("dsr", [], resilient_parsing=True, terminal_width=WIDTH,
                            max_content_width=WIDTH)
    contexts = list(_walk(cli, root))
    lines = [
        "# CLI reference",
        "",
        "<!-- Generated from `dsr ... --help` by agent/cli/reference.py; do not edit by hand.",
        f"     Regenerate with: {REGENERATE} -->",
        "",
        "Every group and command of `dsr` with the built-in plugins; plugins may add more",
        "(`register_commands`, docs/plugins.md). Exit codes: 0 ok, 1 user error, 2 usage,",
        "3 partial (some system failed), 4 verification failed.",
        "",
    ]
    lines += [f"- [`{c.command_path}`](#{_anchor(c.command_path)})" for c in contexts]
    for ctx in contexts:
        help_text = ctx.command.get_help(ctx).rstrip()
        lines += ["", f"## {ctx.command_path}", "", "```text", help_text, "```"]
    return "\n".join(lines) + "\n"


def _anchor(title: str) -> str:
    # GitHub's heading anchors: lower case, spaces to hyphens, other punctuation dropped
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" if ch == " " else ""
                   for ch in title.lower())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args == ["--write"]:
        DOC_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {DOC_PATH}", file=sys.stderr)
    elif args == ["--check"]:
        current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
        if current != text:
            print(f"{DOC_PATH} is out of date; regenerate with: {REGENERATE}", file=sys.stderr)
            return 1
    elif not args:
        sys.stdout.write(text)
    else:
        print("usage: python -m agent.cli.reference [--write | --check]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``dsr`` command line: noun groups and verb commands, ``--json`` on every command.

Exit codes: 0 ok, 1 user error, 2 usage, 3 partial (some system failed),
4 verification failed.
"""

from __future__ import annotations

import os
import sys

import click

from agent import __version__
from agent import logging as dsr_logging
from agent.cli import demo_cmd, init_cmd, plugins_cmd, search_cmd, suppress_cmd, systems_cmd
from agent.cli.context import AppContext, emit_json
from agent.cli.discover_cmd import discover as discover_command
from agent.cli.export_cmd import export as export_command
from agent.cli.keys_cmd import keys as keys_group
from agent.cli.receipt_cmd import ledger as ledger_group
from agent.cli.receipt_cmd import receipt as receipt_group
from agent.cli.request import request as request_group
from agent.cli.serve_cmd import serve as serve_command
from agent.cli.tokens_cmd import tokens as tokens_group
from agent.errors import EXIT_USER_ERROR, DsrError
from agent.plugins import PluginManager, get_plugin_manager

# Built-in commands: each module exposes one click command or group.
COMMANDS = (search_cmd.search, request_group, plugins_cmd.plugins, systems_cmd.systems,
            init_cmd.init, demo_cmd.demo, keys_group, suppress_cmd.suppress,
            receipt_group, ledger_group, serve_command, tokens_group,
            export_command, discover_command)


def build_cli(pm: PluginManager) -> click.Group:
    @click.group(context_settings={"help_option_names": ["-h", "--help"],
                                  "max_content_width": 100})
    @click.option("--config", "config_path", envvar="DSR_CONFIG", metavar="PATH",
                  help="Configuration file (default ./agent.toml; env DSR_CONFIG).")
    @click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
                  default=None, help="Log level on stderr (default info, or [agent] log_level).")
    @click.version_option(__version__, prog_name="dsr")
    @click.pass_context
    def cli(ctx: click.Context, config_path: str | None, log_level: str | None) -> None:
        """dsr-agent: find one person's data in every system, export it, erase it, prove it.

        \b
        Exit codes: 0 ok, 1 user error, 2 usage, 3 partial (some system failed),
                    4 verification failed.
        """
        given = log_level or os.environ.get("DSR_LOG_LEVEL")
        dsr_logging.configure(given or "info")
        app = AppContext(config_path=config_path, plugin_manager=pm,
                         log_level_given=given is not None)
        ctx.obj = app
        ctx.call_on_close(app.close)

    for command in COMMANDS:
        cli.add_command(command)
    pm.add_commands(cli)  # a failing or clashing plugin command names its plugin
    return cli


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    wants_json = "--json" in args
    try:
        pm = get_plugin_manager()
        cli = build_cli(pm)
        result = cli.main(args=args, prog_name="dsr", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_USER_ERROR
    except DsrError as exc:
        if wants_json:
            emit_json({"error": str(exc), "exit_code": exc.exit_code})
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    return int(result or 0)


def run() -> None:
    sys.exit(main())

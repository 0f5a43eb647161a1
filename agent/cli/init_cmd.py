"""``dsr init``: write a commented starter configuration."""

from __future__ import annotations

from pathlib import Path

import click

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.errors import DsrError

STARTER = '''\
# dsr-agent configuration. Reference: docs/configuration.md
# Secrets are never written here: use ${ENV_VAR} references, resolved at start-up.

[agent]
# Where requests and the search audit trail are kept (SQLAlchemy URL).
# Default: a SQLite file beside this config. PostgreSQL works too:
# state = "postgresql+psycopg://dsr@127.0.0.1/dsr"
state = "sqlite:///dsr-state.sqlite"
# HMAC key for identifier digests; created on first use (mode 0600), never replaced.
hmac_key = "keys/hmac.key"
# Rounds of identity expansion after the first search (identifiers found on the
# person's own records are searched for everywhere, up to this depth).
max_depth = 3
# Systems searched in parallel.
workers = 8

# One [[systems]] table per system. Given only a URL, a system works for search
# and discovery: the SQL connector infers identity columns and follows foreign keys.

# [[systems]]
# name = "crm"
# url = "postgresql+psycopg://crm_reader:${CRM_DB_PASSWORD}@crm-db.internal:5432/crm"
# # SQL Server: "mssql+pymssql://user:${PW}@host:1433/crm"
# # MariaDB/MySQL: "mysql+pymysql://user:${PW}@host:3306/crm"
# # SQLite: "sqlite:///srv/crm/crm.sqlite"
# timeout = 60          # seconds before the system is reported as failed
#
# # Optional per-table overrides (everything else is inferred):
# [systems.tables.contacts]
# identity = { email = "email_address", phone = ["mobile", "landline"] }
# categories = ["Contact"]
# free_text = ["notes"]
#
# # Columns here that hold another system's record keys:
# [systems.references]
# contact_id = "crm.contacts.id"
'''


@click.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@json_option
@pass_app
def init(app: AppContext, path: Path | None, force: bool, as_json: bool) -> None:
    """Write a commented starter agent.toml (default: the --config path)."""
    target = path or app.path
    if target.exists() and not force:
        raise DsrError(f"{target} already exists (use --force to overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(STARTER, encoding="utf-8")
    if as_json:
        emit_json({"written": str(target)})
    else:
        click.echo(f"wrote {target}; add your systems, then run `dsr systems check`")

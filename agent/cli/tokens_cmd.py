"""``dsr tokens create|list|revoke``: bearer tokens for the HTTP API (`dsr serve`)."""

from __future__ import annotations

import click
from rich.table import Table

from agent.api.tokens import TokenStore
from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.cli.render import console


def _store(app: AppContext) -> TokenStore:
    return TokenStore(app.engine().store.engine)


@click.group()
def tokens() -> None:
    """API tokens: shown once, kept only as SHA-256 hashes."""


@tokens.command("create")
@click.option("--name", required=True, metavar="N", help="Who or what uses the token.")
@click.option("--scope", required=True, type=click.Choice(["read", "approve", "admin"]),
              help="read: look; approve: create, verify, plan, approve, run; admin: all.")
@json_option
@pass_app
def create(app: AppContext, name: str, scope: str, as_json: bool) -> None:
    """Make a token. Its secret is printed once: store it now."""
    token, secret = _store(app).create(name, scope)
    if as_json:
        emit_json({**token.public(), "token": secret})
        return
    console.print(f"Token {token.id} ({token.scope}) for {token.name}:")
    click.echo(secret)
    console.print("Shown once: dsr keeps only its hash.")


@tokens.command("list")
@json_option
@pass_app
def list_tokens(app: AppContext, as_json: bool) -> None:
    """Every token, live and revoked (never the secrets)."""
    rows = [t.public() for t in _store(app).list()]
    if as_json:
        emit_json(rows)
        return
    table = Table(title="API tokens")
    for column in ("id", "name", "scope", "created_at", "last_used_at", "revoked_at"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(row[c] or "") for c in ("id", "name", "scope", "created_at",
                                                    "last_used_at", "revoked_at")))
    console.print(table)


@tokens.command("revoke")
@click.argument("token_id", metavar="ID")
@json_option
@pass_app
def revoke(app: AppContext, token_id: str, as_json: bool) -> None:
    """Revoke a token: calls with it get 401 from then on."""
    token = _store(app).revoke(token_id)
    if as_json:
        emit_json(token.public())
    else:
        console.print(f"Token {token.id} revoked.")

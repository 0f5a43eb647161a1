"""``dsr keys init|public|rotate|rotate-hmac|list``: the receipt signing keys and the HMAC
digest key."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.keys import DigestKey, previous_folder, rotate_hmac
from agent.signing import SigningKeyError, SigningKeys

_PASSPHRASE_HELP = ("Encrypt the private key with the passphrase in this environment variable "
                    "(its name is recorded, so signing later reads the same variable).")


@click.group()
def keys() -> None:
    """Receipt signing keys (Ed25519) and the HMAC key for identifier digests."""


@keys.command("init")
@click.option("--passphrase-env", metavar="VAR", help=_PASSPHRASE_HELP)
@json_option
@pass_app
def init_keys(app: AppContext, passphrase_env: str | None, as_json: bool) -> None:
    """Create the signing key; adopt the HMAC key (created only if there is none)."""
    config = app.config()
    signing = SigningKeys.for_config(config, passphrase_env)
    # refuse before touching the HMAC key, so a rerun after fixing the cause starts clean
    if signing.exists():
        raise SigningKeyError("a signing key already exists here; to replace it use "
                              "`dsr keys rotate`", signing.folder)
    _check_passphrase_env(passphrase_env)
    hmac_created = not config.hmac_key_path.exists()
    digest_key = DigestKey.load_or_create(config.hmac_key_path)
    kid = signing.init()
    result = {"kid": kid, "signing_keys": str(signing.folder),
              "encrypted": passphrase_env is not None, "passphrase_env": passphrase_env,
              "hmac_key": str(config.hmac_key_path), "hmac_key_id": digest_key.key_id,
              "hmac_key_created": hmac_created}
    if as_json:
        emit_json(result)
        return
    locked = f", encrypted with ${passphrase_env}" if passphrase_env else ""
    click.echo(f"signing key {kid} created in {signing.folder}{locked}")
    verb = "created" if hmac_created else "adopted"
    click.echo(f"HMAC key {verb}: {config.hmac_key_path} (id {digest_key.key_id})")


@keys.command("public")
@click.option("--format", "fmt", type=click.Choice(["jwk", "pem"]), default="jwk",
              show_default=True, help="A JWK (RFC 8037) or a SubjectPublicKeyInfo PEM.")
@click.option("--all", "all_keys", is_flag=True,
              help="Every key, retired ones too (to verify older receipts); JWK: a JWK set.")
@json_option
@pass_app
def public_keys(app: AppContext, fmt: str, all_keys: bool, as_json: bool) -> None:
    """Print the public signing key, for whoever verifies our receipts."""
    signing = SigningKeys.for_config(app.config())
    kids = [info.kid for info in signing.entries()] if all_keys else [signing.active_kid()]
    if fmt == "jwk":
        jwks = [signing.jwk(kid) for kid in kids]
        data: Any = {"keys": jwks} if all_keys else jwks[0]
        if as_json:
            emit_json(data)
        else:
            click.echo(json.dumps(data, indent=2))
        return
    pems = [{"kid": kid, "pem": signing.pem(kid)} for kid in kids]
    if as_json:
        emit_json({"keys": pems} if all_keys else pems[0])
    else:
        click.echo("".join(item["pem"] for item in pems), nl=False)


@keys.command("rotate")
@click.option("--passphrase-env", metavar="VAR",
              help="Encrypt the new key with this variable's passphrase (default: the one "
                   "recorded by `dsr keys init`).")
@json_option
@pass_app
def rotate_keys(app: AppContext, passphrase_env: str | None, as_json: bool) -> None:
    """Start signing with a new key; the old one is retired (its public key is kept)."""
    signing = SigningKeys.for_config(app.config(), passphrase_env)
    old = signing.active_kid()
    kid = signing.rotate()
    if as_json:
        emit_json({"kid": kid, "retired": old})
    else:
        click.echo(f"signing key {kid} is now active; {old} retired (its public key stays "
                   "for verifying older receipts)")


@keys.command("rotate-hmac")
@json_option
@pass_app
def rotate_hmac_key(app: AppContext, as_json: bool) -> None:
    """Start digesting identifiers with a new HMAC key; the old one is kept for matching."""
    path = app.config().hmac_key_path
    old_id = DigestKey.load_or_create(path).key_id if path.exists() else None
    new_id = rotate_hmac(path)  # refuses when there is no key yet
    kept = str(previous_folder(path))
    click.echo(f"warning: the old HMAC key {old_id} is kept in {kept} for matching; never "
               "delete it: the suppression list and audit trail hold digests made with it "
               "(entries are re-digested with the new key when they next match)", err=True)
    if as_json:
        emit_json({"key_id": new_id, "previous": old_id, "previous_keys": kept})
    else:
        click.echo(f"HMAC key {new_id} is now current; {old_id} is kept for matching")


@keys.command("list")
@json_option
@pass_app
def list_keys(app: AppContext, as_json: bool) -> None:
    """Show the signing keys (active and retired) and the HMAC keys (current, previous)."""
    config = app.config()
    signing = SigningKeys.for_config(config)
    infos = [info.public() for info in signing.entries()] if signing.exists() else []
    hmac = _hmac_info(config.hmac_key_path)
    if as_json:
        emit_json({"signing_keys": str(signing.folder), "keys": infos, "hmac_key": hmac})
        return
    if not infos:
        click.echo(f"no signing key in {signing.folder}; create one with `dsr keys init`",
                   err=True)
    else:
        # one line per key, not a table: a kid is long and must stay whole to be copied
        click.echo(f"signing keys in {signing.folder}:")
        for row in infos:
            retired = f", retired {row['retired']}" if row["retired"] else ""
            locked = ", encrypted" if row["encrypted"] else ""
            click.echo(f"  {row['kid']}  {row['status']} (created {row['created']}"
                       f"{retired}{locked})")
    if not hmac["exists"]:
        click.echo(f"HMAC key: {hmac['path']} (not created yet)")
        return
    click.echo(f"HMAC keys ({hmac['path']}, older ones in {hmac['previous_keys']}):")
    for row in hmac["keys"]:
        click.echo(f"  {row['key_id']}  {row['status']}")


def _hmac_info(path: Path) -> dict[str, Any]:
    """The HMAC key's path and id, and every key id, current first (never key material).
    Before the key exists: only path, exists and key_id, as before rotation existed."""
    if not path.exists():
        return {"path": str(path), "exists": False, "key_id": None}
    key = DigestKey.load_or_create(path)
    return {"path": str(path), "exists": True, "key_id": key.key_id,
            "previous_keys": str(previous_folder(path)),
            "keys": [{"key_id": k.key_id, "status": "current" if k is key else "previous"}
                     for k in key.keys]}


def _check_passphrase_env(name: str | None) -> None:
    if name is not None and not os.environ.get(name):
        raise SigningKeyError(f"the passphrase variable {name} is not set (or is empty)")

"""``dsr export ID --out FILE``: the SAR or portability package of a request that has run.

Reads the export JSON the run wrote (``request.result["export"]``); runs nothing new.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.sar import PackageError, build_package, encrypt_age, encrypt_zip
from agent.signing import SigningKeys


@click.command("export")
@click.argument("request_id")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the zip (with --age-recipient, FILE.age).")
@click.option("--passphrase-env", metavar="VAR",
              help="Encrypt the zip with AES-256, the passphrase read from this variable.")
@click.option("--age-recipient", metavar="AGE1...",
              help="Encrypt the whole zip to this age recipient (writes FILE.age).")
@json_option
@pass_app
def export(app: AppContext, request_id: str, out: Path, passphrase_env: str | None,
           age_recipient: str | None, as_json: bool) -> None:
    """Build the package for REQUEST_ID (an access or portability request that has run)."""
    if passphrase_env and age_recipient:
        raise click.UsageError("give --passphrase-env or --age-recipient, not both")
    config = app.config()
    request = app.workflow().get(request_id)
    package = build_package(_export_doc(request), request, config.policy,
                            SigningKeys.for_config(config))
    encryption = "none"
    if passphrase_env:
        package, encryption = encrypt_zip(package, _passphrase(passphrase_env)), "aes-256"
    elif age_recipient:
        package, encryption = encrypt_age(package, age_recipient), "age"
        out = out.with_name(out.name + ".age")
    _write_private(out, package)
    summary = {"request": request.id, "out": str(out), "bytes": len(package),
               "encryption": encryption}
    if as_json:
        emit_json(summary)
    else:
        click.echo(f"package for {request.id} written to {out} ({encryption})", err=True)


def _export_doc(request: Any) -> dict[str, Any]:
    path = (request.result or {}).get("export")
    if not path:
        raise PackageError(f"request {request.id} has no export yet: approve and run it "
                           "first (dsr request run)")
    try:
        return dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise PackageError(f"request {request.id}'s export file is gone (removed after "
                           "its retention?): run the request again") from None
    except (OSError, ValueError) as exc:
        raise PackageError(f"request {request.id}'s export file cannot be read: "
                           f"{type(exc).__name__}") from None


def _passphrase(var: str) -> str:
    value = os.environ.get(var, "")
    if not value:
        raise PackageError(f"environment variable {var} is not set or empty")
    return value


def _write_private(path: Path, data: bytes) -> None:
    """The package holds the person's data: written 0600, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)

"""``dsr export ID --out FILE``: the SAR or portability package of a request that has run;
``dsr export purge``: remove kept exports older than ``[agent] export_retention_days``.

Reads the export JSON the run wrote (``request.result["export"]``); runs nothing new. Kept
exports past their retention are removed first.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.exporters import Exporter
from agent.sar import PackageError, build_package, encrypt_age, encrypt_zip
from agent.sar.package import read_export
from agent.sar.retention import purge_exports
from agent.signing import SigningKeys


class _ExportGroup(click.Group):
    """``dsr export ID ...`` builds a package; ``dsr export purge`` is the one subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["package", *args]
        return super().parse_args(ctx, args)


@click.group("export", cls=_ExportGroup)
def export() -> None:
    """Build the package for a request (dsr export ID --out FILE), or purge old exports.

    \b
    dsr export ID --out sar.zip [--passphrase-env VAR | --age-recipient AGE1...] [--json]
    dsr export purge [--json]
    """


@export.command("purge")
@json_option
@pass_app
def purge(app: AppContext, as_json: bool) -> None:
    """Remove kept exports older than [agent] export_retention_days (counts only)."""
    config = app.config()
    removed = purge_exports(config, app.workflow().requests)
    if as_json:
        emit_json({"purged": removed, "retention_days": config.export_retention_days})
    else:
        click.echo(f"{removed} export file(s) older than {config.export_retention_days} "
                   "days removed", err=True)


@export.command("package")
@click.argument("request_id")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the zip (with --age-recipient, FILE.age).")
@click.option("--passphrase-env", metavar="VAR",
              help="Encrypt the zip with AES-256, the passphrase read from this variable.")
@click.option("--age-recipient", metavar="AGE1...",
              help="Encrypt the whole zip to this age recipient (writes FILE.age).")
@click.option("--format", "formats", multiple=True, metavar="NAME",
              help="Also include the data in this format, written by a registered exporter "
                   "plugin (repeatable; dsr plugins list shows them).")
@json_option
@pass_app
def package_cmd(app: AppContext, request_id: str, out: Path, passphrase_env: str | None,
                age_recipient: str | None, formats: tuple[str, ...], as_json: bool) -> None:
    """Build the package for REQUEST_ID (an access or portability request that has run),
    honouring the disclosure-review decisions (dsr request decide)."""
    if passphrase_env and age_recipient:
        raise click.UsageError("give --passphrase-env or --age-recipient, not both")
    exporters = _exporters(app, formats)
    config = app.config()
    workflow = app.workflow()
    purge_exports(config, workflow.requests)
    request = workflow.get(request_id)
    decisions = workflow.review_decisions(request.id)
    export_doc = read_export(request)
    # documents disclosed with consent that the export only listed: fetched now
    workflow.fetch_disclosed(export_doc, {i for i, d in decisions.items()
                                          if d.decision == "disclose"})
    package = build_package(export_doc, request, config.policy,
                            SigningKeys.for_config(config), decisions, exporters)
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


def _exporters(app: AppContext, names: tuple[str, ...]) -> list[Exporter]:
    """Instances of the registered exporters named, checked before any work is done."""
    registry = app.plugin_manager.registry
    out: list[Exporter] = []
    for name in dict.fromkeys(names):
        registration = registry.get("exporters", name)
        if registration is None:
            known = ", ".join(sorted(r.name for r in registry.all("exporters"))) or "none"
            raise PackageError(f"no exporter {name!r} is registered (registered: {known})")
        out.append(registration.obj())
    return out


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

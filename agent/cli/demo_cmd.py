"""``dsr demo``: build the embedded demo CRM, map it with a discovery sweep, search it, then
take an erasure request from plan to verified result.

No server needed: the estate is a SQLite file shaped like the policy's business, with a
cast of named people and their look-alikes, plus a FreePBX-style call-recording store made
from the cast's call logs (``agent.demo.calls``); the example policy.toml decides what is
erased and what the law keeps. The demo checks its own result against what the estate's
manifest says must (and must not) be attributed and erased, and exits 4 if it does not.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from agent import logging as dsr_logging
from agent.cli.context import AppContext, emit_json, json_option, pass_app
from agent.cli.demo_erasure import print_erasure, run_erasure
from agent.cli.demo_sweep import print_sweep, run_sweep
from agent.cli.progress import search_progress
from agent.cli.render import console, print_result
from agent.config import load_config
from agent.demo.calls import SYSTEM as PBX_SYSTEM
from agent.demo.calls import build_pbx
from agent.demo.config import write_config
from agent.demo.estate import build_estate
from agent.demo.manifest import CastMember
from agent.engine import SearchEngine
from agent.errors import EXIT_OK, EXIT_VERIFICATION_FAILED, DsrError
from agent.models import SearchResult
from agent.subjects import subject_from_pairs
from agent.workflow import Workflow

# The person whose records must survive the demo's erasure untouched.
LOOKALIKES = {"sole_trader": "namesake", "namesake": "sole_trader"}


@click.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="Where to build the demo (default: a new temporary folder).")
@click.option("--person", default="sole_trader", show_default=True,
              help="Which cast member to search for (see the manifest).")
@click.option("--search-only", is_flag=True, help="Stop after the search (no erasure).")
@json_option
@pass_app
@click.pass_context
def demo(ctx: click.Context, app: AppContext, directory: Path | None, person: str,
         search_only: bool, as_json: bool) -> int:
    """Build a demo CRM, search it for one person (showing why each record is theirs), then
    erase them by an approved plan: verified, with what the law keeps retained and why."""
    root = ctx.find_root()
    if root.params.get("log_level") is None and "DSR_LOG_LEVEL" not in os.environ:
        dsr_logging.configure("warning")  # the demo's own output tells the story
    folder = directory or Path(tempfile.mkdtemp(prefix="dsr-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = (folder / "crm.sqlite").resolve()
    manifest = build_estate(f"sqlite:///{db}")
    try:
        member = manifest.member(person)
    except KeyError as exc:
        raise DsrError(str(exc.args[0])) from exc
    pbx = build_pbx(folder / "phones", f"sqlite:///{db}")
    config_path = write_config(folder, f"sqlite:///{db.as_posix()}", extra=PBX_SYSTEM)
    config = load_config(config_path)

    subject = subject_from_pairs(member.key, list(member.search))
    erasure: dict[str, Any] | None = None
    with search_progress() as progress:
        engine = SearchEngine(config, app.plugin_manager, progress=progress)
        try:
            sweep = run_sweep(engine, manifest)
            [result] = engine.search([subject], operator="demo", reason="dsr demo")
            if not search_only:
                key = LOOKALIKES.get(member.key)
                lookalike = manifest.member(key) if key else None
                workflow = Workflow(config, app.plugin_manager, engine)
                erasure = run_erasure(workflow, member, lookalike)
                erasure["checks"] += pbx.erasure_checks(member, lookalike)
        finally:
            engine.close()
    checks = sweep["checks"] + check_expectations(member, result)
    if erasure is not None:
        checks += erasure["checks"]
    ok = all(c["ok"] for c in checks)
    if as_json:
        emit_json({"folder": str(folder), "config": str(config_path),
                   "estate": {"rows": manifest.rows, "counts": manifest.counts},
                   "discovery": sweep["summary"],
                   "person": member.public(), "result": result.public(),
                   "erasure": erasure, "checks": checks, "ok": ok})
    else:
        console.print(f"[bold]Demo CRM[/bold] {db} — {manifest.rows} rows in "
                      f"{len(manifest.counts)} tables; a PBX with "
                      f"{sum(len(c) for c in pbx.calls.values())} recorded calls")
        print_sweep(sweep)
        console.print(f"Searching for [bold]{member.name}[/bold], {member.role}, "
                      f"given only: {', '.join(kind for kind, _ in member.search)}\n")
        print_result(result)
        if erasure is not None:
            print_erasure(erasure)
        console.print()
        for check in checks:
            mark = "[green]✔[/green]" if check["ok"] else "[red]✘[/red]"
            console.print(f"{mark} {check['what']}" + ("" if check["ok"]
                                                      else f" — {check['detail']}"))
        console.print(f"\nExplore it: dsr --config {config_path} request show "
                      f"{erasure['request']['id'] if erasure else 'ID'}")
    return EXIT_OK if ok else EXIT_VERIFICATION_FAILED


def check_expectations(member: CastMember, result: SearchResult) -> list[dict[str, Any]]:
    """Compare the search with the manifest: what must and must not be attributed."""
    strong = {f.locator for f in result.findings if f.strength == "strong"}
    weak = {f.locator for f in result.findings if f.strength == "weak"}

    def check(what: str, missing: set[str]) -> dict[str, Any]:
        return {"what": what, "ok": not missing,
                "detail": ", ".join(sorted(missing)) if missing else ""}

    checks = [
        check(f"all {len(member.attributed)} of {member.name}'s own records found, strong",
              set(member.attributed) - strong),
        check(f"{len(member.not_attributed)} look-alike and company records not attributed",
              set(member.not_attributed) & strong),
    ]
    if member.via_expansion:
        checks.append(check(f"{len(member.via_expansion)} record(s) found only through "
                            "identifiers learnt on her own records",
                            set(member.via_expansion) - strong))
    if member.weak:
        checks.append(check(f"{len(member.weak)} record(s) behind shared identifiers kept weak",
                            set(member.weak) & strong))
    if weak:
        checks.append({"what": f"{len(weak)} weak finding(s) shown for review, not attributed",
                       "ok": True, "detail": ""})
    return checks
